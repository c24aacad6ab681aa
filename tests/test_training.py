"""Issue #4: everyone confirms the year's mandatory training; managers see and act on their team's status."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from storage.models import Department, Person, PersonRole, TrainingAssignment, TrainingCompletion
from tests.conftest import T0, bot_settings, eventually
from tests.test_followup import dms_to
from tests.test_incident_report import ANNA, ERIK, SAM

BOSS, NEWBIE = "U0BOSS", "U0NEW"
COURSES = "Informationssäkerhet grund\nDataskydd grund"


@pytest.fixture
async def team(bot):
    """Bo manages Anna and Erik in Scen; Sam is the coordinator (in Kansli)."""
    bot.fake.add_user(BOSS, name="bo", real_name="Bo Chef", email="bo@example.se")
    people = {u: await bot.runtime.slack.actor("T0001", u) for u in (ANNA, ERIK, SAM, BOSS)}
    async with bot.db.transaction() as session:
        org_id = people[ANNA].org_id
        scen, kansli = Department(org_id=org_id, name="Scen"), Department(org_id=org_id, name="Kansli")
        session.add_all([scen, kansli])
        await session.flush()
        session.add(PersonRole(person_id=people[SAM].person_id, role="informationssakerhetssamordnare"))
        session.add(PersonRole(person_id=people[BOSS].person_id, role="chef"))
        for user, dept in ((ANNA, scen), (ERIK, scen), (BOSS, scen), (SAM, kansli)):
            person = await session.get(Person, people[user].person_id)
            person.department_id = dept.id
            person.name = {ANNA: "Anna Andersson", ERIK: "Erik Eriksson", BOSS: "Bo Chef", SAM: "Sam Samordnare"}[user]
            if user in (ANNA, ERIK):
                person.manager_id = people[BOSS].person_id
    return people


async def start(bot, user=SAM, **values):
    before = len(bot.fake.calls_to("views.open"))
    await bot.slack.command(user, command="/utbildning", text="start")
    form = (await bot.fake.wait_for("views.open", before + 1))[-1].response["view"]
    filled = {"courses": COURSES, "deadline": date(2026, 12, 31), "joiner_days": "30", "remind_every_days": "5",
              "max_reminders": "2"}
    filled.update(values)
    return form, await bot.slack.submit(user, form, filled)


def prompts(bot, user):
    return [m for m in dms_to(bot, user) if "training_done" in m]


async def assignment(bot, user_actor) -> TrainingAssignment:
    async with bot.db.transaction() as session:
        return (await session.execute(select(TrainingAssignment).where(
            TrainingAssignment.person_id == user_actor.person_id))).scalar_one()


def last_dm(bot, user, containing: str = "") -> tuple[str, str]:
    """Where the latest message in the person's DM is (containing a text, if given): Slack's channel and ts."""
    dm = {user} | {c.response["channel"] for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == user}
    call = [c for c in bot.fake.calls_to("chat.postMessage")
            if c.params["channel"] in dm and containing in str(c.params.get("blocks"))][-1]
    return call.response["channel"], call.response["ts"]


async def press(bot, user, action, value):
    """Press a button on the latest message carrying it in the user's DM."""
    channel, ts = last_dm(bot, user, action)
    return await bot.slack.click(user, action, str(value),
                                 container={"type": "message", "channel_id": channel, "message_ts": ts})


async def press_for_form(bot, user, action, value) -> dict:
    """Press a button that opens a form; returns the form as Slack opened it."""
    before = len(bot.fake.calls_to("views.open"))
    await press(bot, user, action, value)
    return (await bot.fake.wait_for("views.open", before + 1))[-1].response["view"]


async def test_a_coordinator_starts_the_campaign_and_everyone_is_asked_once(bot, team):
    form, reply = await start(bot)
    assert reply.json["response_action"] == "update"
    assert "4 personer får frågan" in str(reply.json["view"])
    await bot.runtime.tick()
    await bot.runtime.tick()
    await bot.deliver()
    for user in (ANNA, ERIK, SAM, BOSS):
        assert len(prompts(bot, user)) == 1, user
    anna = prompts(bot, ANNA)[0]
    assert "Informationssäkerhet grund" in anna and "2026-12-31" in anna
    assert "Have you completed" in prompts(bot, ERIK)[0]  # Erik reads English
    # Starting again the same year changes nothing.
    _, again = await start(bot)
    assert "redan startad" in str(again.json["view"])


async def test_only_coordinators_start_campaigns(bot, team):
    await bot.slack.command(ANNA, command="/utbildning", text="start")
    view = str((await bot.fake.wait_for("views.open"))[-1].params["view"])
    assert "Bara informationssäkerhetssamordnare" in view


async def test_bad_campaign_settings_are_shown_on_the_field(bot, team):
    form, reply = await start(bot, courses="  ", deadline=date(2026, 1, 1), remind_every_days="0",
                              exempt="inte-en-adress")
    assert set(reply.json["errors"]) == {"courses", "deadline", "remind_every_days", "exempt"}
    _, reply = await start(bot, exempt="okand@example.se")
    assert reply.json["errors"] == {"exempt": "Finns inte i katalogen: okand@example.se"}


async def test_prompts_wait_for_working_hours_in_each_persons_time_zone(bot, team, clock):
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc))  # a Saturday
    await start(bot)
    await bot.runtime.tick()
    await bot.deliver()
    assert prompts(bot, ANNA) == []
    clock.set(datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc))  # Monday 08:30 Stockholm, 07:30 London
    await bot.deliver()
    assert len(prompts(bot, ANNA)) == 1 and prompts(bot, ERIK) == []
    clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc))  # 08:00 in London
    await bot.deliver()
    assert len(prompts(bot, ERIK)) == 1


async def test_done_records_the_date_and_updates_the_prompt(bot, team, clock):
    await start(bot)
    await bot.runtime.tick()
    await bot.deliver()
    a = await assignment(bot, team[ANNA])
    where = last_dm(bot, ANNA, "training_done")
    form = await press_for_form(bot, ANNA, "training_done", a.id)
    bad = await bot.slack.submit(ANNA, form, {"completed_on": date(2026, 12, 24)})
    assert bad.json["errors"] == {"completed_on": "Datumet ligger i framtiden."}
    ok = await bot.slack.submit(ANNA, form, {"completed_on": date(2026, 11, 20)})
    assert "2026-11-20" in str(ok.json["view"])
    update = (await bot.fake.wait_for("chat.update"))[-1]
    assert (update.params["channel"], update.params["ts"]) == where
    assert "training_done" not in str(update.params)  # the buttons are gone
    a = await assignment(bot, team[ANNA])
    assert (a.status, a.completed_on) == ("done", date(2026, 11, 20))
    async with bot.db.transaction() as session:
        [evidence] = (await session.execute(select(TrainingCompletion))).scalars().all()
    assert (evidence.source, evidence.recorded_by) == ("self", team[ANNA].person_id)
    clock.advance(timedelta(days=30))
    await bot.runtime.tick()
    await bot.deliver()
    assert len(prompts(bot, ANNA)) == 1  # no reminders after answering


async def test_reminders_then_one_message_to_the_manager_who_can_nudge_or_confirm(bot, team, clock):
    await start(bot)  # remind every 5 working days, at most 2 reminders
    for day in range(0, 40):
        clock.set(T0 + timedelta(days=day))
        await bot.runtime.tick()
        await bot.deliver()
    assert len(prompts(bot, ANNA)) == 3  # the prompt and two reminders
    [to_boss] = [m for m in dms_to(bot, BOSS) if "inte bekräftat" in m]
    assert "Anna Andersson" in to_boss and "Erik Eriksson" in to_boss
    a = await assignment(bot, team[ANNA])
    clock.set(T0 + timedelta(days=41))  # a Tuesday: the nudge goes out in working hours
    await press(bot, BOSS, "training_nudge", a.id)
    await bot.fake.wait_for("chat.postEphemeral")
    await bot.deliver()
    assert len(prompts(bot, ANNA)) == 4
    form = await press_for_form(bot, BOSS, "training_confirm_for", a.id)
    await bot.slack.submit(BOSS, form, {"completed_on": clock.now().date()})
    async with bot.db.transaction() as session:
        [evidence] = (await session.execute(select(TrainingCompletion))).scalars().all()
    assert (evidence.source, evidence.recorded_by) == ("manager", team[BOSS].person_id)
    # Someone else's manager may not.
    e = await assignment(bot, team[ERIK])
    channel, ts = last_dm(bot, BOSS, "training_nudge")
    where = {"type": "message", "channel_id": channel, "message_ts": ts}
    await bot.slack.click(SAM, "training_nudge", str(e.id), container=where)  # a coordinator: allowed
    assert "Påminnelse skickad" in str((await bot.fake.wait_for("chat.postEphemeral", 2))[-1].params)
    await bot.slack.click(ANNA, "training_nudge", str(e.id), container=where)  # a forged click
    assert "Bara personens chef" in str((await bot.fake.wait_for("chat.postEphemeral", 3))[-1].params)


async def test_not_applicable_goes_to_the_manager_for_a_decision(bot, team):
    await start(bot)
    await bot.runtime.tick()
    await bot.deliver()
    a = await assignment(bot, team[ANNA])
    form = await press_for_form(bot, ANNA, "training_not_applicable", a.id)
    assert (await bot.slack.submit(ANNA, form, {"reason": " "})).json["errors"] == {"reason": "Skriv kort varför."}
    await bot.slack.submit(ANNA, form, {"reason": "Föräldraledig hela året"})
    await bot.deliver()
    [request] = [m for m in dms_to(bot, BOSS) if "ber om undantag" in m]
    assert "Föräldraledig hela året" in request
    await press(bot, BOSS, "training_exemption_approve", a.id)
    await bot.fake.wait_for("chat.postEphemeral")
    await bot.deliver()
    assert (await assignment(bot, team[ANNA])).status == "exempt"
    assert any("godkänt undantaget" in m for m in dms_to(bot, ANNA))


async def test_not_yet_reminds_later(bot, team, clock):
    await start(bot)
    await bot.runtime.tick()
    await bot.deliver()
    a = await assignment(bot, team[ANNA])
    await press(bot, ANNA, "training_not_yet", a.id)
    update = (await bot.fake.wait_for("chat.update"))[-1]
    assert "vi påminner dig igen" in str(update.params)
    assert (await assignment(bot, team[ANNA])).status == "not_yet"


async def test_joiners_get_their_own_deadline(bot, team, clock):
    await start(bot, deadline=date(2026, 12, 1))
    await bot.runtime.tick()
    clock.set(T0 + timedelta(days=5))  # Monday 30 November
    bot.fake.add_user(NEWBIE, name="ny", real_name="Nora Ny", email="nora@example.se")
    nora = await bot.runtime.slack.actor("T0001", NEWBIE)
    await bot.runtime.tick()
    await bot.deliver()
    a = await assignment(bot, nora)
    assert a.deadline == date(2026, 12, 30)  # 30 days after she appeared, later than the campaign's
    assert len(prompts(bot, NEWBIE)) == 1


async def test_two_replicas_and_repeated_ticks_send_nothing_twice(bot, team, database_url, fake_slack, clock):
    await start(bot)
    other = Runtime(bot_settings(database_url, fake_slack), clock=clock)
    await other.start(migrate=False, deliver=False)
    try:
        import asyncio
        await asyncio.gather(bot.runtime.tick(), other.tick(), bot.runtime.tick())
        await asyncio.gather(bot.deliver(), other.deliverer.drain_once())
        await bot.deliver()
    finally:
        await other.stop()
    for user in (ANNA, ERIK, SAM, BOSS):
        assert len(prompts(bot, user)) == 1, user


async def test_status_views_match_the_data(bot, team):
    await start(bot)
    await bot.runtime.tick()
    await bot.deliver()
    a = await assignment(bot, team[ANNA])
    form = await press_for_form(bot, ANNA, "training_done", a.id)
    await bot.slack.submit(ANNA, form, {"completed_on": date(2026, 11, 2)})

    async def status(user):
        before = len(bot.fake.calls_to("views.open"))
        await bot.slack.command(user, command="/utbildning")
        return str((await bot.fake.wait_for("views.open", before + 1))[-1].params["view"])

    boss = await status(BOSS)
    assert "*Dina medarbetare:* 1 av 2 klara (50 %)" in boss
    assert "Anna Andersson – Klar 2026-11-02" in boss and "Erik Eriksson – Inte svarat" in boss
    sam = await status(SAM)
    assert "*Hela organisationen:* 1 av 4 klara (25 %)" in sam
    assert "*Scen:* 1 av 3 klara (33 %)" in sam and "*Kansli:* 0 av 1 klara (0 %)" in sam


async def test_completions_file_from_swedish_excel(bot, team):
    from handlers.training import import_completions

    await start(bot)
    data = ("E-post;Kurs;Slutförd\r\nanna@example.se;Dataskydd grund;2026-10-01\r\n"
            "okand@example.se;Dataskydd grund;2026-10-02\r\n").encode("cp1252")
    result = await import_completions(bot.runtime.svc, team[ANNA].org_id, data, "sv")
    assert (result.imported, result.unknown, result.stored) == (1, 1, True)
    a = await assignment(bot, team[ANNA])
    assert (a.status, a.completed_on) == ("done", date(2026, 10, 1))
    bad = ("E-post;Slutförd\r\nerik@example.se;igår\r\n").encode("cp1252")
    result = await import_completions(bot.runtime.svc, team[ANNA].org_id, bad, "sv")
    assert result.stored is False and "rad 2" in result.problems[0].lower()
    assert (await assignment(bot, team[ERIK])).status == "pending"
