"""The README and docs/: short README, every linked page there, generated tables equal to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ksmith.docs import TABLES, refresh, stale_pages
from ksmith.errors import KsmithError

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_every_relative_link_resolves(page: str) -> None:
    path = ROOT / page
    targets = [t for t in LINK.findall(path.read_text()) if not t.startswith(("http://", "https://", "mailto:"))]
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert missing == [], f"{page} links to missing files: {missing}"


def test_the_generated_tables_match_the_code() -> None:
    assert stale_pages(ROOT / "docs") == [], "run `ksmith docs --write`"


def test_a_stale_or_missing_table_is_found(tmp_path: Path) -> None:
    for page in {page for _, page in TABLES.values()}:
        (tmp_path / page).write_text((ROOT / "docs" / page).read_text())
    assert stale_pages(tmp_path) == []
    metrics = tmp_path / "metrics.md"
    metrics.write_text(metrics.read_text().replace("| `ccr` |", "| `ccr_old` |"))
    assert stale_pages(tmp_path) == ["metrics.md"]
    models = tmp_path / "models.md"
    models.write_text(models.read_text().replace("<!-- generated: models -->", "<!-- a table once stood here -->"))
    assert "models.md (no block for models)" in stale_pages(tmp_path)
    with pytest.raises(KsmithError, match="unknown generated table 'vibes'"):
        refresh("<!-- generated: vibes -->\n<!-- end generated -->")
