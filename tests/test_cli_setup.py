"""What a new user meets first, through the installed `lisbot` in its own process: `run` refusing a setup that
cannot work (one line naming the setting, in the organisation's language), Slack or the database being
unreachable, and the demo's next steps actually working."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from bot.config import Settings
from tests.fakeslack import FakeSlack
from tests.slackdriver import TEAM
from tests.test_cli import VALID_SLACK, assert_one_line_naming, clean_env, free_port, lisbot

LISBOT = Path(sys.executable).parent / "lisbot"
ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


# ---- LISBOT_SECURITY_CHANNEL and LISBOT_LEADERSHIP_CHANNEL ------------------------------------------------------


def test_run_with_slack_and_no_security_channel_names_it(tmp_path):
    settings = {k: v for k, v in VALID_SLACK.items() if k != "LISBOT_SECURITY_CHANNEL"}
    line = assert_one_line_naming(lisbot(tmp_path, "run", **settings), "LISBOT_SECURITY_CHANNEL")
    assert "inte satt" in line


@pytest.mark.parametrize("setting", ["LISBOT_SECURITY_CHANNEL", "LISBOT_LEADERSHIP_CHANNEL"])
def test_a_channel_name_instead_of_its_id_says_where_to_find_the_id(tmp_path, setting):
    result = lisbot(tmp_path, "run", **{**VALID_SLACK, setting: "#informationssakerhet"})
    line = assert_one_line_naming(result, setting)
    assert "kanalens id" in line and "längst ner" in line
    english = lisbot(tmp_path, "run", **{**VALID_SLACK, setting: "#informationssakerhet", "LISBOT_LANGUAGE": "en"})
    assert "Channel ID at the bottom" in assert_one_line_naming(english, setting)


@pytest.mark.parametrize("value", ["C0123ABCD", "G0123ABCD", "19:abc123def@thread.tacv2", "19:meeting_x@thread.skype"])
def test_channel_ids_of_slack_and_teams_are_accepted(value):
    assert Settings(_env_file=None, LISBOT_SECURITY_CHANNEL=f" {value} ").security_channel == value


@pytest.mark.parametrize("value", ["c0123abcd", "https://x.slack.com/archives/C0123ABCD", "19:abc", "U0123ABCD"])
def test_anything_else_is_not_a_channel_id(tmp_path, value):
    line = assert_one_line_naming(lisbot(tmp_path, "run", **{**VALID_SLACK, "LISBOT_SECURITY_CHANNEL": value}),
                                  "LISBOT_SECURITY_CHANNEL")
    assert "kanal-id" in line


def test_other_commands_do_not_need_the_security_channel(tmp_path):
    result = lisbot(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    status = lisbot(tmp_path, "classification", "status", DATABASE_URL="sqlite:///lisbot-demo.db")
    assert status.returncode == 0, status.stderr


# ---- the language of the command line -----------------------------------------------------------------------


def test_config_errors_speak_the_organisations_language(tmp_path):
    swedish = assert_one_line_naming(lisbot(tmp_path, "run"), "SLACK_BOT_TOKEN")
    assert "inte satt" in swedish
    english = assert_one_line_naming(lisbot(tmp_path, "run", LISBOT_LANGUAGE="en"), "SLACK_BOT_TOKEN")
    assert "is not set" in english
    # from .env too, and for a malformed value the setting's own language is read before the settings are valid
    (tmp_path / ".env").write_text("LISBOT_LANGUAGE=en\nPORT=notaport\n", "utf-8")
    assert "whole number" in assert_one_line_naming(lisbot(tmp_path, "run"), "PORT")


@pytest.mark.parametrize("target,reason", [("nope.yaml", "filen eller mappen finns inte"),
                                            ("folder", "det är en mapp, inte en fil")])
def test_an_unreadable_file_is_explained_in_swedish(tmp_path, target, reason):
    (tmp_path / "folder").mkdir()
    result = lisbot(tmp_path, "facts", "import", target, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"lisbot: Filen {target} går inte att läsa: {reason}"


def test_help_says_run_serves_slack_and_teams(tmp_path):
    for args in (["--help"], ["run", "--help"]):
        result = lisbot(tmp_path, *args)
        assert result.returncode == 0
        assert "Slack and/or Microsoft Teams" in " ".join(result.stdout.split()), result.stdout


# ---- an unreachable database -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["db", "upgrade"], ["run"]])
def test_an_unreachable_postgresql_is_one_line_naming_database_url(tmp_path, command):
    port = closed_port()
    url = f"postgresql://lisbot:s3cr3tpw@127.0.0.1:{port}/lisbot"
    result = lisbot(tmp_path, *command, **{**VALID_SLACK, "DATABASE_URL": url, "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/",
                                           "PORT": str(free_port()), "LISBOT_HOST": "127.0.0.1"})
    line = assert_one_line_naming(result, "DATABASE_URL") if command != ["run"] else _last_line_naming(result)
    assert f"127.0.0.1:{port}" in line and "anslutningen nekades" in line
    assert "s3cr3tpw" not in result.stderr + result.stdout


def _last_line_naming(result) -> str:
    """`run` may log its one warning that Slack is unreachable first; then the database stops it in one line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and all("Slack" in line for line in lines[:-1]), lines
    assert lines[-1].startswith("lisbot: DATABASE_URL")
    return lines[-1]


# ---- Slack at start ------------------------------------------------------------------------------------------


async def _run(tmp_path: Path, **settings: str) -> asyncio.subprocess.Process:
    env = clean_env(**{**VALID_SLACK, "DATABASE_URL": f"sqlite:///{tmp_path / 'lisbot.db'}", "LISBOT_HOST": "127.0.0.1",
                       **settings})
    return await asyncio.create_subprocess_exec(str(LISBOT), "run", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_a_token_slack_rejects_stops_run_with_one_line(tmp_path):
    fake = FakeSlack(team_id=TEAM, bot_token="xoxb-the-right-one")
    await fake.start()
    try:
        process = await _run(tmp_path, SLACK_API_URL=fake.base_url, SLACK_BOT_TOKEN="xoxb-123-456-wrong",
                             PORT=str(free_port()))
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.stop()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 2 and lines == [
        "lisbot: Slack svarade invalid_auth – kontrollera SLACK_BOT_TOKEN och SLACK_API_URL."], err.decode()
    assert [c.method for c in fake.calls] == ["auth.test"]
    assert not (tmp_path / "lisbot.db").exists(), "nothing is set up for a token that cannot work"


async def test_slack_unreachable_at_start_is_one_warning_and_run_keeps_serving(tmp_path):
    port = free_port()
    process = await _run(tmp_path, SLACK_API_URL=f"http://127.0.0.1:{closed_port()}/api/", PORT=str(port))
    lines: list[str] = []
    synced = asyncio.Event()

    async def read() -> None:
        async for raw in process.stderr:
            lines.append(raw.decode())
            if "Katalogen kunde inte synkas" in lines[-1]:
                synced.set()

    reader = asyncio.create_task(read())
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("lisbot run did not serve /healthz:\n" + "".join(lines))
        # the directory sync at start gives up after its retries; the process keeps serving
        await asyncio.wait_for(synced.wait(), 30)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        await reader
    log = "".join(lines)
    assert process.returncode == 0, log
    assert "Traceback" not in log, log
    warnings = [line for line in lines if " WARNING " in line]
    assert sum("Slack går inte att nå just nu" in line for line in warnings) == 1, log
    assert sum("Katalogen kunde inte synkas med Slack" in line for line in warnings) == 1, log


# ---- after the demo ----------------------------------------------------------------------------------------


def test_the_commands_the_demo_prints_work_as_printed(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "facts-2023.yaml").write_bytes((ROOT / "examples" / "facts-2023.yaml").read_bytes())
    demo = lisbot(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    commands = [line.strip() for line in demo.stdout.splitlines() if line.strip().startswith("DATABASE_URL=")]
    assert len(commands) == 5, demo.stdout
    assert f"review --year {date.today().year}" in commands[0]
    for command in commands:
        words = shlex.split(command)
        env = clean_env(**dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w)))
        args = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
        result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "*" not in result.stdout, f"Slack markup in the terminal: {result.stdout}"
    assert list((tmp_path / "genomgang").glob("*.pdf"))


def test_the_readme_shows_the_demos_next_commands_and_the_section_it_names():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "DATABASE_URL=sqlite:///lisbot-demo.db .venv/bin/lisbot review --year" in readme
    connect = yaml.safe_load((ROOT / "templates/i18n/sv/core.yaml").read_text("utf-8"))["demo"]["connect"]
    section = re.search(r'"([^"]+)" i README.md', connect)[1]
    assert f"\n## {section}\n" in readme


def test_offline_review_falls_back_to_the_databases_organisation(tmp_path):
    assert lisbot(tmp_path, "demo").returncode == 0
    result = lisbot(tmp_path, "review", "--year", str(date.today().year), "--out", "out",
                    DATABASE_URL="sqlite:///lisbot-demo.db", SLACK_BOT_TOKEN="xoxb-1-2",
                    SLACK_API_URL=f"http://127.0.0.1:{closed_port()}/api/")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Slack går inte att nå" in line and "organisationen i databasen" in line
    assert list((tmp_path / "out").glob("*.docx"))


# ---- training from .env ------------------------------------------------------------------------------------


def test_training_start_takes_courses_and_deadline_from_the_settings(tmp_path):
    assert lisbot(tmp_path, "demo").returncode == 0
    settings = {"DATABASE_URL": "sqlite:///lisbot-demo.db", "LISBOT_TRAINING_COURSES": "Kurs A; Kurs B",
                "LISBOT_TRAINING_DEADLINE_DAYS": "45"}
    before = lisbot(tmp_path, "training", "status", **settings)
    assert "lisbot training start" in before.stdout and "/utbildning" not in before.stdout
    started = lisbot(tmp_path, "training", "start", **settings)
    assert started.returncode == 0, started.stderr
    assert "lisbot training status" in started.stdout and "/utbildning" not in started.stdout
    status = lisbot(tmp_path, "training", "status", **settings).stdout
    today = datetime.now(ZoneInfo("Europe/Stockholm")).date()  # the organisation's day, LISBOT_TIMEZONE's default
    deadline = (today + timedelta(days=45)).isoformat()
    assert f"Kurser: Kurs A, Kurs B · senast {deadline}" in status
    assert "Hela organisationen: 0 av 1 klara" in status and "*" not in status


# ---- .env.example, compose.yaml, .gitignore -------------------------------------------------------------------


def test_every_setting_is_in_env_example_and_nothing_else():
    names = {field.alias for field in Settings.model_fields.values()}
    example = (ROOT / ".env.example").read_text("utf-8")
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert names - documented == set(), f"settings missing from .env.example: {names - documented}"
    assert documented - names == set(), f".env.example names what the code does not read: {documented - names}"


def test_compose_publishes_the_port_from_env():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    assert compose["services"]["lisbot"]["ports"] == ["${PORT:-3000}:${PORT:-3000}"]


def test_gitignore_covers_what_the_cli_writes():
    ignored = (ROOT / ".gitignore").read_text("utf-8").split()
    for entry in ("lisbot-teams.zip", "lisbot-demo.db", "/genomgang/", "/review/", "out/", ".env"):
        assert entry in ignored, entry


# ---- Teams alone ------------------------------------------------------------------------------------------------


async def test_teams_alone_without_channel_or_public_url_starts_with_one_warning_each(caplog):
    """Teams tells a channel's id only once lisbot runs (@lisbot kanal), and without LISBOT_PUBLIC_URL only the
    documents cannot be linked: neither may stop `run`, but each is said once."""
    from bot.config import load_settings
    from bot.runtime import check_start

    guid = "00000000-0000-4000-8000-000000000001"
    settings = load_settings(env_file=None, CLIENT_ID=guid, CLIENT_SECRET="s", TENANT_ID=guid)
    settings.require_slack()
    with caplog.at_level("WARNING", logger="bot.runtime"):
        await check_start(settings)
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.runtime" and r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("LISBOT_SECURITY_CHANNEL") and warnings[1].startswith("LISBOT_PUBLIC_URL")
