"""Issue #5: every information asset classified (KLASSA), with action plans and continuity plans.

Driven as people drive it: the installed `lisbot` command in a subprocess (import, start, status), signed
slash commands, button clicks and modal submissions into the real endpoint, a fake Slack Web API, the
minute tick run by hand while a frozen clock moves (no sleeping), and real databases.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handlers.coverage import Rules, add_months, coverage
from storage.models import (
    ActionItem, Asset, Classification, ClassificationRound, ContinuityPlan, Department, OutboxMessage, Person,
    PersonRole, RoundRequest,
)
from tests.conftest import T0, eventually
from tests.slackdriver import TEAM

DATA = Path(__file__).parent / "data"
LISBOT = Path(sys.executable).parent / "lisbot"
ANNA, ERIK, SAM = "U0ANNA", "U0ERIK", "U0SAM"
COORDINATOR = "informationssakerhetssamordnare"
TODAY = date(2026, 11, 25)  # T0 in Stockholm
EXCEL_FILES = ["assets_excel_cp1252.csv", "assets_excel_utf8bom.csv"]
NAMES = ["Biljettsystem", "Intranät", "Lönesystem", "Scenografiarkiv; ritningar", "Ärendehantering"]


# ---- helpers -----------------------------------------------------------------------------------------


async def lisbot(bot, *args: str, lang: str | None = None) -> tuple[int, str, str]:
    """The installed console script, as a coordinator runs it, against the bot's database and the fake Slack."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("SLACK_", "LISBOT_")) and k.upper() != "DATABASE_URL"}
    env.update(DATABASE_URL=bot.runtime.settings.database_url, SLACK_BOT_TOKEN=bot.fake.bot_token,
               SLACK_API_URL=bot.fake.base_url)
    if lang:
        env["LISBOT_LANGUAGE"] = lang
    process = await asyncio.create_subprocess_exec(str(LISBOT), *args, cwd=DATA, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def people(bot):
    """Anna and Erik (who reads English, in London) are object owners in Slack; Sam is the coordinator; Holger
    is in the staff list only, not in Slack."""
    actors = {u: await bot.runtime.slack.actor(TEAM, u) for u in (ANNA, ERIK, SAM)}
    org_id = actors[ANNA].org_id
    async with bot.db.transaction() as session:
        session.add(PersonRole(person_id=actors[SAM].person_id, role=COORDINATOR))
        for user in (ANNA, ERIK):
            session.add(PersonRole(person_id=actors[user].person_id, role="objektledare"))
        holger = Person(org_id=org_id, name="Holger Hr", email="hr.only@example.se", active=True, in_hr_file=True,
                        created_at=T0, updated_at=T0)
        session.add(holger)
        await session.flush()
    ids = {u: a.person_id for u, a in actors.items()}
    ids["holger"] = holger.id
    ids["org"] = org_id
    return ids


async def register(bot, name: str = "assets_excel_cp1252.csv") -> None:
    code, out, err = await lisbot(bot, "import", "assets", str(DATA / name))
    assert code == 0, out + err


async def assets(bot) -> dict[str, Asset]:
    async with bot.db.transaction() as session:
        return {a.name: a for a in (await session.execute(select(Asset))).scalars()}


async def rows(bot, model, *where, order=None) -> list:
    async with bot.db.transaction() as session:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list((await session.execute(query)).scalars())


def dms(bot, user: str) -> list[dict]:
    """The messages posted into a person's DM (by user id or their DM channel), as Slack received them."""
    calls = bot.fake.calls_to("chat.postMessage")
    channels = {user} | {c.response["channel"] for c in calls if c.params["channel"] == user}
    return [c for c in calls if c.params["channel"] in channels]


def text_of(call) -> str:
    return str(call.params.get("blocks") or call.params.get("text"))


async def open_view(bot, send) -> dict:
    """Do something that opens (or pushes, or updates) a modal; return the view Slack was asked to show."""
    methods = ("views.open", "views.push", "views.update")
    before = {m: len(bot.fake.calls_to(m)) for m in methods}
    reply = await send()
    assert reply.status == 200, reply.text
    await eventually(lambda: any(len(bot.fake.calls_to(m)) > before[m] for m in methods))
    call = next(bot.fake.calls_to(m)[-1] for m in methods if len(bot.fake.calls_to(m)) > before[m])
    return call.response["view"]


async def click_in_message(bot, user: str, message_call, action_id: str, value: str) -> dict:
    """Press a button in a message the bot posted (the owner's DM)."""
    return await open_view(bot, lambda: bot.slack.post_payload({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0LISBOT", "trigger_id": bot.fake.issue_trigger(),
        "container": {"type": "message", "channel_id": message_call.response["channel"],
                      "message_ts": message_call.response["ts"]},
        "channel": {"id": message_call.response["channel"]},
        "message": {"ts": message_call.response["ts"], "text": "", "blocks": message_call.params.get("blocks")},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }))


async def click_in_modal(bot, user: str, view: dict, action_id: str, value: str) -> dict:
    return await open_view(bot, lambda: bot.slack.post_payload({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0LISBOT", "trigger_id": bot.fake.issue_trigger(),
        "container": {"type": "view", "view_id": view["id"]}, "view": view,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }))


def button_value(view_or_blocks, action_id: str, *, containing: str | None = None) -> str:
    blocks = view_or_blocks["blocks"] if isinstance(view_or_blocks, dict) else view_or_blocks
    previous = ""
    for block in blocks:
        if block["type"] == "actions":
            for element in block["elements"]:
                if element["action_id"] == action_id and (containing is None or containing in previous):
                    return element["value"]
        previous = str(block)
    raise AssertionError(f"no {action_id} button" + (f" after {containing!r}" if containing else ""))


async def ticks(bot, at: datetime) -> None:
    bot.runtime.clock.set(at)
    await bot.runtime.tick()
    await bot.runtime.tick()  # a second run at the same moment sends nothing more
    await bot.deliver()


# ---- the register from Excel ------------------------------------------------------------------------------


def test_the_fixtures_are_what_swedish_excel_writes():
    cp1252 = (DATA / "assets_excel_cp1252.csv").read_bytes()
    bom = (DATA / "assets_excel_utf8bom.csv").read_bytes()
    assert not cp1252.startswith(codecs.BOM_UTF8) and "Lönesystem".encode("cp1252") in cp1252
    assert bom.startswith(codecs.BOM_UTF8) and "Lönesystem".encode("utf-8") in bom
    for data in (cp1252, bom):
        assert b";" in data.splitlines()[0] and b"\r\n" in data and b"Klassningsdatum" in data


@pytest.mark.parametrize("name", EXCEL_FILES)
async def test_cli_imports_the_register_as_swedish_excel_saved_it(bot, people, name):
    code, out, err = await lisbot(bot, "import", "assets", str(DATA / name))
    assert code == 0, out + err
    assert "5 nya, 0 ändrade, 0 oförändrade tillgångar; 4 klassningar" in out
    assert "Nya avdelningar skapades: Ekonomi, Publik, Scenkonst" in out
    found = await assets(bot)
    assert sorted(found) == NAMES
    salary = found["Lönesystem"]
    assert (salary.kind, salary.owner_id, salary.information_owner_id, salary.supplier, salary.personal_data,
            salary.special_categories, salary.ropa_reference, salary.continuity_relevant) == (
        "system", people[ANNA], people[SAM], "Visma", True, True, "RF-12 Lön", True)
    assert found["Biljettsystem"].owner_id == people[ANNA]  # the e-mail matched without regard to case
    assert found["Biljettsystem"].kind == "service" and found["Scenografiarkiv; ritningar"].kind == "information"
    assert found["Scenografiarkiv; ritningar"].description == 'Ritningar och modeller, "digitala"'
    assert found["Intranät"].owner_id is None and found["Ärendehantering"].next_review is None
    [klass] = await rows(bot, Classification, Classification.asset_id == salary.id)
    assert (klass.confidentiality, klass.integrity, klass.availability, klass.classified_on, klass.next_review,
            klass.method, klass.source) == (3, 3, 2, date(2026, 3, 1), date(2027, 3, 1), "KLASSA", "import")
    assert salary.next_review == date(2027, 3, 1)
    [plan] = await rows(bot, ContinuityPlan, ContinuityPlan.asset_id == salary.id)
    assert (plan.has_plan, plan.last_exercised, plan.next_exercise_due) == (True, date(2026, 5, 10), date(2027, 5, 10))
    departments = {d.id: d.name for d in await rows(bot, Department)}
    assert departments[salary.department_id] == "Ekonomi"
    # The same file again changes nothing and duplicates nothing.
    code, out, err = await lisbot(bot, "import", "assets", str(DATA / name))
    assert code == 0 and "0 nya, 0 ändrade, 5 oförändrade tillgångar; 0 klassningar" in out, out + err
    assert len(await rows(bot, Asset)) == 5 and len(await rows(bot, Classification)) == 4


async def test_cli_reports_every_bad_row_by_line_and_imports_nothing(bot, people):
    code, out, err = await lisbot(bot, "import", "assets", str(DATA / "assets_bad_rows.csv"))
    assert code == 1, out + err
    assert "Ingenting importerades: 6 rader har fel." in out
    for expected in ('Rad 3, K: "5" – skriv en nivå från 0 till 4.',
                     "Rad 4, Objektledare: okand@example.se finns inte i personallistan",
                     'Rad 5, Klassningsdatum: "15/06/2026" är inte ett datum',
                     'Rad 6, Namn: "lönesystem" finns redan på rad 2.',
                     "Rad 7, T: Ange alla tre nivåerna K, R och T, eller ingen av dem.",
                     'Rad 8, Typ: "Databasserver" – skriv System, Informationsmängd eller Tjänst.'):
        assert expected in out, out
    assert "Rad 2" not in out
    assert await rows(bot, Asset) == [] and await rows(bot, Classification) == []
    code, out, err = await lisbot(bot, "import", "assets", str(DATA / "assets_bad_rows.csv"), lang="en")
    assert code == 1 and "Nothing was imported: 6 rows have errors." in out and "Line 3, K:" in out


async def test_a_file_that_is_not_a_register(bot, people, tmp_path):
    path = tmp_path / "fel.csv"
    path.write_bytes("Beskrivning;Typ\r\nNågot;System\r\n".encode("cp1252"))
    code, out, err = await lisbot(bot, "import", "assets", str(path))
    assert code == 1 and "Kolumnen Namn saknas." in out
    code, out, err = await lisbot(bot, "import", "assets", str(tmp_path / "saknas.csv"))
    assert code == 2 and "kunde inte läsas" in err


# ---- a round through Slack ---------------------------------------------------------------------------------


async def start_in_slack(bot, due: str | None = None) -> dict:
    form = await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning", text="start"))
    assert form["callback_id"] == "classification_start_form"
    reply = await bot.slack.submit(SAM, form, {"due": due or (TODAY + timedelta(days=14)).isoformat()})
    assert reply.json["response_action"] == "update", reply.json
    return reply.json["view"]


async def test_a_round_driven_through_slack(bot, people):
    await register(bot)
    # Only coordinators start rounds.
    refused = await open_view(bot, lambda: bot.slack.command(ANNA, command="/klassning", text="start"))
    assert "Bara informationssäkerhetssamordnare" in str(refused)
    form = await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning", text="start"))
    bad = await bot.slack.submit(SAM, form, {"due": "2026-11-01"})
    assert bad.json["errors"] == {"due": "Sista dagen för svar kan inte ligga bakåt i tiden."}
    started = await bot.slack.submit(SAM, form, {"due": "2026-12-09"})
    text = str(started.json["view"])
    assert "5 tillgångar, 2 objektledare får ett meddelande. Svar senast 2026-12-09" in text
    assert "Intranät* – ingen objektledare" in text and "Holger Hr (hr.only@example.se) finns inte i Slack" in text
    # The same submission again starts nothing more.
    await bot.slack.submit(SAM, form, {"due": "2026-12-09"})
    assert len(await rows(bot, ClassificationRound)) == 1
    await bot.deliver()

    anna, erik, sam = dms(bot, ANNA), dms(bot, ERIK), dms(bot, SAM)
    assert len(anna) == 1 and len(erik) == 1  # one message per owner, listing all their assets
    assert "Biljettsystem" in text_of(anna[0]) and "Lönesystem" in text_of(anna[0])
    assert "Ärendehantering" not in text_of(anna[0])
    assert "Review" in text_of(erik[0]) and "Ärendehantering" in text_of(erik[0])  # Erik reads English
    assert len(sam) == 1 and "Intranät" in text_of(sam[0]) and "Scenografiarkiv" in text_of(sam[0])

    found = await assets(bot)
    ticket = found["Biljettsystem"]
    value = button_value(anna[0].params["blocks"], "classification_review", containing="Biljettsystem")
    form = await click_in_message(bot, ANNA, anna[0], "classification_review", value)
    assert form["callback_id"] == "classification_review_form"
    assert "K2 R2 T3" in str(form["blocks"][0])  # the current classification in the intro
    levels = next(b for b in form["blocks"] if b.get("block_id") == "availability")
    assert levels["element"]["initial_option"]["value"] == "3"
    assert [o["text"]["text"] for o in levels["element"]["options"]] == [
        "0 – Ingen/försumbar", "1 – Måttlig", "2 – Betydande", "3 – Allvarlig", "4 – Synnerligen allvarlig"]

    bad = await bot.slack.submit(ANNA, form, {
        "confidentiality": None, "integrity": "2", "availability": "3", "classified_on": "2026-12-24",
        "method": "KLASSA", "continuity_plan": "no", "last_exercised": "2026-01-01", "new_actions": "Kryptera; 2027-13-01"})
    assert bad.json["response_action"] == "errors"
    assert bad.json["errors"] == {
        "confidentiality": "Välj en nivå (0–4).", "classified_on": "Datumet ligger i framtiden.",
        "last_exercised": "En plan som inte finns kan inte ha övats – svara Ja på frågan om kontinuitetsplan eller ta bort datumet.",
        "new_actions": bad.json["errors"]["new_actions"]}
    assert "Rad 1" in bad.json["errors"]["new_actions"]
    bad = await bot.slack.submit(ANNA, form, {"confidentiality": "2", "integrity": "2", "availability": "3",
                                              "classified_on": "2025-09-01", "method": "KLASSA"})
    assert bad.json["errors"] == {
        "classified_on": "Datumet ligger före den senaste klassningen (2025-10-01).",
        "continuity_plan": "Svara om det finns en kontinuitetsplan: den krävs när Tillgänglighet är 2 eller högre "
                           "eller tillgången är viktig för kontinuiteten."}
    assert len(await rows(bot, Classification, Classification.asset_id == ticket.id)) == 1  # nothing stored

    ok = await bot.slack.submit(ANNA, form, {
        "confidentiality": "2", "integrity": "3", "availability": "3", "classified_on": TODAY.isoformat(),
        "method": "KLASSA", "method_version": "2024", "continuity_plan": "yes", "last_exercised": "2026-10-15",
        "new_actions": "Inför tvåfaktorsinloggning; 2027-03-31\n- Logga administratörsåtkomst"})
    assert ok.json["response_action"] == "update", ok.json
    assert "Nästa översyn: 2027-11-25" in str(ok.json["view"])
    history = await rows(bot, Classification, Classification.asset_id == ticket.id, order=Classification.id)
    assert [(c.confidentiality, c.integrity, c.availability, c.classified_on, c.source) for c in history] == [
        (2, 2, 3, date(2025, 10, 1), "import"), (2, 3, 3, TODAY, "round")]
    assert history[1].classified_by == people[ANNA] and history[1].method_version == "2024"
    assert history[1].next_review == date(2027, 11, 25) and (await assets(bot))["Biljettsystem"].next_review == date(2027, 11, 25)
    items = await rows(bot, ActionItem, ActionItem.asset_id == ticket.id, order=ActionItem.id)
    assert [(i.requirement, i.due, i.status, i.owner_id, i.classification_id) for i in items] == [
        ("Inför tvåfaktorsinloggning", date(2027, 3, 31), "not_started", people[ANNA], history[1].id),
        ("Logga administratörsåtkomst", None, "not_started", people[ANNA], history[1].id)]
    [plan] = await rows(bot, ContinuityPlan, ContinuityPlan.asset_id == ticket.id)
    assert (plan.has_plan, plan.last_exercised, plan.next_exercise_due) == (True, date(2026, 10, 15), date(2027, 10, 15))
    [request] = await rows(bot, RoundRequest, RoundRequest.asset_id == ticket.id)
    assert request.answered_at == T0 and request.next_reminder_at is None
    # The owner's message now shows the review, in place.
    update = (await bot.fake.wait_for("chat.update"))[-1]
    assert update.params["ts"] == anna[0].response["ts"]
    assert "Granskad 2026-11-25" in str(update.params["blocks"]) and "1 kvar" in str(update.params["blocks"])

    # Reviewing again: the action plan moves on, and the history grows.
    form = await click_in_message(bot, ANNA, anna[0], "classification_review", value)
    first = items[0]
    assert next(b for b in form["blocks"] if b.get("block_id") == f"action_{first.id}")["element"][
        "initial_option"]["value"] == "not_started"
    ok = await bot.slack.submit(ANNA, form, {
        "confidentiality": "2", "integrity": "3", "availability": "3", "classified_on": TODAY.isoformat(),
        "method": "KLASSA", "continuity_plan": "yes", "last_exercised": "2026-10-15",
        f"action_{first.id}": "in_progress", f"action_{items[1].id}": "risk_accepted"})
    assert ok.json["response_action"] == "update"
    assert [i.status for i in await rows(bot, ActionItem, ActionItem.asset_id == ticket.id, order=ActionItem.id)] == [
        "in_progress", "risk_accepted"]
    assert len(await rows(bot, Classification, Classification.asset_id == ticket.id)) == 3


async def test_owners_may_review_only_their_own_assets(bot, people):
    await register(bot)
    salary = (await assets(bot))["Lönesystem"]
    screen = await open_view(bot, lambda: bot.slack.command(ERIK, command="/klassning"))
    assert "Ärendehantering" in str(screen) and "Lönesystem" not in str(screen)
    denied = await click_in_modal(bot, ERIK, screen, "classification_review", str(salary.id))
    assert "You can only review and edit assets" in str(denied)
    denied = await click_in_modal(bot, ERIK, screen, "classification_edit", str(salary.id))
    assert "You can only review and edit assets" in str(denied)
    # A person with no assets and no role is told so.
    bot.fake.add_user("U0OLLE", name="olle", real_name="Olle Ingen", email="olle@example.se")
    nothing = await open_view(bot, lambda: bot.slack.command("U0OLLE", command="/klassning"))
    assert "inte objektledare för någon informationstillgång" in str(nothing)


async def test_cli_start_asks_each_owner_once_and_lists_who_cannot_be_asked(bot, people):
    await register(bot)
    # The command line runs on the real clock; the bot's frozen clock follows it here.
    due = real_today() + timedelta(days=14)
    code, out, err = await lisbot(bot, "classification", "start", "--due", due.isoformat())
    assert code == 0, out + err
    assert f"5 tillgångar, 2 objektledare får ett meddelande. Svar senast {due}" in out
    assert "Intranät – ingen objektledare" in out and "finns inte i Slack" in out
    bot.runtime.clock.set(datetime.now(timezone.utc) + timedelta(days=7))  # surely in someone's working hours
    await bot.deliver()
    assert len(dms(bot, ANNA)) == 1 and len(dms(bot, ERIK)) == 1 and len(dms(bot, SAM)) == 1
    # A second start leaves out what is already being asked.
    code, out, err = await lisbot(bot, "classification", "start")
    assert code == 1 and "alla 5 tillgångar ingår redan i en runda som pågår" in out
    code, out, err = await lisbot(bot, "classification", "start", "--due", "2020-01-01")
    assert code == 2 and "--due" in err


def real_today() -> date:
    return datetime.now(ZoneInfo("Europe/Stockholm")).date()


# ---- reminders and escalation ----------------------------------------------------------------------------


async def test_reminders_in_working_hours_then_one_escalation_to_the_coordinators(bot, people, clock):
    await register(bot)
    await start_in_slack(bot, "2026-12-09")  # Wednesday 25 Nov, 14:00 in Stockholm
    await bot.deliver()
    erik_prompt = dms(bot, ERIK)[0]
    form = await click_in_message(bot, ERIK, erik_prompt, "classification_review",
                                  button_value(erik_prompt.params["blocks"], "classification_review"))
    ok = await bot.slack.submit(ERIK, form, {"confidentiality": "1", "integrity": "2", "availability": "1",
                                             "classified_on": TODAY.isoformat(), "method": "KLASSA"})
    assert ok.json["response_action"] == "update", ok.json

    def reminders(user):
        return [c for c in dms(bot, user) if "Påminnelse" in text_of(c) or "Reminder" in text_of(c)]

    def escalations():
        return [c for c in dms(bot, SAM) if "inte granskade efter" in text_of(c)]

    await ticks(bot, T0 + timedelta(days=6, hours=23))  # Tuesday 1 Dec: four working days
    assert reminders(ANNA) == []
    await ticks(bot, T0 + timedelta(days=7))  # Wednesday 2 Dec, 14:00: five working days
    assert len(reminders(ANNA)) == 1 and reminders(ERIK) == []  # Erik has answered
    assert "2 tillgångar väntar" in text_of(reminders(ANNA)[0])
    await ticks(bot, T0 + timedelta(days=13, hours=6))  # Tuesday 8 Dec, 20:00: the time falls after hours
    assert len(reminders(ANNA)) == 1
    await ticks(bot, T0 + timedelta(days=14))  # Wednesday 9 Dec
    assert len(reminders(ANNA)) == 2 and escalations() == []
    await ticks(bot, T0 + timedelta(days=21))  # Wednesday 16 Dec: no third reminder, one escalation
    assert len(reminders(ANNA)) == 2
    [escalation] = escalations()
    assert "Lönesystem" in text_of(escalation) and "Biljettsystem" in text_of(escalation)
    assert "Anna Andersson har inte svarat" in text_of(escalation) and "Ärendehantering" not in text_of(escalation)
    await ticks(bot, T0 + timedelta(days=35))
    assert len(escalations()) == 1 and len(reminders(ANNA)) == 2
    # The round is over: a new one asks Anna again about what she left unanswered.
    before = len(dms(bot, ANNA))
    started = await start_in_slack(bot, "2027-01-15")
    assert "5 tillgångar, 2 objektledare" in str(started)
    await bot.deliver()
    assert len(dms(bot, ANNA)) == before + 1 and "Påminnelse" not in text_of(dms(bot, ANNA)[-1])
    # The routine: Erik answered on time; Anna's two are missing after the due date.
    async with bot.db.transaction() as session:
        routine = (await coverage(session, people["org"], date(2026, 12, 30))).routine
    assert (routine.on_time, routine.late, routine.missing, routine.pending, routine.asked) == (1, 0, 4, 5, 5)


async def test_after_downtime_one_reminder_not_a_burst(bot, people, clock):
    await register(bot)
    await start_in_slack(bot)
    await ticks(bot, T0)
    await ticks(bot, T0 + timedelta(days=27))  # the bot was down for four weeks (Tuesday 22 Dec)
    assert len([c for c in dms(bot, ANNA) if "Påminnelse" in text_of(c)]) == 1
    assert [c for c in dms(bot, SAM) if "inte granskade efter" in text_of(c)] == []


async def test_an_owner_handed_over_during_the_round_gets_asked(bot, people, clock):
    await register(bot)
    await start_in_slack(bot)
    intranet = (await assets(bot))["Intranät"]
    screen = await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning"))
    assert "Utan objektledare (1)" in str(screen)
    form = await click_in_modal(bot, SAM, screen, "classification_edit",
                                button_value(screen, "classification_edit", containing="Intranät"))
    assert form["callback_id"] == "classification_edit_form"
    ok = await bot.slack.submit(SAM, form, {
        "name": "Intranät", "kind": "service", "owner": ERIK, "personal_data": "no", "special_categories": "no",
        "continuity_relevant": "no", "active": "yes"})
    assert ok.json["response_action"] == "update", ok.json
    assert (await assets(bot))["Intranät"].owner_id == people[ERIK]
    await bot.deliver()
    erik = dms(bot, ERIK)
    [handed] = [c for c in erik if "Intranät" in text_of(c)]
    assert len(erik) == 2 and "Reminder" not in text_of(handed), text_of(handed)
    assert "your 2 information assets" in handed.params["text"]
    [request] = await rows(bot, RoundRequest, RoundRequest.asset_id == intranet.id)
    assert request.owner_id == people[ERIK] and request.next_reminder_at is not None
    await ticks(bot, T0 + timedelta(minutes=1))
    assert len(dms(bot, ERIK)) == 2  # nothing more until a reminder is due
    # Taken away from everyone: the coordinators hear of it at the next tick.
    form = await click_in_modal(bot, SAM, screen, "classification_edit", str(intranet.id))
    ok = await bot.slack.submit(SAM, form, {"name": "Intranät", "kind": "service", "owner": None,
                                            "personal_data": "no", "special_categories": "no",
                                            "continuity_relevant": "no", "active": "yes"})
    assert ok.json["response_action"] == "update", ok.json
    await ticks(bot, T0 + timedelta(minutes=2))
    told = [c for c in dms(bot, SAM) if "inte granskade" in text_of(c)]
    assert len(told) == 1 and "Intranät* – ingen objektledare gick inte att nå" in text_of(told[0])


async def test_an_owner_slack_cannot_reach_is_escalated_not_dropped(bot, people, clock):
    await register(bot)
    async with bot.db.transaction() as session:
        (await session.get(Person, people[ANNA])).slack_user_id = "XGONE"  # her account is gone from Slack
    await start_in_slack(bot)
    await bot.deliver()
    assert len(await rows(bot, OutboxMessage, OutboxMessage.status == "failed")) == 1
    await ticks(bot, T0 + timedelta(days=7))
    told = [c for c in dms(bot, SAM) if "inte granskade" in text_of(c)]
    assert len(told) == 1 and "Anna Andersson gick inte att nå" in text_of(told[0])
    assert "Lönesystem" in text_of(told[0]) and "Biljettsystem" in text_of(told[0])
    assert len([c for c in dms(bot, ERIK) if "Reminder" in text_of(c)]) == 1  # Erik is reminded as usual


async def test_a_new_owner_in_the_register_file_is_asked_at_once(bot, people, tmp_path):
    await register(bot)
    await start_in_slack(bot)
    changed = (DATA / "assets_excel_cp1252.csv").read_bytes().replace(
        "Intranät;;Tjänst;;".encode("cp1252"), "Intranät;;Tjänst;erik@example.se;".encode("cp1252"))
    path = tmp_path / "ny-objektledare.csv"
    path.write_bytes(changed)
    code, out, err = await lisbot(bot, "import", "assets", str(path))
    assert code == 0 and "0 nya, 1 ändrade, 4 oförändrade" in out, out + err
    bot.runtime.clock.set(datetime.now(timezone.utc) + timedelta(days=7))  # the command line's clock is real
    await bot.deliver()
    assert len([c for c in dms(bot, ERIK) if "Intranät" in text_of(c)]) == 1


# ---- the schedule ---------------------------------------------------------------------------------------


async def test_scheduled_round_asks_about_what_is_due_once(bot, people, clock):
    await register(bot)
    async with bot.db.transaction() as session:
        # Lönesystem's review falls within the notice period; Scenografiarkiv's later.
        salary = (await session.execute(select(Asset).where(Asset.name == "Lönesystem"))).scalar_one()
        salary.next_review = TODAY + timedelta(days=20)
        await session.execute(select(Classification))
        last = (await session.execute(select(Classification).where(Classification.asset_id == salary.id))).scalar_one()
        last.next_review = salary.next_review
    await ticks(bot, T0)
    [round_] = await rows(bot, ClassificationRound)
    assert round_.kind == "scheduled" and round_.due == TODAY + timedelta(days=14)
    asked = {a.name for a in (await assets(bot)).values()
             if a.id in {r.asset_id for r in await rows(bot, RoundRequest)}}
    # Due soon, overdue and never classified; not Intranät (2027-06-15) nor Scenografiarkiv (2027-09-01).
    assert asked == {"Lönesystem", "Biljettsystem", "Ärendehantering"}
    assert len(dms(bot, ANNA)) == 1 and len(dms(bot, ERIK)) == 1
    await ticks(bot, T0 + timedelta(hours=1))
    await ticks(bot, T0 + timedelta(days=1))
    assert len(await rows(bot, ClassificationRound)) == 1 and len(dms(bot, ANNA)) == 1
    # Months later the intranet's review comes near: a new round asks about it alone.
    await ticks(bot, datetime(2027, 5, 20, 9, 0, tzinfo=timezone.utc))
    rounds = await rows(bot, ClassificationRound, order=ClassificationRound.id)
    assert len(rounds) == 2
    intranet = (await assets(bot))["Intranät"]
    assert [r.asset_id for r in await rows(bot, RoundRequest, RoundRequest.round_id == rounds[1].id)] == [intranet.id]


async def test_an_asset_nobody_answers_for_is_listed_again_after_a_while_not_daily(bot, people, clock):
    await register(bot)
    async with bot.db.transaction() as session:
        intranet = (await session.execute(select(Asset).where(Asset.name == "Intranät"))).scalar_one()
        intranet.next_review = TODAY + timedelta(days=10)

    def gap_messages():
        return [c for c in dms(bot, SAM) if "ingen att fråga" in text_of(c) and "Intranät" in text_of(c)]

    await ticks(bot, T0)
    assert len(gap_messages()) == 1
    for day in (1, 14, 25, 40):  # up to 4 January: the round's due date (9 Dec) plus the notice period is 8 Jan
        await ticks(bot, T0 + timedelta(days=day))
    assert len(gap_messages()) == 1
    await ticks(bot, datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc))
    assert len(gap_messages()) == 2
    rounds = await rows(bot, ClassificationRound, order=ClassificationRound.id)
    assert intranet.id in {r.asset_id for r in await rows(bot, RoundRequest, RoundRequest.round_id == rounds[-1].id)}


# ---- history ---------------------------------------------------------------------------------------------


async def test_history_is_intact_after_reclassification(bot, people, clock, tmp_path):
    await register(bot)
    salary = (await assets(bot))["Lönesystem"]
    [imported] = await rows(bot, Classification, Classification.asset_id == salary.id)
    before = {c: getattr(imported, c) for c in Classification.__table__.columns.keys()}
    async def review_form():
        screen = await open_view(bot, lambda: bot.slack.command(ANNA, command="/klassning", text="mina"))
        return await click_in_modal(bot, ANNA, screen, "classification_review", str(salary.id))

    for day, levels in ((T0, ("4", "3", "3")), (T0 + timedelta(days=40), ("4", "4", "3"))):
        clock.set(day)
        form = await review_form()
        ok = await bot.slack.submit(ANNA, form, dict(zip(("confidentiality", "integrity", "availability"), levels),
                                                     classified_on=day.date().isoformat(), method="KLASSA",
                                                     continuity_plan="yes", last_exercised="2026-05-10"))
        assert ok.json["response_action"] == "update", ok.json
    # A re-import with other levels adds to the history too; nothing is overwritten.
    changed = (DATA / "assets_excel_cp1252.csv").read_bytes().replace(
        b";3;3;2;2026-03-01;", b";2;2;2;2026-04-01;")
    path = tmp_path / "omklassat.csv"
    path.write_bytes(changed)
    code, out, err = await lisbot(bot, "import", "assets", str(path))
    assert code == 0, out + err
    history = await rows(bot, Classification, Classification.asset_id == salary.id, order=Classification.id)
    assert [(c.confidentiality, c.integrity, c.availability, c.classified_on, c.source) for c in history] == [
        (3, 3, 2, date(2026, 3, 1), "import"), (4, 3, 3, TODAY, "edit"), (4, 4, 3, date(2027, 1, 4), "edit"),
        (2, 2, 2, date(2026, 4, 1), "import")]
    assert {c: getattr(history[0], c) for c in before} == before
    # The latest by date decides the next review, whatever order the rows came in.
    assert (await assets(bot))["Lönesystem"].next_review == date(2028, 1, 4)
    form = await review_form()
    assert "4 tidigare klassningar" in str(form["blocks"][0]) and "K4 R4 T3" in str(form["blocks"][0])


# ---- coverage, checked by hand ----------------------------------------------------------------------------


async def known_data(bot, people) -> None:
    """The imported register (see the hand count below) plus action items and two rounds."""
    await register(bot)
    found = await assets(bot)
    async with bot.db.transaction() as session:
        for asset, status, due in (("Lönesystem", "done", None), ("Lönesystem", "in_progress", date(2026, 10, 1)),
                                   ("Biljettsystem", "not_started", date(2027, 1, 1)),
                                   ("Biljettsystem", "risk_accepted", None), ("Intranät", "not_started", date(2026, 1, 1)),
                                   ("Ärendehantering", "done", None)):
            session.add(ActionItem(asset_id=found[asset].id, requirement=f"Krav för {asset}", status=status, due=due,
                                   updated_at=T0))
        # A round in the spring: due 2026-04-30; three asked, one answered on time, one late, one never.
        spring = ClassificationRound(org_id=people["org"], kind="manual", due=date(2026, 4, 30),
                                     started_at=datetime(2026, 4, 1, 8, tzinfo=timezone.utc))
        # A round still running: due 2026-12-09; one answered, one pending.
        autumn = ClassificationRound(org_id=people["org"], kind="scheduled", due=date(2026, 12, 9),
                                     started_at=datetime(2026, 11, 20, 8, tzinfo=timezone.utc))
        # Too old for the year's routine.
        old = ClassificationRound(org_id=people["org"], kind="manual", due=date(2025, 3, 1),
                                  started_at=datetime(2025, 2, 1, 8, tzinfo=timezone.utc))
        session.add_all([spring, autumn, old])
        await session.flush()
        for round_, asset, answered in (
                (spring, "Lönesystem", datetime(2026, 4, 30, 21, 30, tzinfo=timezone.utc)),  # 23:30 local: on time
                (spring, "Biljettsystem", datetime(2026, 4, 30, 22, 30, tzinfo=timezone.utc)),  # 1 May local: late
                (spring, "Ärendehantering", None),
                (autumn, "Intranät", datetime(2026, 11, 21, 9, tzinfo=timezone.utc)),
                (autumn, "Scenografiarkiv; ritningar", None),
                (old, "Lönesystem", None)):
            session.add(RoundRequest(round_id=round_.id, asset_id=found[asset].id, owner_id=found[asset].owner_id,
                                     answered_at=answered, reminders_sent=0))


async def test_coverage_matches_a_hand_count(bot, people):
    await known_data(bot, people)
    async with bot.db.transaction() as session:
        c = await coverage(session, people["org"], TODAY, rules=Rules())
    # Valid on 2026-11-25: Lönesystem (next review 2027-03-01), Intranät (2027-06-15), Scenografiarkiv
    # (2027-09-01). Overdue: Biljettsystem (2026-10-01). Never classified: Ärendehantering.
    assert (c.assets, c.classified, c.valid, c.overdue, c.unclassified, c.due_soon) == (5, 4, 3, 1, 1, 0)
    assert c.valid_share == pytest.approx(0.6)
    assert [(key, d.department, d.assets, d.valid, d.valid_share) for key, d in c.by_department.items()] == [
        ("Ekonomi", "Ekonomi", 2, 1, 0.5), ("Publik", "Publik", 1, 0, 0.0), ("Scenkonst", "Scenkonst", 1, 1, 1.0),
        ("", None, 1, 1, 1.0)]
    # K: Scenografiarkiv 0, Intranät 1, Biljettsystem 2, Lönesystem 3; R: 2, 1, 2, 3; T: 1, 1, 3, 2.
    assert c.levels == {"confidentiality": [1, 1, 1, 1, 0], "integrity": [0, 1, 2, 1, 0],
                        "availability": [0, 2, 1, 1, 0]}
    assert c.actions == {"not_started": 2, "in_progress": 1, "done": 2, "risk_accepted": 1}
    assert c.actions_overdue == 2  # Lönesystem's (2026-10-01) and Intranät's (2026-01-01)
    # Needed: Lönesystem (marked, T2) and Biljettsystem (T3); only Lönesystem has a plan, exercised 2026-05-10.
    assert (c.continuity_needed, c.continuity_present, c.continuity_exercised) == (2, 1, 1)
    assert (c.personal_data, c.special_categories, c.personal_data_without_ropa) == (3, 1, 1)
    assert (c.without_owner, c.owner_unreachable) == (1, 1)
    r = c.routine
    assert (r.rounds, r.on_time, r.late, r.missing, r.pending, r.asked) == (2, 2, 1, 1, 1, 4)
    assert r.on_time_share == pytest.approx(0.5)
    assert (c.actions_total, c.actions_closed) == (6, 3)
    # A stricter local rule changes what needs a plan: T3 and above, or marked.
    async with bot.db.transaction() as session:
        strict = await coverage(session, people["org"], TODAY, rules=Rules(continuity_min_availability=3))
    assert (strict.continuity_needed, strict.continuity_present) == (2, 1)
    async with bot.db.transaction() as session:
        later = await coverage(session, people["org"], date(2027, 3, 2), rules=Rules())
    assert (later.valid, later.overdue) == (2, 2)  # Lönesystem's review has passed by then

    # The management review's section, from the same figures as plain values (as issue 6 passes them).
    import dataclasses
    import json

    plain = json.loads(json.dumps(dataclasses.asdict(c), default=str))
    pct = lambda share: "–" if share is None else f"{round(100 * share)} %"  # noqa: E731
    section = bot.runtime.svc.texts.render("review/sv-classification.md.j2", c=plain, pct=pct, t=None)
    assert "**3** av dem har en giltig klassning (60 %)" in section
    assert "| Ekonomi | 1 | 2 | 50 % |" in section and "| Utan avdelning | 1 | 1 | 100 % |" in section
    assert "| Konfidentialitet | 1 | 1 | 1 | 1 | 0 |" in section and "| Tillgänglighet | 0 | 2 | 1 | 1 | 0 |" in section
    assert "besvarades 2 i tid (50 %), 1 för sent och 1 inte alls; 1 väntar fortfarande på svar" in section
    english = bot.runtime.svc.texts.render("review/en-classification.md.j2", c=plain, pct=pct, t=None)
    assert "**3** of them have a valid classification (60 %)" in english
    for name in ("Anna", "Holger", "Lönesystem", "example.se"):
        assert name not in section and name not in english

    # The coordinators see the same figures in Slack; names only in the lists.
    screen = str(await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning")))
    assert "3 av 5" in screen and "(60 %)" in screen
    assert "Ekonomi: 1 av 2 (50 %)" in screen and "Utan avdelning: 1 av 1 (100 %)" in screen
    assert "Konfidentialitet (K): 1 / 1 / 1 / 1 / 0" in screen
    assert "ej påbörjade 2, pågår 1, klara 2, risk accepterad 1; försenade 2" in screen
    assert "behövs för 2 tillgångar" in screen and "finns för 1, övade senaste 12 månaderna för 1" in screen
    assert "2 av 4 förfrågningar besvarade i tid (50 %); sent 1, obesvarade 1, väntar på svar 1" in screen
    assert "Utan objektledare (1)" in screen and "Intranät" in screen
    assert "Holger Hr (hr.only@example.se) finns inte i Slack" in screen
    assert "Biljettsystem* – skulle ses över 2026-10-01" in screen
    # `lisbot classification status` prints the same, as of the real today (the command line's clock).
    from bot.console import blocks_text
    from handlers.classification import coverage_blocks, status_of

    bot.runtime.clock.set(datetime.now(timezone.utc))
    code, out, err = await lisbot(bot, "classification", "status")
    assert code == 0, out + err
    expected = blocks_text(coverage_blocks(bot.runtime.svc, "sv", await status_of(bot.runtime.svc, people["org"]),
                                           buttons=False))
    assert out.rstrip("\n") == "\n".join(expected)
    assert "Utan objektledare (1)" in out and "• Intranät – ingen objektledare" in out
    code, out, err = await lisbot(bot, "classification", "status", lang="en")
    assert code == 0 and "Without an object owner (1)" in out


async def test_coverage_names_nobody(bot, people):
    """What the management review gets: numbers and department names only."""
    await known_data(bot, people)
    async with bot.db.transaction() as session:
        c = await coverage(session, people["org"], TODAY)
    flat = repr(c)
    for name in ("Anna", "Erik", "Holger", "example.se", "Lönesystem"):
        assert name not in flat


# ---- the register in Slack -------------------------------------------------------------------------------


async def test_coordinators_add_and_edit_assets_and_owners_edit_their_own(bot, people):
    await register(bot)
    screen = await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning"))
    form = await click_in_modal(bot, SAM, screen, "classification_new_asset", "")
    assert form["callback_id"] == "classification_edit_form"
    bad = await bot.slack.submit(SAM, form, {"name": "lönesystem", "kind": "system", "personal_data": "no",
                                             "special_categories": "yes", "continuity_relevant": "no"})
    assert bad.json["errors"] == {"special_categories": "Känsliga personuppgifter är personuppgifter – svara Ja på "
                                                        "frågan om personuppgifter."}
    bad = await bot.slack.submit(SAM, form, {"name": "lönesystem", "kind": "system", "personal_data": "no",
                                             "special_categories": "no", "continuity_relevant": "no"})
    assert bad.json["errors"] == {"name": "Det finns redan en tillgång med det namnet."}
    departments = {d.name: d.id for d in await rows(bot, Department)}
    ok = await bot.slack.submit(SAM, form, {"name": "Passersystem", "kind": "system", "owner": ANNA,
                                            "department": str(departments["Publik"]), "personal_data": "yes",
                                            "special_categories": "no", "continuity_relevant": "yes",
                                            "ropa_reference": "RF-20"})
    assert ok.json["response_action"] == "update", ok.json
    new = (await assets(bot))["Passersystem"]
    assert (new.owner_id, new.department_id, new.personal_data, new.continuity_relevant, new.ropa_reference) == (
        people[ANNA], departments["Publik"], True, True, "RF-20")
    # Anna edits her own asset, but may not retire it; Sam may.
    mine = await open_view(bot, lambda: bot.slack.command(ANNA, command="/klassning"))
    form = await click_in_modal(bot, ANNA, mine, "classification_edit", str(new.id))
    assert "active" not in {b.get("block_id") for b in form["blocks"]}
    ok = await bot.slack.submit(ANNA, form, {"name": "Passersystem", "description": "Kort & <kod>", "kind": "system",
                                             "owner": ANNA, "department": str(departments["Publik"]),
                                             "personal_data": "yes", "special_categories": "no",
                                             "continuity_relevant": "yes", "supplier": "Axis"})
    assert ok.json["response_action"] == "update", ok.json
    edited = (await assets(bot))["Passersystem"]
    assert (edited.description, edited.supplier, edited.active) == ("Kort & <kod>", "Axis", True)
    found = await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning", text="passer"))
    form = await click_in_modal(bot, SAM, found, "classification_edit", str(new.id))
    ok = await bot.slack.submit(SAM, form, {"name": "Passersystem", "kind": "system", "owner": ANNA,
                                            "personal_data": "yes", "special_categories": "no",
                                            "continuity_relevant": "yes", "active": "no"})
    assert ok.json["response_action"] == "update", ok.json
    assert (await assets(bot))["Passersystem"].active is False
    async with bot.db.transaction() as session:
        assert (await coverage(session, people["org"], TODAY)).assets == 5  # retired assets are not counted


async def test_home_section_for_coordinators_and_owners(bot, people):
    from handlers.classification import home_blocks

    await register(bot)
    sam = await bot.runtime.slack.actor(TEAM, SAM)
    anna = await bot.runtime.slack.actor(TEAM, ANNA)
    svc = bot.runtime.svc
    assert "3 av 5 tillgångar har giltig klassning (60 %)" in str(await home_blocks(svc, sam))
    assert "objektledare för 2 tillgångar; 1 behöver granskas" in str(await home_blocks(svc, anna))
    olle = await bot.runtime.slack.actor(TEAM, "U0NOBODY", learn_profile=False)
    assert await home_blocks(svc, olle) == []


async def test_every_view_and_message_is_valid_block_kit(bot, people):
    """The fake rejects invalid blocks; nothing it received was refused."""
    await register(bot)
    await start_in_slack(bot)
    await bot.deliver()
    await open_view(bot, lambda: bot.slack.command(SAM, command="/klassning"))
    refused = [c for c in bot.fake.calls if not c.ok and c.method.startswith(("chat.", "views."))]
    assert refused == []
    async with bot.db.transaction() as session:
        failed = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "failed"))).scalar_one()
    assert failed == 0


def test_months_are_added_the_way_people_count_them():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 25), 12) == date(2027, 11, 25)
    assert add_months(date(2026, 3, 1), -12) == date(2025, 3, 1)
