"""`lisbot review --out DIR` through the installed command: the Markdown document is readable on its own, its
images being the chart files written beside it (issue 6)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from tests.test_cli_work import lisbot


async def test_the_markdown_links_the_chart_files_written_beside_it(tmp_path: Path, database_url):
    code, _, err = await lisbot(tmp_path, database_url, "demo", "--database", database_url)
    assert code == 0, err
    code, _, err = await lisbot(tmp_path, database_url, "review", "--year", "2026", "--out", "genomgang",
                                "--team", "T0DEMO")
    assert code == 0, err
    folder = tmp_path / "genomgang"
    markdown = (folder / "ledningens-genomgang-2026.md").read_text("utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert images and "chart:" not in markdown
    for target in images:
        assert "/" not in target and (folder / unquote(target)).is_file(), target
    assert "ledningens-genomgang-2026-incidents_per_month.png" in images
