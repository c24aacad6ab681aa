"""Issue #7: the same bot in Microsoft Teams, driven the way Teams drives it.

Activities as Teams sends them are posted into the real /api/messages with Bot Framework tokens signed by a
fake issuer on 127.0.0.1; what the bot sends arrives at a fake Bot Connector on 127.0.0.1; every card is
validated against Adaptive Cards 1.5 (tests/adaptivecards.py); the database is real.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from sqlalchemy import func, select

from bot.config import ConfigError, load_settings
from bot.runtime import SLACK_PATH, TEAMS_PATH, Runtime
from handlers import training
from storage.models import Incident, IncidentEvent, OrganisationLink, OutboxMessage, Person, PersonRole
from tests.adaptivecards import assert_valid_card
from tests.conftest import T0, bot_settings
from tests.fakebotconnector import (
    CLIENT_ID, TENANT, FakeMicrosoft, TeamsDriver, actions_of, card_of, card_text, inputs_of,
)

SECURITY = "19:security0a1b2c@thread.tacv2"
LEADERSHIP = "19:leadership9z8y@thread.tacv2"
COORDINATOR = "informationssakerhetssamordnare"


@pytest.fixture
async def microsoft():
    fake = FakeMicrosoft()
    await fake.start()
    yield fake
    await fake.stop()


class TeamsBot:
    def __init__(self, runtime: Runtime, runner: web.AppRunner, base: str, teams: TeamsDriver, fake: FakeMicrosoft,
                 slack=None):
        self.runtime, self.runner, self.base, self.teams, self.fake = runtime, runner, base, teams, fake
        self.slack_fake = slack
        self.anna = fake.add_member("29:1anna", "aad-anna-0001", "Anna Andersson", "anna@example.se")
        self.erik = fake.add_member("29:1erik", "aad-erik-0002", "Erik Eriksson", "erik@example.se")
        self.sam = fake.add_member("29:1sam", "aad-sam-0003", "Sam Samordnare", "sam@example.se")

    @property
    def db(self):
        return self.runtime.db

    async def deliver(self) -> int:
        await self.runtime.teams.idle()
        return await self.runtime.deliverer.drain_once()

    async def person(self, member) -> Person:
        async with self.db.transaction() as session:
            return (await session.execute(select(Person).where(Person.aad_object_id == member.aad_object_id))
                    ).scalar_one()

    async def make_coordinator(self, member) -> None:
        await self.teams.message(member, "hej")
        await self.runtime.teams.idle()
        person = await self.person(member)
        async with self.db.transaction() as session:
            session.add(PersonRole(person_id=person.id, role=COORDINATOR))


async def start_bot(settings, clock) -> tuple[Runtime, web.AppRunner, str]:
    runtime = Runtime(settings, clock=clock)
    await runtime.start(deliver=False)
    runner = web.AppRunner(runtime.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runtime, runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def tbot(database_url, fake_slack, microsoft, clock):
    """Slack and Teams both connected; the coordinators' and leadership channels are in Teams."""
    settings = bot_settings(database_url, fake_slack, **microsoft.settings())
    settings = settings.model_copy(update={"security_channel": SECURITY, "leadership_channel": LEADERSHIP})
    runtime, runner, base = await start_bot(settings, clock)
    driver = TeamsDriver(base + TEAMS_PATH, microsoft)
    yield TeamsBot(runtime, runner, base, driver, microsoft, fake_slack)
    await driver.close()
    await runner.cleanup()
    await runtime.stop()


def valid_values(**overrides) -> dict:
    # T0 is 13:00 UTC, 14:00 in Stockholm: the date and time inputs are in the person's time zone.
    values = {"kinds": "infosec", "description": "Okänd person i serverrummet.",
              "discovered_at": "2026-11-25", "discovered_at__time": "14:00"}
    values.update(overrides)
    return values


def dialog_card(answer: dict) -> dict:
    task = answer["task"]
    assert task["type"] == "continue", answer
    assert task["value"]["card"]["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = task["value"]["card"]["content"]
    assert_valid_card(card)
    return card


def replaced_card(answer: dict) -> dict:
    assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive", answer
    assert_valid_card(answer["value"])
    return answer["value"]


async def count(bot, model, *where) -> int:
    async with bot.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def report(bot: TeamsBot, member, **values) -> Incident:
    status, answer = await bot.teams.open_report(member)
    assert status == 200
    status, answer = await bot.teams.submit_dialog(member, dialog_card(answer), valid_values(**values))
    assert status == 200 and "INC-" in card_text(dialog_card(answer)), answer
    async with bot.db.transaction() as session:
        return (await session.execute(select(Incident).order_by(Incident.id.desc()).limit(1))).scalar_one()


# ---- authentication ---------------------------------------------------------------------------------------


async def test_requests_without_a_valid_bot_framework_token_are_refused(tbot):
    fake, teams = tbot.fake, tbot.teams
    activity = teams.activity(tbot.anna, "message", text="rapportera")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = 1_800_000_000
    forged = {
        "no token": None,
        "not a JWT": "not-a-jwt",
        "unsigned (alg none)": jwt.encode({"aud": CLIENT_ID, "iss": fake.issuer, "exp": 4_000_000_000,
                                           "serviceurl": fake.service_url}, None, algorithm="none"),
        "signed with a shared secret": jwt.encode({"aud": CLIENT_ID, "iss": fake.issuer, "exp": 4_000_000_000,
                                                   "serviceurl": fake.service_url}, "x" * 32, algorithm="HS256",
                                                  headers={"kid": fake.kid}),
        "expired": fake.inbound_token(expires_in=-3600),
        "for another bot": fake.inbound_token(audience="ffffffff-0000-0000-0000-000000000000"),
        "from another issuer": fake.inbound_token(issuer="https://evil.example"),
        "signed with another key": fake.inbound_token(key=other_key),
        "for another service URL": fake.inbound_token(service_url="https://smba.evil.example/teams/"),
    }
    for what, token in forged.items():
        status, body = await teams.post(activity, token=token)
        assert status == 401, what
        assert body == {"error": "Unauthorized"}, what
    await tbot.runtime.teams.idle()
    assert await count(tbot, Person) == 0
    assert fake.sent() == []
    status, _ = await teams.post(activity)
    assert status == 200


async def test_an_activity_from_another_tenant_is_refused(tbot):
    activity = tbot.teams.activity(tbot.anna, "message", text="rapportera",
                                   conversation={"conversationType": "personal", "tenantId": "other-tenant",
                                                 "id": "a:x"}, channelData={"tenant": {"id": "other-tenant"}})
    status, _ = await tbot.teams.post(activity)
    assert status == 403
    assert await count(tbot, Person) == 0


# ---- reporting an incident ----------------------------------------------------------------------------------


async def test_report_an_incident_from_teams_end_to_end(tbot):
    fake, teams = tbot.fake, tbot.teams
    status, _ = await teams.message(tbot.anna, "rapportera")
    assert status == 200
    await tbot.runtime.teams.idle()
    [prompt] = fake.sent(f"a:personal-{tbot.anna.id}")
    prompt_card = card_of(prompt)
    assert_valid_card(prompt_card)
    [button] = actions_of(prompt_card)
    assert button["type"] == "Action.Submit" and button["data"]["msteams"] == {"type": "task/fetch"}

    status, answer = await teams.open_report(tbot.anna, button["data"])
    assert status == 200
    form = dialog_card(answer)
    assert answer["task"]["value"]["title"] == "Rapportera incident"
    fields = inputs_of(form)
    assert fields["kinds"]["label"] == "Vad gäller det?" and fields["kinds"]["isMultiSelect"] is True
    assert fields["description"]["isRequired"] is True and fields["description"]["isMultiline"] is True
    assert fields["occurred_at"]["isRequired"] is False
    assert fields["discovered_at"]["value"] == "2026-11-25" and fields["discovered_at__time"]["value"] == "14:00"

    # Bad input: the card comes back with the errors under the fields, and nothing is stored.
    status, answer = await teams.submit_dialog(tbot.anna, form, valid_values(
        description="", discovered_at="2026-11-26", discovered_at__time="18:00"))
    again = dialog_card(answer)
    t = tbot.runtime.svc.texts.t
    errors = [e["text"] for e in again["body"] if e.get("type") == "TextBlock" and e.get("color") == "Attention"]
    assert errors == [t("sv", "incident.error.description_required"), t("sv", "incident.error.in_future")]
    assert inputs_of(again)["description"]["errorMessage"] == errors[0]
    assert inputs_of(again)["discovered_at"]["errorMessage"] == errors[-1]
    assert inputs_of(again)["discovered_at"]["value"] == "2026-11-26"  # what was typed stays
    assert await count(tbot, Incident) == 0

    status, answer = await teams.submit_dialog(tbot.anna, again, valid_values(kinds="personal_data,infosec",
                                                                              people_affected="40"))
    saved = dialog_card(answer)
    assert "INC-2026-0001" in card_text(saved)
    [incident] = (await _incidents(tbot))
    assert incident.reference == "INC-2026-0001" and incident.kind_codes == ["infosec", "personal_data"]
    assert incident.discovered_at == T0 and incident.people_affected == 40
    assert incident.reporter_id == (await tbot.person(tbot.anna)).id

    # Submitting the same dialog twice (a double click, a retried request) stores nothing more.
    await teams.submit_dialog(tbot.anna, again, valid_values(kinds="personal_data,infosec", people_affected="40"))
    assert await count(tbot, Incident) == 0 + 1

    assert await tbot.deliver() == 2
    receipt = card_of(fake.sent(f"a:personal-{tbot.anna.id}")[-1])
    assert_valid_card(receipt)
    assert "INC-2026-0001" in card_text(receipt)
    [notice] = fake.sent(SECURITY)
    notice_card = card_of(notice)
    assert_valid_card(notice_card)
    notice_text = card_text(notice_card)
    assert "INC-2026-0001" in notice_text and "2026-11-28 14:00" in notice_text
    assert "Okänd person" not in notice_text and "Anna" not in notice_text
    assert notice["summary"].startswith("Ny incident INC-2026-0001")
    assert fake.card_problems == []


async def test_the_message_extension_reports_a_message_prefilled(tbot):
    value = {"commandId": "report_incident", "commandContext": "message", "context": {"theme": "default"},
             "messagePayload": {"id": "1700000000123", "messageType": "message", "createdDateTime": "2026-11-25T12:00:00Z",
                                "linkToMessage": "https://teams.microsoft.com/l/message/19:abc/1700000000123",
                                "from": {"user": {"id": "aad-erik-0002", "displayName": "Erik Eriksson"}},
                                "body": {"contentType": "html", "content": "<p>Har någon sett min <b>datorväska</b>?</p>"}}}
    status, answer = await tbot.teams.invoke(tbot.anna, "composeExtension/fetchTask", value)
    assert status == 200
    form = dialog_card(answer)
    description = inputs_of(form)["description"]["value"]
    assert description.startswith("Har någon sett min datorväska?")
    assert "https://teams.microsoft.com/l/message/19:abc/1700000000123" in description
    status, answer = await tbot.teams.invoke(tbot.anna, "composeExtension/submitAction", {
        "commandId": "report_incident", "commandContext": "message",
        "data": __import__("tests.fakebotconnector", fromlist=["submitted"]).submitted(form, valid_values(
            description=description))})
    assert "INC-2026-0001" in card_text(dialog_card(answer))
    assert (await _incidents(tbot))[0].source_link == "https://teams.microsoft.com/l/message/19:abc/1700000000123"


async def _incidents(bot) -> list[Incident]:
    async with bot.db.transaction() as session:
        return list((await session.execute(select(Incident).order_by(Incident.id))).scalars())


# ---- following a case --------------------------------------------------------------------------------------


async def test_a_coordinator_follows_up_with_card_buttons_updated_in_place(tbot):
    fake, teams = tbot.fake, tbot.teams
    await tbot.make_coordinator(tbot.sam)
    incident = await report(tbot, tbot.anna)
    await tbot.deliver()
    notice = card_of(fake.sent(SECURITY)[0])
    [show] = actions_of(notice)
    assert show["type"] == "Action.Execute" and show["verb"] == "incident_show"

    # "Visa detaljer" in the channel: the case, with its buttons, replaces the notice for Sam only.
    status, answer = await teams.execute(tbot.sam, show, conversation=_channel(SECURITY))
    assert status == 200
    case = replaced_card(answer)
    assert "Okänd person i serverrummet." in card_text(case)
    verbs = {a["verb"] for a in actions_of(case)}
    assert {"incident_take", "incident_assess", "incident_note"} <= verbs

    take = next(a for a in actions_of(case) if a["verb"] == "incident_take")
    status, answer = await teams.execute(tbot.sam, take, conversation=_channel(SECURITY))
    taken = replaced_card(answer)
    assert "Sam Samordnare" in card_text(taken)
    async with tbot.db.transaction() as session:
        stored = await session.get(Incident, incident.id)
        assert stored.handler_id == (await tbot.person(tbot.sam)).id and stored.status == "triage"

    # The reporter hears it in her chat; the channel's notice is updated in place for everyone.
    assert await tbot.deliver() == 2
    assert "INC-2026-0001" in card_text(card_of(fake.sent(f"a:personal-{tbot.anna.id}")[-1]))
    [update] = fake.updates()
    posted = next(c for c in fake.calls if c.status == 201 and c.headers.get("conversation") == SECURITY)
    assert update.headers == {"conversation": SECURITY, "activity": posted.response["id"]}
    assert "Sam Samordnare" in card_text(card_of(update.body))  # the handler's name, from the Slack mention

    # Assess: the form replaces the card; a missing answer comes back under its field; then it is saved.
    assess = next(a for a in actions_of(taken) if a["verb"] == "incident_assess")
    status, answer = await teams.execute(tbot.sam, assess, conversation=_channel(SECURITY))
    form = replaced_card(answer)
    assert {"is_incident", "kinds", "severity", "handler"} <= set(inputs_of(form))
    handler_choices = {c["value"] for c in inputs_of(form)["handler"]["choices"]}
    assert str((await tbot.person(tbot.sam)).id) in handler_choices
    submit = actions_of(form)[0]
    assert submit["type"] == "Action.Execute"
    status, answer = await teams.execute(tbot.sam, submit, {"is_incident": "yes", "severity": ""}, card=form,
                                         conversation=_channel(SECURITY))
    again = replaced_card(answer)
    t = tbot.runtime.svc.texts.t
    assert t("sv", "followup.error.severity_required") in card_text(again)
    status, answer = await teams.execute(tbot.sam, actions_of(again)[0], {"is_incident": "yes", "severity": "3"},
                                         card=again, conversation=_channel(SECURITY))
    replaced_card(answer)
    async with tbot.db.transaction() as session:
        stored = await session.get(Incident, incident.id)
        assert stored.severity == 3 and stored.status == "investigating"
    await tbot.deliver()
    assert fake.card_problems == []


async def test_someone_without_the_role_is_refused_and_nothing_changes(tbot):
    await tbot.make_coordinator(tbot.sam)
    incident = await report(tbot, tbot.anna)
    await tbot.deliver()
    show = actions_of(card_of(tbot.fake.sent(SECURITY)[0]))[0]
    t = tbot.runtime.svc.texts.t
    # Erik is neither reporter nor coordinator: no details, and taking the case is refused.
    status, answer = await tbot.teams.execute(tbot.erik, show, conversation=_channel(SECURITY))
    assert t("sv", "incident.details.denied") in card_text(replaced_card(answer))
    status, answer = await tbot.teams.execute(tbot.erik, {"verb": "incident_take", "data": {"value": str(incident.id)}},
                                              conversation=_channel(SECURITY))
    assert t("sv", "followup.denied") in card_text(replaced_card(answer))
    # The reporter sees her own report, without the coordinators' buttons.
    status, answer = await tbot.teams.execute(tbot.anna, show)
    own = replaced_card(answer)
    assert "Okänd person i serverrummet." in card_text(own)
    assert not {a.get("verb") for a in actions_of(own)} & {"incident_take", "incident_assess"}
    async with tbot.db.transaction() as session:
        stored = await session.get(Incident, incident.id)
        assert stored.handler_id is None and stored.status == "new"
        events = (await session.execute(select(func.count()).select_from(IncidentEvent))).scalar_one()
    assert events == 1  # reported, nothing more


def _channel(conversation_id: str) -> dict:
    return {"conversationType": "channel", "tenantId": TENANT, "id": conversation_id, "isGroup": True}


# ---- one organisation, one set of people ---------------------------------------------------------------------


async def test_a_person_in_slack_and_in_teams_is_one_person_with_one_set_of_roles(tbot):
    slack_sam = await tbot.runtime.slack.actor("T0001", "U0SAM")
    async with tbot.db.transaction() as session:
        session.add(PersonRole(person_id=slack_sam.person_id, role=COORDINATOR))
    await tbot.teams.message(tbot.sam, "hej")
    await tbot.runtime.teams.idle()
    person = await tbot.person(tbot.sam)
    assert person.id == slack_sam.person_id and person.slack_user_id == "U0SAM"
    assert person.teams_user_id == tbot.sam.id and person.teams_conversation_id == f"a:personal-{tbot.sam.id}"
    assert person.teams_service_url == tbot.fake.service_url and person.teams_tenant_id == TENANT
    async with tbot.db.transaction() as session:
        link = await session.get(OrganisationLink, ("teams", TENANT))
        assert link.org_id == slack_sam.org_id
    # So Sam may take a case reported in Teams, as the coordinator he is in Slack.
    incident = await report(tbot, tbot.anna)
    status, answer = await tbot.teams.execute(tbot.sam, {"verb": "incident_take", "data": {"value": str(incident.id)}})
    assert "Sam Samordnare" in card_text(replaced_card(answer))


async def test_delivery_chooses_the_platform_per_recipient(tbot):
    """Sam has Slack and Teams: Slack, as before. Anna only uses Teams: Teams. The channel is a Teams id."""
    await tbot.runtime.slack.actor("T0001", "U0SAM")
    await tbot.make_coordinator(tbot.sam)
    sam = await tbot.person(tbot.sam)
    async with tbot.db.transaction() as session:
        session.add(PersonRole(person_id=sam.id, role="dataskyddsombud"))
    await report(tbot, tbot.anna, kinds="personal_data")
    assert await tbot.deliver() == 3  # receipt, notice, the DPO's message
    assert "INC-2026-0001" in card_text(card_of(tbot.fake.sent(f"a:personal-{tbot.anna.id}")[-1]))
    assert len(tbot.fake.sent(SECURITY)) == 1
    assert [c.params["channel"] for c in tbot.slack_fake.calls_to("chat.postMessage")] == ["U0SAM"]


# ---- training prompts as cards ----------------------------------------------------------------------------------


async def test_a_training_prompt_is_answered_in_place(tbot):
    from datetime import date

    for member in (tbot.anna, tbot.erik):
        await tbot.teams.message(member, "hej")
    await tbot.runtime.teams.idle()
    anna = await tbot.person(tbot.anna)
    settings = training.CampaignSettings(courses=("Informationssäkerhet grund",), deadline=date(2026, 12, 31))
    started = await training.start_campaign(tbot.runtime.svc, anna.org_id, settings, started_by=None)
    assert started.audience == 2
    await tbot.runtime.tick()
    assert await tbot.deliver() == 2
    prompt = card_of(tbot.fake.sent(f"a:personal-{tbot.anna.id}")[-1])
    assert_valid_card(prompt)
    buttons = {a["verb"]: a for a in actions_of(prompt)}
    assert set(buttons) == {"training_done", "training_not_yet", "training_not_applicable"}
    assert all(a["type"] == "Action.Execute" for a in buttons.values())

    status, answer = await tbot.teams.execute(tbot.anna, buttons["training_done"])
    form = replaced_card(answer)
    assert inputs_of(form)["completed_on"]["type"] == "Input.Date"
    status, answer = await tbot.teams.execute(tbot.anna, actions_of(form)[0], {"completed_on": "2026-12-01"},
                                              card=form)
    t = tbot.runtime.svc.texts.t
    assert t("sv", "training.error.date_future") in card_text(replaced_card(answer))
    status, answer = await tbot.teams.execute(tbot.anna, actions_of(form)[0], {"completed_on": "2026-11-20"},
                                              card=form)
    done = replaced_card(answer)
    assert "2026-11-20" in card_text(done) and not actions_of(done)
    # Erik cannot answer Anna's prompt.
    status, answer = await tbot.teams.execute(tbot.erik, buttons["training_not_yet"])
    assert t("sv", "training.not_yours") in card_text(replaced_card(answer))


# ---- delivery ------------------------------------------------------------------------------------------------


async def test_the_connector_s_refusals_are_handled_as_the_outbox_expects(tbot, clock):
    fake = tbot.fake
    await report(tbot, tbot.anna)
    fake.fail_next(429, times=2, headers={"Retry-After": "7"})
    assert await tbot.deliver() == 2
    async with tbot.db.transaction() as session:
        rows = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
    assert [r.status for r in rows] == ["pending", "pending"]
    assert all(r.next_attempt_at == T0 + timedelta(seconds=7) and r.attempts == 0 for r in rows)

    clock.advance(timedelta(seconds=8))
    fake.fail_next(503)
    fake.fail_next(403)
    assert await tbot.deliver() == 2
    async with tbot.db.transaction() as session:
        rows = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
    by_status = sorted((r.status, r.attempts) for r in rows)
    assert by_status == [("failed", 1), ("pending", 1)]  # 403: given up; 503: tried again later
    failed = next(r for r in rows if r.status == "failed")
    assert "403" in failed.last_error


async def test_a_person_known_only_from_a_channel_gets_a_new_chat(tbot):
    """No 1:1 chat stored yet: the bot opens one (POST /v3/conversations) and keeps it for next time."""
    await tbot.teams.message(tbot.anna, "incidenter", conversation=_channel("19:general@thread.tacv2"))
    await tbot.runtime.teams.idle()
    anna = await tbot.person(tbot.anna)
    assert anna.teams_conversation_id is None and anna.teams_user_id == tbot.anna.id
    await report(tbot, tbot.anna, )
    # report() itself posted from her chat; forget it to see the bot open one.
    async with tbot.db.transaction() as session:
        (await session.get(Person, anna.id)).teams_conversation_id = None
    await tbot.deliver()
    created = [c for c in tbot.fake.calls if c.path == "/teams/v3/conversations" and c.status == 201]
    assert created and created[0].body["members"] == [{"id": tbot.anna.id}]
    assert (await tbot.person(tbot.anna)).teams_conversation_id == created[0].response["id"]


async def test_the_bot_token_comes_from_the_login_endpoint_and_is_reused(tbot):
    await report(tbot, tbot.anna)
    await tbot.deliver()
    tokens = [c for c in tbot.fake.calls if c.path == "token"]
    assert len(tokens) == 1 and tokens[0].status == 200
    assert tokens[0].body["scope"] == "https://api.botframework.com/.default"


async def test_a_channel_tells_its_id(tbot):
    await tbot.teams.message(tbot.sam, "<at>lisbot</at> kanal", conversation=_channel(SECURITY))
    await tbot.runtime.teams.idle()
    [reply] = tbot.fake.sent(SECURITY)
    assert SECURITY in card_text(card_of(reply))


# ---- Teams alone ------------------------------------------------------------------------------------------------


async def test_teams_alone_serves_api_messages_without_slack(database_url, microsoft, clock):
    settings = load_settings(env_file=None, DATABASE_URL=database_url, LISBOT_SECURITY_CHANNEL=SECURITY,
                             **microsoft.settings())
    settings.require_slack()  # Teams only is a complete configuration
    runtime, runner, base = await start_bot(settings, clock)
    try:
        assert runtime.slack is None
        paths = {r.resource.canonical for r in runner.app.router.routes()}
        assert TEAMS_PATH in paths and SLACK_PATH not in paths
        driver = TeamsDriver(base + TEAMS_PATH, microsoft)
        anna = microsoft.add_member("29:1anna", "aad-anna-0001", "Anna Andersson", "anna@example.se")
        bot = TeamsBot.__new__(TeamsBot)
        bot.runtime, bot.teams, bot.fake = runtime, driver, microsoft
        incident = await report(bot, anna)
        assert incident.reference == "INC-2026-0001"
        assert await runtime.deliverer.drain_once() == 2
        assert len(microsoft.sent(SECURITY)) == 1
        async with runtime.db.transaction() as session:
            [link] = (await session.execute(select(OrganisationLink))).scalars().all()
            assert link.external_id == TENANT
        await driver.close()
    finally:
        await runner.cleanup()
        await runtime.stop()


@pytest.mark.parametrize("overrides, named", [
    ({"CLIENT_ID": "not-a-guid"}, "CLIENT_ID"),
    ({"CLIENT_SECRET": ""}, "CLIENT_SECRET"),
    ({"TENANT_ID": ""}, "TENANT_ID"),
    ({"TENANT_ID": "contoso"}, "TENANT_ID"),
])
def test_a_missing_or_malformed_teams_setting_is_named(overrides, named):
    values = {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": "s", "TENANT_ID": TENANT, **overrides}
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **values).require_slack()
    assert str(caught.value).startswith(named) and "\n" not in str(caught.value)


@pytest.mark.parametrize("setting", ["LISBOT_TEAMS_OPENID_URL", "LISBOT_TEAMS_LOGIN_URL", "LISBOT_TEAMS_TOKEN_ISSUER"])
def test_token_addresses_may_only_move_to_https_or_this_machine(setting):
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, CLIENT_ID=CLIENT_ID, **{setting: "http://login.example.com/x"})
    assert setting in str(caught.value)
    load_settings(env_file=None, **{setting: "https://login.example.com/x"})
    load_settings(env_file=None, **{setting: "http://127.0.0.1:9/x"})


# ---- the app package -------------------------------------------------------------------------------------------


def test_lisbot_teams_package_writes_a_valid_app_package(tmp_path, monkeypatch):
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIENT_ID", CLIENT_ID)
    assert main(["teams", "package", "--url", "https://lisbot.example.se", "--out", "app.zip"]) == 0
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
    major, minor = map(int, manifest["manifestVersion"].split("."))
    assert (major, minor) >= (1, 17) and manifest["$schema"].endswith(f"v{manifest['manifestVersion']}/MicrosoftTeams.schema.json")
    assert manifest["id"] == CLIENT_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == CLIENT_ID and set(bot["scopes"]) == {"personal", "team", "groupChat"}
    titles = {c["title"] for lst in bot["commandLists"] for c in lst["commands"]}
    assert {"rapportera", "incidenter", "utbildning"} <= titles
    [command] = manifest["composeExtensions"][0]["commands"]
    assert command["id"] == "report_incident" and command["type"] == "action" and command["fetchTask"] is True
    assert "message" in command["context"]
    assert manifest["validDomains"] == ["lisbot.example.se"]
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    for url in (manifest["developer"]["websiteUrl"], manifest["developer"]["privacyUrl"],
                manifest["developer"]["termsOfUseUrl"]):
        assert url.startswith("https://")
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert color.size == (192, 192) and color.format == "PNG"
    assert outline.size == (32, 32) and outline.format == "PNG"
    raw = outline.convert("RGBA").tobytes()
    pixels = {tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)}
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels), "outline: white and transparent only"
    assert any(a == 0 for *_, a in pixels) and any(a == 255 for *_, a in pixels)


def test_teams_package_refuses_a_plain_http_address(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIENT_ID", CLIENT_ID)
    assert main(["teams", "package", "--url", "http://lisbot.example.se"]) == 2
    assert "--url" in capsys.readouterr().err
    assert not (tmp_path / "lisbot-teams.zip").exists()


# ---- the management review ----------------------------------------------------------------------------------------


async def test_the_review_draft_reaches_the_coordinator_and_the_summary_the_leadership_channel(tbot):
    """The draft and the leadership post arrive as cards with working buttons. Without LISBOT_PUBLIC_URL the
    documents cannot be linked, and those outbox rows fail with a clear error (with it: test_teams_documents)."""
    from handlers import review

    await tbot.make_coordinator(tbot.sam)
    await tbot.teams.message(tbot.sam, "genomgång 2026")
    await tbot.runtime.teams.idle()  # the draft is compiled after the answer
    assert "2026" in card_text(card_of(tbot.fake.sent(f"a:personal-{tbot.sam.id}")[-1]))
    await tbot.deliver()
    draft = card_of(tbot.fake.sent(f"a:personal-{tbot.sam.id}")[-1])
    buttons = {a["verb"]: a for a in actions_of(draft)}
    assert set(buttons) == {review.PUBLISH, review.REGENERATE}
    async with tbot.db.transaction() as session:
        files = [m for m in (await session.execute(select(OutboxMessage))).scalars() if m.payload.get("files")]
    assert files and all(f.status == "failed" and "LISBOT_PUBLIC_URL" in f.last_error for f in files)

    # Erik may not publish; Sam may, and the summary goes to the leadership channel.
    status, answer = await tbot.teams.execute(tbot.erik, buttons[review.PUBLISH])
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert not tbot.fake.sent(LEADERSHIP)
    status, answer = await tbot.teams.execute(tbot.sam, buttons[review.PUBLISH])
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    await tbot.deliver()
    [post] = tbot.fake.sent(LEADERSHIP)
    decide = next(a for a in actions_of(card_of(post)) if a["verb"] == review.DECIDE)
    status, answer = await tbot.teams.execute(tbot.sam, decide, conversation=_channel(LEADERSHIP))
    form = replaced_card(answer)
    status, answer = await tbot.teams.execute(tbot.sam, actions_of(form)[0],
                                              {"decision": "Införa tvåfaktorsinloggning", "due": "2027-06-30"},
                                              card=form, conversation=_channel(LEADERSHIP))
    replaced_card(answer)
    assert tbot.fake.card_problems == []
