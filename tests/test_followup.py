"""Issue #3: every incident followed through to closure, with the legal clocks watched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.models import Department, Incident, IncidentEvent, Person, PersonRole
from tests.conftest import SECURITY_CHANNEL, T0
from tests.test_incident_report import ANNA, ERIK, SAM, open_report, valid_values

DPO_USER, BOSS, OTHER_BOSS, HANDLER = "U0DPO", "U0BOSS", "U0BOSS2", "U0HANDLER"
SECRET = "Unik-beskrivning-XJ42"


@pytest.fixture
async def org(bot):
    """Anna works in Scen, where Bo is manager; Sam is coordinator; Dana the DPO; Olle manages Ekonomi."""
    for user, name in ((DPO_USER, "Dana Dataskydd"), (BOSS, "Bo Chef"), (OTHER_BOSS, "Olle Annan"),
                       (HANDLER, "Hanna Handläggare")):
        bot.fake.add_user(user, name=name.split()[0].lower(), real_name=name, email=f"{user.lower()}@example.se")
    people = {u: await bot.runtime.slack.actor("T0001", u) for u in (ANNA, ERIK, SAM, DPO_USER, BOSS, OTHER_BOSS, HANDLER)}
    async with bot.db.transaction() as session:
        org_id = people[ANNA].org_id
        scen, ekonomi = Department(org_id=org_id, name="Scen"), Department(org_id=org_id, name="Ekonomi")
        session.add_all([scen, ekonomi])
        await session.flush()
        roles = {SAM: "informationssakerhetssamordnare", DPO_USER: "dataskyddsombud", BOSS: "chef", OTHER_BOSS: "chef"}
        for user, role in roles.items():
            session.add(PersonRole(person_id=people[user].person_id, role=role))
        for user, dept in ((ANNA, scen), (BOSS, scen), (OTHER_BOSS, ekonomi), (ERIK, ekonomi)):
            (await session.get(Person, people[user].person_id)).department_id = dept.id
        (await session.get(Person, people[ANNA].person_id)).manager_id = people[BOSS].person_id
    return people


async def report(bot, user=ANNA, **values) -> Incident:
    view = await open_report(bot, user)
    reply = await bot.slack.submit(user, view, valid_values(**values))
    assert reply.json["response_action"] == "update", reply.json
    async with bot.db.transaction() as session:
        return (await session.execute(select(Incident).order_by(Incident.id.desc()).limit(1))).scalar_one()


async def click(bot, user, action, incident, *, in_modal=None):
    """Press a case button; returns the view Slack was asked to open, push or update."""
    methods = ("views.open", "views.push", "views.update")
    before = {m: len(bot.fake.calls_to(m)) for m in methods}
    if in_modal:
        payload_container = {"type": "view", "view_id": in_modal["id"]}
    else:
        payload_container = {"type": "message", "channel_id": SECURITY_CHANNEL, "message_ts": "1.1"}
    reply = await bot.slack.post_payload({
        "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "team_id": "T0001"},
        "api_app_id": "A0LISBOT", "trigger_id": bot.fake.issue_trigger(), "container": payload_container,
        **({"view": in_modal} if in_modal else {}),
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": str(incident.id)}],
    })
    assert reply.status == 200

    async def changed():
        return any(len(bot.fake.calls_to(m)) > before[m] for m in methods)
    from tests.conftest import eventually
    await eventually(changed)
    call = next(bot.fake.calls_to(m)[-1] for m in methods if len(bot.fake.calls_to(m)) > before[m])
    return call.response["view"]


def text_of(view) -> str:
    return str(view)


async def timeline(bot, incident) -> list[IncidentEvent]:
    async with bot.db.transaction() as session:
        return list((await session.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                                           .order_by(IncidentEvent.id))).scalars())


async def fresh(bot, incident) -> Incident:
    async with bot.db.transaction() as session:
        return await session.get(Incident, incident.id, populate_existing=True)


def dms_to(bot, user) -> list[str]:
    """Texts of the messages delivered to a person's DM (posted with their user id or their DM channel)."""
    dm = {user} | {c.response["channel"] for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == user}
    return [str(c.params.get("blocks") or c.params.get("text")) for c in bot.fake.calls_to("chat.postMessage")
            if c.params["channel"] in dm]


# ---- taking and assessing -------------------------------------------------------


async def test_coordinator_takes_the_case_and_the_reporter_hears(bot, org):
    incident = await report(bot)
    await bot.deliver()
    view = await click(bot, SAM, "incident_take", incident)
    assert "Tog ärendet" in text_of(view)
    case = await fresh(bot, incident)
    assert case.handler_id == org[SAM].person_id and case.status == "triage"
    await bot.deliver()
    assert any("har tagits om hand" in m for m in dms_to(bot, ANNA))
    [update] = bot.fake.calls_to("chat.update")
    assert "Under bedömning" in str(update.params["blocks"]) and f"<@{SAM}>" in str(update.params["blocks"])
    assert SECRET not in str(update.params)


async def test_anyone_else_is_refused_politely_and_nothing_changes(bot, org):
    incident = await report(bot, description=SECRET)
    for user in (ERIK, BOSS):
        for action in ("incident_take", "incident_assess", "incident_note", "incident_status"):
            view = await click(bot, user, action, incident)
            assert "inte behörighet" in text_of(view) or "not entitled" in text_of(view)
            assert SECRET not in text_of(view)
    case = await fresh(bot, incident)
    assert case.handler_id is None and case.status == "new"
    assert [e.kind for e in await timeline(bot, incident)] == ["reported"]


async def test_assessing_not_an_incident_closes_it_with_the_reason(bot, org):
    incident = await report(bot)
    form = await click(bot, SAM, "incident_assess", incident)
    reply = await bot.slack.submit(SAM, form, {"is_incident": "no", "not_reason": ""})
    assert reply.json["errors"] == {"not_reason": "Ange en motivering."}
    reply = await bot.slack.submit(SAM, form, {"is_incident": "no", "not_reason": "Testmejl från IT."})
    assert reply.json["response_action"] == "update"
    case = await fresh(bot, incident)
    assert case.status == "not_incident" and case.close_reason == "Testmejl från IT." and case.closed_at == T0
    await bot.deliver()
    assert any("är nu avslutat" in m for m in dms_to(bot, ANNA))


async def test_assessment_sets_severity_kinds_and_the_managers_default_for_work_environment(bot, org):
    incident = await report(bot, kinds=["work_env"], injury="near_miss")
    form = await click(bot, SAM, "incident_assess", incident)
    handler_field = next(b for b in form["blocks"] if b.get("block_id") == "handler")
    assert handler_field["element"]["initial_user"] == BOSS  # the reporter's manager
    reply = await bot.slack.submit(SAM, form, {"is_incident": "yes", "kinds": ["work_env", "other"], "severity": "3",
                                               "handler": BOSS})
    assert reply.json["response_action"] == "update"
    case = await fresh(bot, incident)
    assert (case.severity, case.kind_codes, case.handler_id, case.status) == (
        3, ["other", "work_env"], org[BOSS].person_id, "investigating")
    await bot.deliver()
    assert any("att handlägga" in m for m in dms_to(bot, BOSS))
    # The handler may now act on the case, though not a coordinator.
    note = await click(bot, BOSS, "incident_note", incident)
    await bot.slack.submit(BOSS, note, {"note": "Hissen är avstängd tills vidare."})
    kinds = [e.kind for e in await timeline(bot, incident)]
    assert kinds == ["reported", "assessed", "handler", "note"]


async def test_personal_data_assessment_informs_the_dpo(bot, org):
    incident = await report(bot, kinds=["infosec"], personal_data="no")
    await bot.deliver()
    assert dms_to(bot, DPO_USER) == []
    form = await click(bot, SAM, "incident_assess", incident)
    await bot.slack.submit(SAM, form, {"is_incident": "yes", "kinds": ["infosec", "personal_data"], "severity": "2"})
    await bot.deliver()
    assert any("Personuppgiftsincident" in m for m in dms_to(bot, DPO_USER))


# ---- the GDPR clock -----------------------------------------------------------------


async def test_gdpr_reminders_at_24_48_66_hours_then_overdue(bot, org, clock):
    incident = await report(bot, kinds=["personal_data"], discovered_at=T0)
    await bot.deliver()
    assert any("senast *2026-11-28 14:00*" in m for m in dms_to(bot, DPO_USER))  # told at once
    await click(bot, HANDLER, "incident_take", incident)  # refused: not a coordinator
    await click(bot, SAM, "incident_take", incident)

    async def reminders(user):
        await bot.runtime.tick()
        await bot.runtime.tick()  # a second run in the same minute sends nothing more
        await bot.deliver()
        return [m for m in dms_to(bot, user) if "beslut om anmälan till IMY saknas" in m]

    clock.set(T0 + timedelta(hours=23, minutes=59))
    assert await reminders(DPO_USER) == []
    clock.set(T0 + timedelta(hours=24))
    assert len(await reminders(DPO_USER)) == 1 and "48 h kvar" in (await reminders(DPO_USER))[0]
    assert len(await reminders(SAM)) == 1  # the handler
    clock.set(T0 + timedelta(hours=48, minutes=1))
    assert len(await reminders(DPO_USER)) == 2
    clock.set(T0 + timedelta(hours=66))
    assert len(await reminders(DPO_USER)) == 3
    clock.set(T0 + timedelta(hours=72))
    await reminders(DPO_USER)
    overdue = [m for m in dms_to(bot, DPO_USER) if "72 timmar har passerat" in m]
    assert len(overdue) == 1
    assert [e.kind for e in await timeline(bot, incident)].count("gdpr_overdue") == 1
    assert "FÖRSENAD" in str(bot.fake.calls_to("chat.update")[-1].params["blocks"])
    view = await click(bot, DPO_USER, "incident_show", incident)
    assert "FÖRSENAD" in text_of(view)


async def test_after_downtime_only_the_latest_reminder_goes_out(bot, org, clock):
    await report(bot, kinds=["personal_data"], discovered_at=T0)
    clock.set(T0 + timedelta(hours=70))
    await bot.runtime.tick()
    await bot.deliver()
    texts = [m for m in dms_to(bot, DPO_USER) if "saknas" in m]
    assert len(texts) == 1 and "2 h kvar" in texts[0]


async def test_a_recorded_decision_stops_the_clock(bot, org, clock):
    incident = await report(bot, kinds=["personal_data"], discovered_at=T0, people_affected="12",
                            personal_data="yes")
    form = await click(bot, DPO_USER, "incident_gdpr", incident)
    subjects = next(b for b in form["blocks"] if b.get("block_id") == "subjects_approx")
    assert subjects["element"]["initial_value"] == "12"
    bad = await bot.slack.submit(DPO_USER, form, {"notify_imy": "no"})
    assert bad.json["errors"] == {"notify_reason": "Ange en motivering."}
    bad = await bot.slack.submit(DPO_USER, form, {"imy_reference": "IMY-2026-1", "notify_imy": "yes"})
    assert bad.json["errors"] == {"notified_at": "Ange när anmälan gjordes."}
    ok = await bot.slack.submit(DPO_USER, form, {
        "nature": ["confidentiality"], "subject_categories": "Besökare", "subjects_approx": "12",
        "records_approx": "24", "special_categories": "no", "consequences": "Små", "measures": "Återkallat mejlet",
        "notify_imy": "no", "notify_reason": "Osannolikt att det medför risk: mottagaren raderade mejlet."})
    assert ok.json["response_action"] == "update"
    assert "anmäls inte till IMY" in str(ok.json["view"])
    clock.set(T0 + timedelta(hours=30))
    await bot.runtime.tick()
    await bot.deliver()
    assert [m for m in dms_to(bot, DPO_USER) if "saknas" in m] == []


# ---- work environment, notes, closing ----------------------------------------------


async def test_serious_work_environment_case_is_flagged_until_reported(bot, org, clock):
    incident = await report(bot, kinds=["work_env"], injury="injured")
    await bot.deliver()
    notice = next(c for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == SECURITY_CHANNEL)
    assert "Arbetsmiljöverket" in str(notice.params["blocks"])
    await bot.runtime.tick()
    await bot.deliver()
    assert any("Anmäl till Arbetsmiljöverket" in m for m in dms_to(bot, SAM))
    form = await click(bot, SAM, "incident_workenv", incident)
    bad = await bot.slack.submit(SAM, form, {"serious": "yes", "awv_reported_at": T0 + timedelta(days=1)})
    assert bad.json["errors"] == {"awv_reported_at": "Tidpunkten ligger i framtiden."}
    await bot.slack.submit(SAM, form, {"serious": "yes", "awv_reported_at": T0 - timedelta(minutes=30)})
    case = await fresh(bot, incident)
    assert case.serious_work_env is True and case.awv_reported_at == T0 - timedelta(minutes=30)
    view = await click(bot, SAM, "incident_show", incident)
    assert "anmäld till Arbetsmiljöverket" in text_of(view)


async def test_closing_asks_for_cause_measures_and_lessons(bot, org):
    incident = await report(bot)
    await click(bot, SAM, "incident_take", incident)
    form = await click(bot, SAM, "incident_status", incident)
    bad = await bot.slack.submit(SAM, form, {"status": "closed", "cause": "Fel mottagare"})
    assert set(bad.json["errors"]) == {"measures", "lessons"}
    assert (await fresh(bot, incident)).status == "triage"
    ok = await bot.slack.submit(SAM, form, {"status": "closed", "cause": "Fel mottagare",
                                            "measures": "Utbildning", "lessons": "Dubbelkolla adressen"})
    assert ok.json["response_action"] == "update"
    case = await fresh(bot, incident)
    assert (case.status, case.lessons, case.closed_at) == ("closed", "Dubbelkolla adressen", T0)
    events = await timeline(bot, incident)
    assert [(e.kind, e.actor_id) for e in events][-1] == ("status", org[SAM].person_id)
    assert all(e.at == T0 for e in events)
    await bot.deliver()
    closed = [m for m in dms_to(bot, ANNA) if "är nu avslutat" in m]
    assert len(closed) == 1 and "Dubbelkolla" not in closed[0]


async def test_the_same_form_submitted_twice_is_applied_once(bot, org):
    incident = await report(bot)
    form = await click(bot, SAM, "incident_note", incident)
    for _ in range(2):
        await bot.slack.submit(SAM, form, {"note": "Ringde IT."})
    assert [e.kind for e in await timeline(bot, incident)] == ["reported", "note"]


# ---- cases that stand still -----------------------------------------------------------


async def test_stale_case_reminds_the_handler_in_working_hours_then_escalates(bot, org, clock):
    incident = await report(bot)  # Wednesday 25 Nov, 14:00 in Stockholm
    await click(bot, SAM, "incident_assess", incident)
    form = bot.fake.calls_to("views.open")[-1].response["view"]
    await bot.slack.submit(SAM, form, {"is_incident": "yes", "kinds": ["infosec"], "severity": "2",
                                       "handler": HANDLER})
    await bot.deliver()

    async def stale_messages(user):
        await bot.runtime.tick()
        await bot.deliver()
        return [m for m in dms_to(bot, user) if "arbetsdagar" in m]

    clock.set(T0 + timedelta(days=6, hours=23))  # Tuesday 1 Dec 13:59 UTC: 4 working days
    assert await stale_messages(HANDLER) == []
    clock.set(T0 + timedelta(days=7, hours=6))  # Wednesday 2 Dec 20:00 local: due, but after hours
    assert await stale_messages(HANDLER) == []
    clock.set(T0 + timedelta(days=7, hours=18, minutes=1))  # Thursday 08:01 local
    assert len(await stale_messages(HANDLER)) == 1
    assert await stale_messages(SAM) == []
    clock.set(T0 + timedelta(days=14, hours=1))  # 10 working days
    assert len(await stale_messages(SAM)) == 1
    assert len(await stale_messages(HANDLER)) == 1
    # A note is activity: the clock starts again.
    note = await click(bot, HANDLER, "incident_note", incident)
    await bot.slack.submit(HANDLER, note, {"note": "Väntar på leverantören."})
    clock.advance(timedelta(days=1))
    assert len(await stale_messages(HANDLER)) == 1


# ---- who sees what -------------------------------------------------------------------------

ENTITLED = {
    # kind: users who may see the description (besides the reporter, Anna)
    "infosec": {SAM},
    "personal_data": {SAM, DPO_USER},
    "work_env": {SAM, BOSS},
}


@pytest.mark.parametrize("kind", sorted(ENTITLED))
async def test_the_description_reaches_only_the_entitled(bot, org, kind):
    values = {"kinds": [kind], "description": SECRET}
    if kind == "work_env":
        values["injury"] = "near_miss"
    incident = await report(bot, **values)
    await bot.runtime.tick()
    await bot.deliver()
    seen = {}
    for user in (ANNA, ERIK, SAM, DPO_USER, BOSS, OTHER_BOSS, HANDLER):
        seen[user] = SECRET in text_of(await click(bot, user, "incident_show", incident))
    assert {u for u, s in seen.items() if s} == ENTITLED[kind] | {ANNA}
    # No message, update or home view ever carries it; only modals opened for the entitled do.
    for call in bot.fake.calls:
        if call.method in ("chat.postMessage", "chat.update", "views.publish"):
            assert SECRET not in str(call.params), call.method


# ---- lists, home and exports ---------------------------------------------------------------


async def three_cases(bot):
    return [await report(bot, kinds=["personal_data"], description=SECRET),
            await report(bot, kinds=["infosec"]),
            await report(bot, kinds=["work_env"], injury="none")]


async def case_list(bot, user, text=""):
    before = len(bot.fake.calls_to("views.open"))
    await bot.slack.command(user, command="/incidenter", text=text)
    return str((await bot.fake.wait_for("views.open", before + 1))[-1].params["view"])


async def test_case_list_is_filtered_by_role_kind_and_status(bot, org):
    pd, infosec, work = await three_cases(bot)
    everything = await case_list(bot, SAM)
    assert all(i.reference in everything for i in (pd, infosec, work))
    assert "h kvar" in everything  # the GDPR clock of the personal-data case
    only_pd = await case_list(bot, SAM, "personuppgifter ny")
    assert pd.reference in only_pd and infosec.reference not in only_pd
    assert "INC-" not in await case_list(bot, SAM, "under utredning")
    dpo = await case_list(bot, DPO_USER)
    assert pd.reference in dpo and infosec.reference not in dpo and work.reference not in dpo
    boss = await case_list(bot, BOSS)
    assert work.reference in boss and pd.reference not in boss
    assert "INC-" not in await case_list(bot, ERIK)
    unknown = await case_list(bot, SAM, "blåbär")
    assert "Okända filterord: blåbär" in unknown


async def test_home_tab_shows_handlers_their_cases_and_clocks(bot, org):
    await three_cases(bot)
    await bot.slack.event({"type": "app_home_opened", "user": SAM, "tab": "home"}, event_id="EvHome1")
    view = str((await bot.fake.wait_for("views.publish"))[-1].params["view"])
    assert "3 öppna ärenden" in view and "1 GDPR-klockor som tickar" in view
    assert "home_export_breaches" in view
    await bot.slack.event({"type": "app_home_opened", "user": ERIK, "tab": "home"}, event_id="EvHome2")
    erik = str((await bot.fake.wait_for("views.publish", 2))[-1].params["view"])
    assert "öppna ärenden" not in erik and "home_case_list" not in erik


def uploaded_csv(bot) -> list[list[str]]:
    import csv
    import io

    [upload] = bot.fake.uploaded_files.values() if len(bot.fake.uploaded_files) == 1 else [
        list(bot.fake.uploaded_files.values())[-1]]
    text = upload["content"].decode("utf-8")
    assert text.startswith("\ufeff") and "\r\n" in text  # what Swedish Excel opens without asking
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))


async def test_incident_log_export_holds_what_the_person_may_see(bot, org):
    pd, infosec, work = await three_cases(bot)
    await bot.slack.click(SAM, "home_export_incidents")
    await bot.fake.wait_for("files.completeUploadExternal")
    rows = uploaded_csv(bot)
    assert rows[0][:3] == ["Referens", "Typ", "Status"]
    assert [r[0] for r in rows[1:]] == [pd.reference, infosec.reference, work.reference]
    assert SECRET in rows[1]
    bot.fake.uploaded_files.clear()
    await bot.slack.click(BOSS, "home_export_incidents")
    await bot.fake.wait_for("files.completeUploadExternal", 2)
    assert [r[0] for r in uploaded_csv(bot)[1:]] == [work.reference]


async def test_breach_log_is_for_the_dpo_and_coordinators_only(bot, org):
    pd, _, _ = await three_cases(bot)
    await bot.slack.click(ERIK, "home_export_breaches")
    await bot.fake.wait_for("chat.postMessage")
    assert "Only the data-protection officer" in bot.fake.calls_to("chat.postMessage")[-1].params["text"]  # Erik reads English
    assert bot.fake.uploaded_files == {}
    await bot.slack.click(DPO_USER, "home_export_breaches")
    await bot.fake.wait_for("files.completeUploadExternal")
    rows = uploaded_csv(bot)
    assert rows[0][0] == "Referens" and [r[0] for r in rows[1:]] == [pd.reference]
