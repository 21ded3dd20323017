"""Open a run's index.html in headless Chromium and check the plots load and the table sorts."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ksmith.report.run import write_run
from tests.harness.factory import sample_run

CHECK = """
<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var table = document.querySelector('table.sortable');
  var header = table.querySelectorAll('th')[3];
  header.click(); header.click();  // descending by method
  var methods = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[3].textContent; });
  var out = document.createElement('pre');
  out.id = 'ksmith-check';
  out.textContent = JSON.stringify({
    images: images.length,
    decoded: images.filter(function (i) { return i.complete && i.naturalWidth > 100; }).length,
    tables: document.querySelectorAll('table.sortable').length,
    methods: methods
  });
  document.body.appendChild(out);
});
</script>
"""


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)


@pytest.mark.browser
def test_index_html_renders_plots_and_a_sortable_table(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium not found (install it, e.g. `apt-get install -y chromium`)")
    run = write_run(tmp_path / "run", sample_run())
    page = (run / "index.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    match = re.search(r'<pre id="ksmith-check">(.*?)</pre>', dom)
    assert match, f"the check script did not run; Chromium printed: {dom[:500]!r}"
    check = json.loads(match.group(1).replace("&quot;", '"'))
    # per task: one probe-type figure and one curve figure (two scales in the sample run)
    assert check["images"] == 4 and check["decoded"] == 4
    assert check["tables"] == 2
    assert check["methods"] == sorted(check["methods"], reverse=True) and "crashy" in check["methods"]
