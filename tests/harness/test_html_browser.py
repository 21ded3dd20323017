"""Open a run's index.html in headless Chromium: the summary comes first, every bar with an interval
has its error bar, a failed case's reason is visible, a case's drill-down opens onto example probes,
and the table sorts."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ksmith.report.records import CaseResult, MetricValue
from ksmith.report.run import write_run
from ksmith.report.samples import samples_path, write_samples
from tests.harness.factory import sample_line, sample_run

CASE = "tiny-kg-rome-edit-leaf-k10-s0"

CHECK = """
<script>
window.addEventListener('load', function () {
  function visible(el) { return !!el && el.checkVisibility() && el.offsetHeight > 0; }
  var first = document.body.querySelector('section');
  var summaryRows = Array.from(document.querySelectorAll('#summary table.summary tr')).map(function (r) {
    return Array.from(r.cells).map(function (c) { return c.textContent.trim(); });
  });
  var reasons = Array.from(document.querySelectorAll('#failed td.reason'));
  var details = document.getElementById('case-""" + CASE + """');
  var closedBefore = [details.open, visible(details.querySelector("table.examples"))];
  details.querySelector('summary').click();
  var examples = Array.from(details.querySelectorAll('table.examples tr.probe')).filter(visible);
  var table = document.querySelector('table.sortable');
  var header = table.querySelectorAll('th')[3];
  header.click(); header.click();  // descending by method
  var methods = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[3].textContent; });
  var out = document.createElement('pre');
  out.id = 'ksmith-check';
  out.textContent = JSON.stringify({
    first: first && first.id,
    summary: summaryRows,
    svgs: document.querySelectorAll('figure svg').length,
    barsWithCi: document.querySelectorAll('[id^="ksbar-ci-"]').length,
    barsWithoutCi: document.querySelectorAll('[id^="ksbar-noci-"]').length,
    errorBars: document.querySelectorAll('[id^="kserr-"]').length,
    visibleErrorBars: Array.from(document.querySelectorAll('[id^="kserr-"]')).filter(function (g) {
      var box = g.getBBox(); return box.height > 0; }).length,
    reasons: reasons.filter(visible).map(function (td) { return td.textContent; }),
    closedBefore: closedBefore,
    opened: details.open,
    examples: examples.map(function (r) { return r.textContent; }),
    methods: methods
  });
  document.body.appendChild(out);
});
</script>
"""


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)


def _run(tmp_path: Path) -> Path:
    results = sample_run()
    # a method whose metric has no interval: its bar must be drawn without an error bar
    key = dict(results[0].key, method="ike")
    results.append(CaseResult(key, "passed", {"direct_acc": MetricValue(0.5, "mcq", 40, None, None, True)}))
    run = tmp_path / "run"
    write_samples(samples_path(run, CASE), [
        sample_line("edit-leaf-s0-00000/direct/0", before=1, after=2),                      # right way
        sample_line("edit-leaf-s0-00001/reverse/0", "reverse", before=0, after=2, answer_before=0, answer_after=2),
        sample_line("edit-leaf-s0-00000/contextual/0", "contextual", before=3, after=0, answer_before=3,
                    answer_after=3, family="Q-"),                                            # wrong way
        sample_line("edit-leaf-s0-00002/direct/0", before=1, after=1),                      # did not move
    ])
    return write_run(run, results)


@pytest.mark.browser
def test_index_html_summary_error_bars_failures_and_drill_down(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium not found (install it, e.g. `apt-get install -y chromium`)")
    run = _run(tmp_path)
    page = (run / "index.html").read_text()
    assert "<img" not in page and "src=\"http" not in page  # one self-contained file, figures inline
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    match = re.search(r'<pre id="ksmith-check">(.*?)</pre>', dom, re.S)
    assert match, f"the check script did not run; Chromium printed: {dom[:500]!r}"
    check = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))

    # the page opens with the summary: rome ahead of ft-m on direct_acc by 0.1 in each of 4 cells, but
    # the same difference everywhere leaves the cells' intervals (0.9 +- 0.05, 0.8 +- 0.05) to decide
    assert check["first"] == "summary"
    direct = next(row for row in check["summary"] if row and row[0].startswith("direct_acc"))
    assert direct[1] == "rome" and direct[3] == "ft-m" and direct[5].startswith("within noise: ahead by 0.100")
    # per task two figures (probe types and curves), every bar with an interval has its error bar
    assert check["svgs"] == 4
    assert check["barsWithCi"] > 0 and check["errorBars"] == check["barsWithCi"]
    assert check["visibleErrorBars"] == check["barsWithCi"]
    assert check["barsWithoutCi"] == 1  # ike's direct_acc
    # the failed case's reason is on the page
    assert check["reasons"] == ["RuntimeError: boom"]
    # the drill-down starts closed and opens onto the probes that flipped
    assert check["closedBefore"] == [False, False] and check["opened"], check
    assert len(check["examples"]) == 3
    assert any("Graro" in text and "direct" in text for text in check["examples"])
    assert any("contextual" in text for text in check["examples"])
    assert check["methods"] == sorted(check["methods"], reverse=True) and "crashy" in check["methods"]
