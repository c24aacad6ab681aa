"""Issue #3, who is who: the HR file (command line and Slack DM upload) and the Slack directory sync.

Driven as people and Slack drive it: the installed `lisbot` command in a subprocess, signed events and
button clicks into the real endpoint, a fake Slack Web API that serves the shared file only to the bot's
token, and real databases (SQLite, or PostgreSQL with LISBOT_TEST_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import String, func, select

from bot.runtime import SLACK_PATH, Runtime
from bot.slack.directory import resolve_organisation, sync_slack_directory_in_background
from handlers.directory import import_people_file
from storage.models import Department, Organisation, OutboxMessage, Person, PersonRole
from storage.people import ChatMember, apply_members
from tests.conftest import SIGNING_SECRET, T0, bot_settings, eventually
from tests.slackdriver import TEAM, SlackDriver

DATA = Path(__file__).parent / "data"
LISBOT = Path(sys.executable).parent / "lisbot"
ANNA, ERIK, SAM = "U0ANNA", "U0ERIK", "U0SAM"
EXCEL_FILES = ["hr_people_excel_cp1252.csv", "hr_people_excel_utf8bom.csv", "hr_people_utf8_comma.csv"]
HEADER = "E-post;Namn;Avdelning;Chef;Anställningsform;Roller;Startdatum\r\n"
SAM_ROW = "sam@example.se;Sam Samordnare;Säkerhetsavdelningen;;Anställd;Informationssäkerhetssamordnare, Admin;2020-01-15\r\n"


# ---- helpers -----------------------------------------------------------------------------------------


async def lisbot(*args: str, database_url: str, cwd: Path, fake=None, lang: str | None = None,
                 ) -> tuple[int, str, str]:
    """The installed console script, as a coordinator runs it; with `fake`, SLACK_BOT_TOKEN points at it."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("SLACK_", "LISBOT_")) and k.upper() != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    if fake is not None:
        env.update(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.base_url)
    if lang:
        env["LISBOT_LANGUAGE"] = lang
    process = await asyncio.create_subprocess_exec(str(LISBOT), *args, cwd=cwd, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode, out.decode(), err.decode()


async def import_file(bot, tmp_path, path: Path, *extra: str, lang: str | None = None) -> tuple[int, str, str]:
    return await lisbot("import", "people", str(path), *extra, database_url=bot.runtime.settings.database_url,
                        cwd=tmp_path, fake=bot.fake, lang=lang)


def write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("cp1252"))
    return path


async def given_imported(bot, data: bytes) -> None:
    """A staff list imported before the test begins (what `lisbot import people` does, in-process)."""
    svc = bot.runtime.svc
    org = await resolve_organisation(svc, TEAM)
    assert (await import_people_file(svc, org.id, data)).imported


async def make_sam_admin(bot, tmp_path) -> None:
    """The coordinator's own row comes first."""
    await given_imported(bot, (HEADER + SAM_ROW).encode("cp1252"))


async def directory(db) -> dict[str, Person]:
    async with db.transaction() as session:
        return {p.email: p for p in (await session.execute(select(Person).order_by(Person.id))).scalars()}


async def roles(db) -> dict[str, set[str]]:
    async with db.transaction() as session:
        rows = await session.execute(select(Person.email, PersonRole.role).join(PersonRole))
        found: dict[str, set[str]] = {}
        for email, role in rows:
            found.setdefault(email, set()).add(role)
        return found


async def count(db, model, *where) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def share_file(bot, user: str, file: dict, *, event_id: str, channel: str = "D0DM") -> None:
    """What Slack sends when a member drops a file into the bot's DM."""
    ts = f"{time.time():.6f}"
    reply = await bot.slack.event({
        "type": "message", "subtype": "file_share", "text": "", "files": [file], "upload": True, "user": user,
        "display_as_bot": False, "ts": ts, "channel": channel, "event_ts": ts, "channel_type": "im",
    }, event_id=event_id)
    assert reply.status == 200, reply.text


async def dm_replies(bot, user: str, n: int) -> list[dict]:
    """Wait for `n` queued DMs to `user`, deliver them, and return what reached Slack (oldest first)."""
    await eventually(lambda: _at_least(bot, user, n))
    await bot.deliver()
    posted = dms(bot.fake, user)
    assert len(posted) == n, [p["message"]["text"] for p in posted]
    return posted


def dms(fake, user: str) -> list[dict]:
    """chat.postMessage answers in the DM with `user`: first posted to the user id, then to the DM's id."""
    channels, posted = {user}, []
    for call in fake.calls_to("chat.postMessage"):
        if call.params["channel"] in channels:
            channels.add(call.response["channel"])
            posted.append(call.response)
    return posted


async def _at_least(bot, user: str, n: int) -> bool:
    async with bot.db.transaction() as session:
        queued = await session.execute(select(func.count()).select_from(OutboxMessage).join(
            Person, OutboxMessage.recipient == func.cast(Person.id, String)).where(
            OutboxMessage.recipient_kind == "person", Person.slack_user_id == user))
        return queued.scalar_one() >= n


def button(message: dict, action_id: str) -> dict:
    for block in message["message"].get("blocks", []):
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == action_id:
                return element
    raise AssertionError(f"no {action_id} button in {message['message'].get('blocks')}")


async def click(driver: SlackDriver, user: str, posted: dict, action_id: str) -> None:
    """A click on a button of a bot message, with the message as Slack sends it along."""
    element = button(posted, action_id)
    reply = await driver.post_payload({
        "type": "block_actions", "token": "legacy", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0LISBOT", "trigger_id": driver.fake.issue_trigger(),
        "container": {"type": "message", "message_ts": posted["ts"], "channel_id": posted["channel"],
                      "is_ephemeral": False},
        "channel": {"id": posted["channel"], "name": "directmessage"}, "message": posted["message"],
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": element.get("value", ""),
                     "text": element["text"], "action_ts": f"{time.time():.6f}"}],
    })
    assert reply.status == 200, reply.text


def text_of(posted: dict) -> str:
    return json.dumps(posted["message"].get("blocks"), ensure_ascii=False) + posted["message"]["text"]


# ---- the files themselves -----------------------------------------------------------------------------


def test_the_fixtures_are_what_swedish_excel_writes():
    cp1252 = (DATA / "hr_people_excel_cp1252.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        cp1252.decode("utf-8")
    assert b"Anst\xe4llningsform" in cp1252 and b";;\r\n" in cp1252 and b'"Ledning; stab"' in cp1252
    bom = (DATA / "hr_people_excel_utf8bom.csv").read_bytes()
    assert bom.startswith(codecs.BOM_UTF8) and b"\r\n" in bom
    comma = (DATA / "hr_people_utf8_comma.csv").read_bytes()
    assert not comma.startswith(codecs.BOM_UTF8) and b"\r" not in comma and comma.startswith(b"email,name")


# ---- the command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXCEL_FILES)
async def test_cli_imports_the_staff_list_as_excel_saved_it(bot, tmp_path, name):
    code, out, err = await import_file(bot, tmp_path, DATA / name)

    assert code == 0, out + err
    assert "Personallistan är inläst: 5 nya, 0 uppdaterade, 0 inaktiverade och 0 oförändrade." in out
    people = await directory(bot.db)
    assert sorted(people) == ["anna@example.se", "bodil.ostrom@example.se", "dan.dahl@example.se",
                              "erik@example.se", "sam@example.se"]
    anna, erik, bodil = people["anna@example.se"], people["erik@example.se"], people["bodil.ostrom@example.se"]
    assert (anna.name, anna.employment, anna.start_date) == ("Anna Andersson", "employee", date(2021, 3, 1))
    assert (erik.employment, erik.start_date) == ("consultant", date(2024, 9, 1))
    assert bodil.name == "Bodil Öström" and bodil.start_date == date(2026, 1, 7)
    assert anna.manager_id == people["sam@example.se"].id and bodil.manager_id == anna.id
    assert all(p.active and p.in_hr_file and p.slack_user_id is None for p in people.values())
    assert await roles(bot.db) == {
        "sam@example.se": {"informationssakerhetssamordnare", "admin"}, "anna@example.se": {"chef"},
        "erik@example.se": {"objektledare"}, "dan.dahl@example.se": {"dataskyddsombud"}}
    async with bot.db.transaction() as session:
        departments = {d.id: d.name for d in (await session.execute(select(Department))).scalars()}
        [org] = (await session.execute(select(Organisation))).scalars()
    assert sorted(departments.values()) == ["IT-enheten", "Kommunikationsavdelningen", "Ledning; stab",
                                            "Säkerhetsavdelningen"]
    assert departments[erik.department_id] == "IT-enheten"
    # The organisation is SLACK_BOT_TOKEN's workspace, found with auth.test.
    assert (org.platform, org.external_id) == ("slack", TEAM)
    assert bot.fake.calls_to("auth.test")


async def test_cli_reports_every_bad_row_and_imports_nothing_then_the_good_rows_on_request(bot, tmp_path):
    bad_file = DATA / "hr_people_bad_rows.csv"
    code, out, err = await import_file(bot, tmp_path, bad_file)

    assert code == 1, out + err
    assert "Ingenting är inläst än: 10 rader har fel." in out
    for line in [
        "Rad 4, E-post: «inte-en-adress» är ingen giltig e-postadress.",
        "Rad 5, Anställningsform: «Praktikant» är ingen anställningsform – skriv anställd eller konsult.",
        "Rad 6, Roller: okänd roll Kaffeansvarig – möjliga roller är chef, objektledare, "
        "informationssäkerhetssamordnare, dataskyddsombud, bolagschef, admin.",
        "Rad 7, E-post: ANNA@example.se står redan på rad 3.",
        "Rad 8, Startdatum: «2026-13-01» är inget giltigt datum – skriv ÅÅÅÅ-MM-DD, till exempel 2026-01-31.",
        "Rad 9, Chef: chefen ingen.alls@example.se finns varken i filen eller bland de anställda som lisbot "
        "känner till.",
        "Rad 10, Chef: en person kan inte vara sin egen chef.",
        "Rad 11, Chef: chefen erik@example.se står på rad 5, som har fel.",
        "Rad 12, Startdatum: «31/1/2026» är inget giltigt datum",
        "Rad 13, E-post: värde saknas.",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"
    assert "Läser du in de korrekta raderna (3 rader) blir det 3 nya, 0 uppdaterade, 0 inaktiverade och " \
           "0 oförändrade." in out
    assert "--import-good-rows" in out
    assert await count(bot.db, Person) == 0 and await count(bot.db, Department) == 0

    code, out, err = await import_file(bot, tmp_path, bad_file, "--import-good-rows")
    assert code == 0, out + err
    assert "De korrekta raderna (3 rader) är inlästa: 3 nya, 0 uppdaterade, 0 inaktiverade och 0 oförändrade." \
           in out
    assert sorted(await directory(bot.db)) == ["anna@example.se", "kim@example.se", "sam@example.se"]


async def test_cli_speaks_english_when_the_organisation_does(bot, tmp_path):
    code, out, err = await import_file(bot, tmp_path, DATA / "hr_people_bad_rows.csv", lang="en")
    assert code == 1
    assert "Nothing is imported yet: 10 rows with errors." in out
    assert "Line 4, E-post: “inte-en-adress” is not a valid email address." in out
    assert "Line 11, Chef: the manager erik@example.se is on line 5, which has errors." in out


async def test_reimport_updates_deactivates_leavers_keeps_their_history_and_never_duplicates(bot, tmp_path):
    await given_imported(bot, (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    before = await directory(bot.db)

    code, out, err = await import_file(bot, tmp_path, DATA / "hr_people_reimport_cp1252.csv")

    assert code == 0, out + err
    assert "1 ny, 1 uppdaterad, 1 inaktiverad och 3 oförändrade" in out
    after = await directory(bot.db)
    assert len(after) == 6 and await count(bot.db, Person) == 6
    assert {e: p.id for e, p in after.items() if e in before} == {e: p.id for e, p in before.items()}
    erik = after["erik@example.se"]
    assert not erik.active and erik.deactivated_at is not None and erik.in_hr_file  # a leaver, kept
    anna = after["anna@example.se"]
    async with bot.db.transaction() as session:
        assert (await session.get(Department, anna.department_id)).name == "Ledningsstaben"
    got = await roles(bot.db)
    assert got["anna@example.se"] == {"chef", "bolagschef"}
    assert "erik@example.se" not in got  # a leaver keeps no access
    assert after["kim@example.se"].manager_id == after["sam@example.se"].id

    code, out, err = await import_file(bot, tmp_path, DATA / "hr_people_reimport_cp1252.csv")
    assert "0 nya, 0 uppdaterade, 0 inaktiverade och 5 oförändrade" in out
    assert await count(bot.db, Person) == 6


async def test_cli_finds_the_organisation_or_says_why_not(db, tmp_path, database_url):
    path = write_csv(tmp_path, "admin.csv", HEADER + SAM_ROW)
    code, out, err = await lisbot("import", "people", str(path), database_url=database_url, cwd=tmp_path)
    assert code == 2
    assert err.strip() == "lisbot: Hittar ingen organisation i databasen. Sätt SLACK_BOT_TOKEN, ange --team T…, " \
                          "eller starta boten en gång med lisbot run."
    async with db.transaction() as session:
        session.add(Organisation(platform="slack", external_id="T0ONE", created_at=T0))
    code, out, err = await lisbot("import", "people", str(path), database_url=database_url, cwd=tmp_path)
    assert code == 0, out + err
    async with db.transaction() as session:
        session.add(Organisation(platform="slack", external_id="T0TWO", created_at=T0))
    code, out, err = await lisbot("import", "people", str(path), database_url=database_url, cwd=tmp_path, lang="en")
    assert code == 2 and "several organisations (T0ONE, T0TWO)" in err
    code, out, err = await lisbot("import", "people", str(path), "--team", "T0TWO", database_url=database_url,
                                  cwd=tmp_path)
    assert code == 0, out + err
    code, out, err = await lisbot("import", "people", str(tmp_path / "saknas.csv"), database_url=database_url,
                                  cwd=tmp_path)
    assert code == 2 and "saknas.csv går inte att läsa" in err and "Traceback" not in err
    async with db.transaction() as session:
        rows = (await session.execute(select(Organisation.external_id, func.count(Person.id))
                                      .join(Person, Person.org_id == Organisation.id)
                                      .group_by(Organisation.external_id).order_by(Organisation.external_id))).all()
    assert [tuple(r) for r in rows] == [("T0ONE", 1), ("T0TWO", 1)]


# ---- the staff list sent to the bot in Slack ------------------------------------------------------------


async def test_admin_sends_the_file_in_the_dm_and_gets_the_report(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    file = bot.fake.add_file(SAM, "Personal 2026.csv", (DATA / "hr_people_excel_utf8bom.csv").read_bytes())

    await share_file(bot, SAM, file, event_id="EvUpload1")
    [report] = await dm_replies(bot, SAM, 1)

    [download] = bot.fake.calls_to("files.download")
    assert download.headers["Authorization"] == "Bearer xoxb-test"
    assert download.params["path"].endswith("/download/Personal 2026.csv")
    assert report["message"]["text"] == \
        "Personallistan är inläst: 4 nya, 0 uppdaterade, 0 inaktiverade och 1 oförändrad."
    assert report["message"]["blocks"][0]["text"]["text"] == "Personallistan Personal 2026.csv"
    assert not any(b["type"] == "actions" for b in report["message"]["blocks"])
    people = await directory(bot.db)
    assert len(people) == 5 and await count(bot.db, Person) == 5
    # Sam's Slack account and HR row are one person.
    assert people["sam@example.se"].slack_user_id == SAM and people["sam@example.se"].locale == "sv-SE"

    # Slack retries the event: nothing happens twice.
    await share_file(bot, SAM, file, event_id="EvUpload1")
    await asyncio.sleep(0.3)
    assert len(bot.fake.calls_to("files.download")) == 1
    assert len(dms(bot.fake, SAM)) == 1 and not await _at_least(bot, SAM, 2)


async def test_bad_rows_are_reported_and_the_good_rows_imported_by_button_even_after_a_restart(
        bot, tmp_path, fake_slack, clock):
    await make_sam_admin(bot, tmp_path)
    file = bot.fake.add_file(SAM, "personal.csv", (DATA / "hr_people_bad_rows.csv").read_bytes())

    await share_file(bot, SAM, file, event_id="EvUpload2")
    [report] = await dm_replies(bot, SAM, 1)

    text = text_of(report)
    assert report["message"]["text"] == "Personallistan är inte inläst: 10 rader med fel."
    assert "Rad 4, E-post: «inte-en-adress» är ingen giltig e-postadress." in text
    assert "Rad 13, E-post: värde saknas." in text
    assert "Läser du in de korrekta raderna (3 rader) blir det 2 nya, 0 uppdaterade, 0 inaktiverade och " \
           "1 oförändrad." in text
    assert button(report, "directory_import_good_rows")["text"]["text"] == "Importera de 3 korrekta raderna"
    assert button(report, "directory_import_cancel")["text"]["text"] == "Avbryt"
    assert sorted(await directory(bot.db)) == ["sam@example.se"]  # nothing imported

    # The bot restarts between the report and the click: a fresh process takes the click.
    runtime = Runtime(bot_settings(bot.runtime.settings.database_url, fake_slack), clock=clock)
    await runtime.start(deliver=False)
    runner = web.AppRunner(runtime.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    driver = SlackDriver(f"http://127.0.0.1:{runner.addresses[0][1]}{SLACK_PATH}", SIGNING_SECRET, fake_slack)
    try:
        await click(driver, SAM, report, "directory_import_good_rows")
        await eventually(lambda: _at_least(bot, SAM, 2))
        await runtime.deliverer.drain_once()
        # A double click: the import is not repeated in the report, and nobody is duplicated.
        await click(driver, SAM, report, "directory_import_good_rows")
        await asyncio.sleep(0.5)
        await runtime.deliverer.drain_once()
    finally:
        await driver.close()
        await runner.cleanup()
        await runtime.stop()

    assert bot.fake.calls_to("files.info")  # the button carried the file id, not the file
    outcome = dms(bot.fake, SAM)[1:]
    assert len(outcome) == 1
    assert "De korrekta raderna (3 rader) är inlästa: 2 nya, 0 uppdaterade, 0 inaktiverade och 1 oförändrad." \
           in text_of(outcome[0])
    assert sorted(await directory(bot.db)) == ["anna@example.se", "kim@example.se", "sam@example.se"]
    # The report's buttons gave way to the choice, so it is made once.
    update = bot.fake.calls_to("chat.update")[0]
    assert update.params["ts"] == report["ts"]
    assert not any(b["type"] == "actions" for b in update.params["blocks"])
    assert "Du valde att läsa in de korrekta raderna" in json.dumps(update.params["blocks"], ensure_ascii=False)


async def test_cancel_imports_nothing(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    file = bot.fake.add_file(SAM, "personal.csv", (DATA / "hr_people_bad_rows.csv").read_bytes())
    await share_file(bot, SAM, file, event_id="EvUpload3")
    [report] = await dm_replies(bot, SAM, 1)

    await click(bot.slack, SAM, report, "directory_import_cancel")

    [update] = await bot.fake.wait_for("chat.update")
    assert "Avbrutet – ingenting lästes in." in json.dumps(update.params["blocks"], ensure_ascii=False)
    await asyncio.sleep(0.2)
    assert sorted(await directory(bot.db)) == ["sam@example.se"]
    assert len(bot.fake.calls_to("files.download")) == 1


async def test_a_file_changed_since_the_check_is_not_imported(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    file = bot.fake.add_file(SAM, "personal.csv", (DATA / "hr_people_bad_rows.csv").read_bytes())
    await share_file(bot, SAM, file, event_id="EvUpload4")
    [report] = await dm_replies(bot, SAM, 1)
    changed = (DATA / "hr_people_bad_rows.csv").read_bytes().replace(b"Kim Karlsson", b"Kim Persson")
    bot.fake._shared_files[file["id"]].update(content=changed)
    bot.fake._shared_files[file["id"]]["file"]["size"] = len(changed)

    await click(bot.slack, SAM, report, "directory_import_good_rows")

    [_, answer] = await dm_replies(bot, SAM, 2)
    assert "har ändrats sedan kontrollen" in answer["message"]["text"]
    assert sorted(await directory(bot.db)) == ["sam@example.se"]


async def test_someone_without_the_role_is_refused_politely_and_nothing_changes(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    file = bot.fake.add_file(ANNA, "personal.csv", (DATA / "hr_people_excel_cp1252.csv").read_bytes())

    await share_file(bot, ANNA, file, event_id="EvUpload5")
    [refusal] = await dm_replies(bot, ANNA, 1)

    assert refusal["message"]["text"].startswith("Tack för filen! Men bara administratörer och "
                                                 "informationssäkerhetssamordnare kan läsa in personallistan")
    assert not bot.fake.calls_to("files.download") and not bot.fake.calls_to("files.info")
    people = await directory(bot.db)
    assert sorted(people) == ["anna@example.se", "sam@example.se"]  # Anna is known now, with no roles
    assert await roles(bot.db) == {"sam@example.se": {"informationssakerhetssamordnare", "admin"}}


async def test_an_english_speaking_admin_gets_english(bot, tmp_path):
    await given_imported(bot, (HEADER + "erik@example.se;Erik Eriksson;IT-enheten;;Konsult;admin;2024-09-01\r\n")
                         .encode("cp1252"))
    file = bot.fake.add_file(ERIK, "staff.csv", (DATA / "hr_people_bad_rows.csv").read_bytes())

    await share_file(bot, ERIK, file, event_id="EvUpload6")
    [report] = await dm_replies(bot, ERIK, 1)

    text = text_of(report)
    assert report["message"]["text"] == "The staff list is not imported: 9 rows with errors."
    assert "Line 4, E-post: “inte-en-adress” is not a valid email address." in text
    # Erik's own row is wrong and he is in the directory already, so Ivar's manager stays: Ivar's row is fine.
    assert "Line 11" not in text
    assert button(report, "directory_import_good_rows")["text"]["text"] == "Import the 4 correct rows"
    assert button(report, "directory_import_cancel")["text"]["text"] == "Cancel"


async def test_a_long_error_list_is_cut_to_what_a_slack_message_holds(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    rows = "".join(f"person{n}@example.se;Person {n};IT;;Anställd;Trollkarl;2026-01-01\r\n" for n in range(300))
    content = (HEADER + SAM_ROW + rows).encode("cp1252")
    file = bot.fake.add_file(SAM, "lång lista.csv", content)

    await share_file(bot, SAM, file, event_id="EvUpload7")
    [report] = await dm_replies(bot, SAM, 1)  # the fake rejects blocks over Slack's limits

    text = text_of(report)
    assert "Rad 3, Roller: okänd roll Trollkarl" in text
    shown = text.count("okänd roll Trollkarl")
    assert 10 < shown < 300
    assert f"…och {300 - shown} till." in text
    assert "`lisbot import people FIL`" in text
    assert button(report, "directory_import_good_rows")["text"]["text"] == "Importera den korrekta raden"
    # The command line shows them all.
    path = tmp_path / "lång lista.csv"
    path.write_bytes(content)
    code, out, err = await import_file(bot, tmp_path, path)
    assert code == 1 and out.count("okänd roll Trollkarl") == 300


async def test_file_that_is_gone_or_not_a_table(bot, tmp_path):
    await make_sam_admin(bot, tmp_path)
    gone = bot.fake.add_file(SAM, "borta.csv", (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    bot.fake.delete_file(gone["id"])
    # A Slack Connect style event: no URLs, "check_file_info".
    await share_file(bot, SAM, {"id": gone["id"], "mode": "file_access", "file_access": "check_file_info"},
                     event_id="EvUpload8")
    xlsx = bot.fake.add_file(SAM, "personal.xlsx", b"PK\x03\x04" + bytes(200))
    await share_file(bot, SAM, xlsx, event_id="EvUpload9")

    replies = {r["message"]["text"]: r for r in await dm_replies(bot, SAM, 2)}  # handled side by side
    # The event named no file; files.info said it is gone.
    assert f"Filen {gone['id']} finns inte längre i Slack – skicka den igen." in replies
    assert "Spara som → CSV (semikolonavgränsad)" in text_of(replies["Personallistan kunde inte läsas."])
    assert sorted(await directory(bot.db)) == ["sam@example.se"]


async def test_the_fake_serves_files_only_to_the_bot_token(fake_slack):
    import aiohttp

    file = fake_slack.add_file(ANNA, "a.csv", b"E-post\r\n")
    async with aiohttp.ClientSession() as http:
        async with http.get(file["url_private_download"]) as response:
            assert response.content_type == "text/html"
        async with http.get(file["url_private_download"], headers={"Authorization": "Bearer xoxb-test"}) as response:
            assert response.status == 200 and await response.read() == b"E-post\r\n"
        async with http.post(fake_slack.base_url + "files.info", data={"file": file["id"], "token": "xoxb-test"}) as r:
            assert (await r.json())["file"]["url_private_download"] == file["url_private_download"]


# ---- Slack's member list -------------------------------------------------------------------------------


async def test_sync_pages_through_users_list_waits_out_a_429_and_matches_the_hr_file(bot, tmp_path):
    await given_imported(bot, (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    fake = bot.fake
    for n in range(430):
        fake.add_user(f"U1{n:05d}", name=f"p{n}", real_name=f"Person {n}", email=f"p{n}@example.se",
                      locale="en-GB" if n % 2 else "sv-SE", tz="Europe/Stockholm")
    fake.add_user("UDELETED", name="gone", real_name="Gone Gunnarsson", email="gone@example.se", deleted=True)
    fake.add_user("B0BOT", name="helper", real_name="Helper", is_bot=True)
    fake.add_user("USLACKBOT", name="slackbot", real_name="Slackbot")
    # Slack answers the second page with 429 Retry-After: 1.
    fake.fail_next("users.list", status=200, delay=0.01)
    fake.fail_next("users.list", status=429, retry_after=1)

    code, out, err = await lisbot("sync", "slack", database_url=bot.runtime.settings.database_url, cwd=tmp_path,
                                  fake=fake)

    assert code == 0, out + err
    calls = fake.calls_to("users.list", ok_only=False)
    assert [c.status for c in calls] == [200, 429, 200, 200]
    assert all(c.params["limit"] == "200" for c in calls)
    assert calls[1].params["cursor"] == calls[2].params["cursor"] == calls[0].response["response_metadata"]["next_cursor"]
    assert calls[2].at - calls[1].at >= 1.0  # Retry-After honoured
    # The five from the HR file (Anna, Erik and Sam matched by e-mail) and 430 new people; the deleted
    # stranger, the bot and Slackbot are not people.
    assert "430 nya, 3 uppdaterade, 0 inaktiverade och 0 oförändrade – 3 hoppades över" in out
    assert await count(bot.db, Person) == 5 + 430
    people = await directory(bot.db)
    assert "gone@example.se" not in people
    anna = people["anna@example.se"]  # the HR row, now linked to her Slack account
    assert anna.slack_user_id == ANNA and anna.name == "Anna Andersson" and anna.in_hr_file
    assert people["erik@example.se"].slack_user_id == ERIK and people["erik@example.se"].tz == "Europe/London"
    assert people["p1@example.se"].locale == "en-GB" and not people["p1@example.se"].in_hr_file

    # Again, as the bot does it at start (in the background): everyone is known, nothing changes.
    counts = await sync_slack_directory_in_background(bot.runtime.svc)
    assert (counts.new, counts.updated, counts.deactivated, counts.unchanged, counts.skipped) == (0, 0, 0, 433, 3)


async def test_team_join_and_user_change_keep_the_directory_fresh(bot, tmp_path):
    await given_imported(bot, (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    fake = bot.fake
    nora = fake.add_user("U0NORA", name="nora", real_name="Nora Nyberg", email="Nora@Example.se", tz="Europe/Oslo")

    await bot.slack.event({"type": "team_join", "user": nora, "event_ts": "1.1"}, event_id="EvJoin1")
    await eventually(lambda: _person(bot, "nora@example.se"))
    nora_row = await _person(bot, "nora@example.se")
    assert (nora_row.slack_user_id, nora_row.name, nora_row.tz, nora_row.active) == \
        ("U0NORA", "Nora Nyberg", "Europe/Oslo", True)

    # Dan (HR file) joins Slack under another display name: matched by e-mail; the HR name stays.
    dan = fake.add_user("U0DAN", name="dd", real_name="Danne", email="DAN.DAHL@example.se")
    await bot.slack.event({"type": "team_join", "user": dan, "event_ts": "1.2"}, event_id="EvJoin2")
    await eventually(lambda: _linked(bot, "dan.dahl@example.se", "U0DAN"))
    assert (await _person(bot, "dan.dahl@example.se")).name == "Dan Dahl"

    # Nora changes her name; then her account is deactivated.
    renamed = dict(nora, real_name="Nora Lind", profile=dict(nora["profile"], real_name="Nora Lind"))
    await bot.slack.event({"type": "user_change", "user": renamed, "cache_ts": 1, "event_ts": "1.3"},
                          event_id="EvChange1")
    await eventually(lambda: _named(bot, "nora@example.se", "Nora Lind"))
    deleted = dict(renamed, deleted=True)
    await bot.slack.event({"type": "user_change", "user": deleted, "cache_ts": 2, "event_ts": "1.4"},
                          event_id="EvChange2")
    await eventually(lambda: _inactive(bot, "nora@example.se"))
    assert (await _person(bot, "nora@example.se")).deactivated_at == T0
    # A bot's change and a retried event change nothing.
    bot_user = fake.add_user("B0HELP", name="helper", real_name="Helper", is_bot=True)
    await bot.slack.event({"type": "user_change", "user": bot_user, "event_ts": "1.5"}, event_id="EvChange3")
    await bot.slack.event({"type": "user_change", "user": renamed, "event_ts": "1.3"}, event_id="EvChange1",
                          headers={"X-Slack-Retry-Num": "1"})
    await asyncio.sleep(0.3)
    assert not (await _person(bot, "nora@example.se")).active
    assert await count(bot.db, Person) == 6


async def _person(bot, email: str) -> Person | None:
    return (await directory(bot.db)).get(email)


async def _linked(bot, email: str, user: str) -> bool:
    person = await _person(bot, email)
    return person is not None and person.slack_user_id == user


async def _named(bot, email: str, name: str) -> bool:
    person = await _person(bot, email)
    return person is not None and person.name == name


async def _inactive(bot, email: str) -> bool:
    person = await _person(bot, email)
    return person is not None and not person.active


async def test_someone_from_the_hr_file_is_the_same_person_when_they_first_use_slack(bot):
    """Imported before any sync, Anna opens /incident: her Slack account joins her HR row, no second row."""
    await given_imported(bot, (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    reply = await bot.slack.command(ANNA)
    assert reply.status == 200
    await bot.fake.wait_for("views.open")
    people = await directory(bot.db)
    assert len(people) == 5 and await count(bot.db, Person) == 5
    assert people["anna@example.se"].slack_user_id == ANNA and people["anna@example.se"].locale == "sv-SE"


async def test_a_chat_account_seen_before_its_email_is_merged_into_the_hr_row(db):
    """The adapter may create a person from a Slack id alone (its profile call timed out); once the member
    list brings the e-mail, that row and the HR file's row become one, and everything moves along."""
    async with db.transaction() as session:
        org = Organisation(platform="slack", external_id="T0MERGE", created_at=T0)
        session.add(org)
        await session.flush()
        hr = Person(org_id=org.id, email="sam@example.se", name="Sam Samordnare", in_hr_file=True, active=True,
                    created_at=T0, updated_at=T0)
        chat = Person(org_id=org.id, slack_user_id=SAM, dm_channel_id="D0SAM", created_at=T0, updated_at=T0)
        session.add_all([hr, chat])
        await session.flush()
        report = Person(org_id=org.id, email="report@example.se", manager_id=chat.id, created_at=T0, updated_at=T0)
        session.add_all([report, PersonRole(person_id=hr.id, role="admin"), PersonRole(person_id=chat.id, role="chef")])
    async with db.transaction() as session:
        counts = await apply_members(session, org.id, [ChatMember(SAM, "Sam S", "SAM@example.se", "sv-SE",
                                                                  "Europe/Stockholm")], T0)
    assert counts.updated == 1
    async with db.transaction() as session:
        people = list((await session.execute(select(Person).where(Person.org_id == org.id).order_by(Person.id)))
                      .scalars())
        kept = people[0]
        assert [p.email for p in people] == ["sam@example.se", "report@example.se"]
        assert (kept.id, kept.slack_user_id, kept.dm_channel_id, kept.name) == (hr.id, SAM, "D0SAM", "Sam Samordnare")
        assert people[1].manager_id == kept.id
        assert set((await session.execute(select(PersonRole.role).where(PersonRole.person_id == kept.id)))
                   .scalars()) == {"admin", "chef"}
