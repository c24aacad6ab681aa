"""The installed `lisbot` console script, run as a person runs it: a subprocess in an empty directory with
none of our settings in its environment."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from storage.db import Database, alembic_config
from storage.models import Base

LISBOT = Path(sys.executable).parent / "lisbot"
# A generous bound: a start-up that hangs (a bad setting accepted and the server started) must not hang
# the suite, but a slow CI machine must not fail a correct run either.
TIMEOUT = 60
OURS = ("SLACK_", "LISBOT_")
OURS_EXACT = ("DATABASE_URL", "PORT")
VALID_SLACK = {"SLACK_BOT_TOKEN": "xoxb-123-456-abc", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
               "LISBOT_SECURITY_CHANNEL": "C0123ABCD"}


def clean_env(**settings: str) -> dict[str, str]:
    # pydantic-settings matches names case-insensitively, so drop ours in any case.
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(OURS) and k.upper() not in OURS_EXACT}
    env.update(settings)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lisbot(cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    assert LISBOT.exists(), f"the console script is not installed at {LISBOT}"
    return subprocess.run([str(LISBOT), *args], cwd=cwd, env=clean_env(**settings), capture_output=True, text=True,
                          timeout=TIMEOUT)


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_naming(result: subprocess.CompletedProcess, setting: str) -> str:
    assert result.returncode != 0, f"exit 0; stdout={result.stdout!r} stderr={result.stderr!r}"
    lines = stderr_lines(result)
    assert len(lines) == 1, f"expected one stderr line naming {setting}, got: {result.stderr!r}"
    assert setting in lines[0], f"the line does not name {setting}: {lines[0]!r}"
    assert "Traceback" not in result.stderr
    return lines[0]


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not row[0].startswith("sqlite_")}


def sqlite_scalar(path: Path, sql: str):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


APP_TABLES = set(Base.metadata.tables)


# ---- settings ---------------------------------------------------------------------------------------


def test_run_without_a_bot_token_names_it(tmp_path):
    result = lisbot(tmp_path, "run")
    assert_one_line_naming(result, "SLACK_BOT_TOKEN")
    assert result.stdout == ""
    assert not list(tmp_path.iterdir()), "nothing may be created when the settings are incomplete"


def test_run_in_http_mode_without_a_signing_secret_names_it(tmp_path):
    result = lisbot(tmp_path, "run", SLACK_BOT_TOKEN="xoxb-123-456-abc")
    assert_one_line_naming(result, "SLACK_SIGNING_SECRET")


MALFORMED = [
    ("SLACK_BOT_TOKEN", "abc", None),
    ("PORT", "notaport", None),
    ("PORT", "70000", None),
    ("LISBOT_TIMEZONE", "Mars/Base", None),
    ("LISBOT_LANGUAGE", "fi", None),
    ("SLACK_API_URL", "ftp://x", None),
    ("SLACK_APP_TOKEN", "xoxb-not-an-app-token", None),
    ("DATABASE_URL", "mysql://x", None),
    ("DATABASE_URL", "not a url", None),
    ("LISBOT_LOG_LEVEL", "verbose", None),
]


@pytest.mark.parametrize("setting,value", [
    pytest.param(setting, value, id=f"{setting}={value}",
                 marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [])
    for setting, value, bug in MALFORMED
])
def test_a_malformed_setting_stops_run_with_one_line_naming_it(tmp_path, setting, value):
    # Everything else is valid, so the only thing that can stop `run` is the malformed value.
    settings = {**VALID_SLACK, "PORT": str(free_port()), "LISBOT_HOST": "127.0.0.1",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'lisbot.db'}", setting: value}
    result = lisbot(tmp_path, "run", **settings)
    line = assert_one_line_naming(result, setting)
    assert value in line or "fel form" in line  # Swedish by default, from templates/i18n/sv/cli.yaml


def test_settings_are_read_from_a_dotenv_file_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("# as copied from .env.example\nSLACK_BOT_TOKEN=xoxb-123-456-abc\n"
                                   "SLACK_SIGNING_SECRET=s3cret\nPORT=notaport\n", "utf-8")
    assert_one_line_naming(lisbot(tmp_path, "run"), "PORT")
    # Without the file the same command fails on the first missing setting instead: the file was read.
    (tmp_path / ".env").unlink()
    assert_one_line_naming(lisbot(tmp_path, "run"), "SLACK_BOT_TOKEN")


def test_the_environment_overrides_the_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n", "utf-8")
    target = tmp_path / "from-env.db"
    result = lisbot(tmp_path, "db", "upgrade", DATABASE_URL=f"sqlite:///{target}")
    assert result.returncode == 0, result.stderr
    assert target.exists()
    assert not (tmp_path / "from-dotenv.db").exists()


# ---- db upgrade -----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_on_a_fresh_sqlite_path(tmp_path):
    target = tmp_path / "nested" / "dir" / "lisbot.db"  # the folders do not exist yet
    url = f"sqlite:///{target}"
    result = lisbot(tmp_path, "db", "upgrade", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert sqlite_tables(target) == APP_TABLES | {"alembic_version"}
    assert sqlite_scalar(target, "SELECT version_num FROM alembic_version") == head_revision(url)
    # A second run is a no-op, not an error.
    again = lisbot(tmp_path, "db", "upgrade", DATABASE_URL=url)
    assert again.returncode == 0, again.stderr
    assert sqlite_tables(target) == APP_TABLES | {"alembic_version"}


async def test_db_upgrade_on_the_test_database(database_url, tmp_path):
    """The same on the suite's database: PostgreSQL too when LISBOT_TEST_DATABASE_URL is set."""
    result = lisbot(tmp_path, "db", "upgrade", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "Databasen är uppdaterad" in result.stdout
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await db.close()
    assert tables == APP_TABLES | {"alembic_version"}
    assert version == head_revision(database_url)


def test_db_upgrade_reads_database_url_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///via-dotenv.db\n", "utf-8")
    result = lisbot(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert APP_TABLES <= sqlite_tables(tmp_path / "via-dotenv.db")


# ---- demo -------------------------------------------------------------------------------------------


def test_demo_shows_the_product_in_swedish_and_is_repeatable(tmp_path):
    target = tmp_path / "d.db"
    first = lisbot(tmp_path, "demo", "--database", f"sqlite:///{target}")
    assert first.returncode == 0, first.stderr
    assert "INC-" in first.stdout
    assert "Anslut till Slack" in first.stdout
    assert "Rapportera incident" in first.stdout
    assert "Connect to Slack:" not in first.stdout  # the English text is not what a Swedish default shows
    incidents = sqlite_scalar(target, "SELECT count(*) FROM incidents")
    outbox = sqlite_scalar(target, "SELECT count(*) FROM outbox")
    assert incidents == 3 and outbox > 0

    second = lisbot(tmp_path, "demo", "--database", f"sqlite:///{target}")
    assert second.returncode == 0, second.stderr
    assert sqlite_scalar(target, "SELECT count(*) FROM incidents") == incidents
    assert sqlite_scalar(target, "SELECT count(*) FROM outbox") == outbox
    assert sqlite_scalar(target, "SELECT count(DISTINCT reference) FROM incidents") == incidents


def test_demo_speaks_english_when_the_organisation_does(tmp_path):
    result = lisbot(tmp_path, "demo", "--database", f"sqlite:///{tmp_path / 'en.db'}", LISBOT_LANGUAGE="en")
    assert result.returncode == 0, result.stderr
    assert "Connect to Slack" in result.stdout and "INC-" in result.stdout
    assert "Anslut till Slack" not in result.stdout


def test_demo_by_default_writes_lisbot_demo_db_in_the_working_directory(tmp_path):
    result = lisbot(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert sqlite_scalar(tmp_path / "lisbot-demo.db", "SELECT count(*) FROM incidents") == 3


def test_unknown_command_is_a_usage_error(tmp_path):
    result = lisbot(tmp_path, "frobnicate")
    assert result.returncode == 2
    assert "usage: lisbot" in result.stderr
