"""The command line for training and the review, through the installed `lisbot` (issues #4 and #6)."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from datetime import date
from pathlib import Path

from pypdf import PdfReader

LISBOT = str(Path(sys.executable).parent / "lisbot")


async def lisbot(cwd: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LISBOT_", "DATABASE_URL"))}
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(LISBOT, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_training_and_review_from_the_command_line(tmp_path, database_url):
    code, _, err = await lisbot(tmp_path, database_url, "demo", "--database", database_url)
    assert code == 0, err
    year = date.today().year
    code, out, err = await lisbot(tmp_path, database_url, "training", "start", "--course", "Dataskydd grund",
                                  "--deadline", f"{year + 1}-01-31", "--team", "T0DEMO")
    assert code == 0, err
    assert f"Årets utbildning ({year}) är startad: 1 personer" in out
    completions = tmp_path / "klara.csv"
    completions.write_bytes("E-post;Slutförd\r\nanna@example.se;{}\r\n".format(date.today().isoformat()).encode("cp1252"))
    code, out, err = await lisbot(tmp_path, database_url, "training", "import", str(completions), "--team", "T0DEMO")
    assert code == 0, err + out
    code, out, _ = await lisbot(tmp_path, database_url, "training", "status", "--team", "T0DEMO")
    assert "Hela organisationen: 1 av 1 klara (100 %)" in out
    assert "*" not in out  # no Slack markup in the terminal
    code, out, err = await lisbot(tmp_path, database_url, "review", "--year", str(year), "--out", "genomgang",
                                  "--team", "T0DEMO")
    assert code == 0, err
    folder = tmp_path / "genomgang"
    pdf = PdfReader(io.BytesIO((folder / f"ledningens-genomgang-{year}.pdf").read_bytes()))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert f"Ledningens genomgång {year}" in text and "Incidenter" in text
    markdown = (folder / f"ledningens-genomgang-{year}.md").read_text("utf-8")
    assert "100 %" in markdown  # the training completion just imported
    assert (folder / f"ledningens-genomgang-{year}.docx").stat().st_size > 10_000
    code, _, err = await lisbot(tmp_path, database_url, "training", "start", "--course", "X", "--deadline",
                                "2000-01-01", "--team", "T0DEMO")
    assert code == 2 and "passerat" in err
