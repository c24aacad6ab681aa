"""Issue #2: reporting an incident through every Slack entry point, end to end."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from handlers.incidents import submit_report
from storage.models import Incident, OutboxMessage, PersonRole
from tests.conftest import SECURITY_CHANNEL, T0
from tests.slackdriver import TEAM, state_values

ANNA, ERIK, SAM = "U0ANNA", "U0ERIK", "U0SAM"


async def open_report(bot, user=ANNA):
    before = len(bot.fake.calls_to("views.open"))
    reply = await bot.slack.command(user)
    assert reply.status == 200 and reply.text == ""
    calls = await bot.fake.wait_for("views.open", before + 1)
    return calls[-1].response["view"]


def valid_values(**overrides):
    values = {"kinds": ["infosec"], "description": "Okänd person i serverrummet.",
              "discovered_at": T0 - timedelta(hours=1)}
    values.update(overrides)
    return values


async def count(bot, model, *where) -> int:
    async with bot.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def incidents(bot) -> list[Incident]:
    async with bot.db.transaction() as session:
        return list((await session.execute(select(Incident).order_by(Incident.id))).scalars())


# ---- opening the form ------------------------------------------------------


async def test_slash_command_opens_the_swedish_form(bot):
    view = await open_report(bot)
    assert view["callback_id"] == "incident_report"
    assert view["title"]["text"] == "Rapportera incident"
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels[:2] == ["Vad gäller det?", "Vad har hänt?"]
    optional = {b["block_id"] for b in view["blocks"] if b["type"] == "input" and b["optional"]}
    assert optional == {"occurred_at", "asset", "personal_data", "sensitive_data", "people_affected", "injury"}
    discovered = next(b for b in view["blocks"] if b.get("block_id") == "discovered_at")
    assert discovered["element"]["initial_date_time"] == int(T0.timestamp())


async def test_each_form_starts_at_its_own_now_and_is_otherwise_the_same(bot, clock):
    """The form is built once per language; only the discovery time is each modal's own."""
    first = await open_report(bot)
    clock.set(T0 + timedelta(minutes=42))
    second = await open_report(bot)
    english = await open_report(bot, ERIK)

    def discovered(view):
        return next(b for b in view["blocks"] if b.get("block_id") == "discovered_at")["element"]["initial_date_time"]
    assert (discovered(first), discovered(second)) == (int(T0.timestamp()), int(T0.timestamp()) + 42 * 60)
    assert discovered(english) == discovered(second) and english["title"]["text"] == "Report an incident"
    without_time = lambda view: [b for b in view["blocks"] if b.get("block_id") != "discovered_at"]  # noqa: E731
    assert without_time(first) == without_time(second) and first["title"] == second["title"]


async def test_the_ack_does_not_wait_for_the_modal(bot):
    """Slack waits 3 s for the answer; a slow views.open comes after it, not before."""
    await open_report(bot)  # the profile is read once; this measures the ack alone
    bot.fake.fail_next("views.open", status=200, delay=1.5)  # Slack slow to open the modal
    before = len(bot.fake.calls_to("views.open"))
    started = time.monotonic()
    reply = await bot.slack.command(ANNA, settle=False)
    answered_in = time.monotonic() - started
    assert reply.status == 200 and reply.text == ""
    assert answered_in < 1.0
    calls = await bot.fake.wait_for("views.open", before + 1)
    assert calls[-1].ok and calls[-1].response["view"]["callback_id"] == "incident_report"


async def test_english_locale_gets_the_english_form(bot):
    view = await open_report(bot, ERIK)
    assert view["title"]["text"] == "Report an incident"
    kinds = next(b for b in view["blocks"] if b.get("block_id") == "kinds")
    assert [o["text"]["text"] for o in kinds["element"]["options"]][:2] == ["Information/IT security", "Personal data"]


@pytest.mark.parametrize("entry", ["shortcut", "home_button"])
async def test_shortcut_and_home_button_open_the_form(bot, entry):
    reply = await (bot.slack.shortcut(ANNA) if entry == "shortcut" else bot.slack.click(ANNA, "home_report_incident"))
    assert reply.status == 200
    view = (await bot.fake.wait_for("views.open"))[-1].response["view"]
    assert view["callback_id"] == "incident_report"


async def test_message_shortcut_prefills_text_and_link(bot):
    reply = await bot.slack.message_shortcut(ANNA, channel="C0GENERAL", ts="1764000000.000100",
                                             text="Har någon sett <@U0X>s datorväska?")
    assert reply.status == 200
    view = (await bot.fake.wait_for("views.open"))[-1].response["view"]
    description = next(b for b in view["blocks"] if b.get("block_id") == "description")["element"]["initial_value"]
    assert description.startswith("Har någon sett <@U0X>s datorväska?")
    permalink = bot.fake.calls_to("chat.getPermalink")[-1].response["permalink"]
    assert permalink in description
    # The link travels with the form and is stored with the incident.
    await bot.slack.submit(ANNA, view, valid_values(description=description))
    assert (await incidents(bot))[0].source_link == permalink


# ---- submitting -------------------------------------------------------------


async def test_submission_stores_answers_and_announces_once(bot):
    view = await open_report(bot)
    reply = await bot.slack.submit(ANNA, view, valid_values(
        kinds=["personal_data", "infosec"], personal_data="yes", sensitive_data="no", people_affected="40",
        occurred_at=T0 - timedelta(hours=5), discovered_at=T0 - timedelta(hours=2), asset="Ekonomisystemet"))
    assert reply.status == 200
    assert reply.json["response_action"] == "update"
    assert "INC-2026-0001" in reply.json["view"]["blocks"][0]["text"]["text"]

    [incident] = await incidents(bot)
    assert incident.reference == "INC-2026-0001"
    assert incident.kind_codes == ["infosec", "personal_data"]
    assert incident.people_affected == 40 and incident.asset_text == "Ekonomisystemet"
    assert incident.discovered_at == T0 - timedelta(hours=2) and incident.reported_at == T0

    assert await bot.deliver() == 2
    receipt = bot.fake.calls_to("chat.postMessage")
    by_channel = {c.params["channel"]: c.params for c in receipt}
    assert set(by_channel) == {ANNA, SECURITY_CHANNEL}
    assert "INC-2026-0001" in by_channel[ANNA]["text"]
    notice = str(by_channel[SECURITY_CHANNEL]["blocks"])
    assert "INC-2026-0001" in notice and "Personuppgifter" in notice
    # 72 hours from discovery (11:00 UTC on the 25th) is 11:00 UTC on the 28th = 12:00 in Stockholm.
    assert "2026-11-28 12:00" in notice
    assert "Okänd person" not in notice and "Anna" not in notice
    assert await bot.deliver() == 0


async def test_dm_receipt_in_english_for_english_reporter(bot):
    view = await open_report(bot, ERIK)
    await bot.slack.submit(ERIK, view, valid_values())
    await bot.deliver()
    receipt = next(c for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == ERIK)
    assert receipt.params["text"].startswith("Thank you!")


BAD_INPUT = [
    ("discovered_at", dict(occurred_at=T0 - timedelta(hours=1), discovered_at=T0 - timedelta(hours=2)),
     "Det kan inte ha upptäckts innan det hände."),
    ("occurred_at", dict(occurred_at=T0 + timedelta(days=1)), "Tidpunkten ligger i framtiden."),
    ("discovered_at", dict(discovered_at=T0 + timedelta(hours=1)), "Tidpunkten ligger i framtiden."),
    ("description", dict(description="   \n "), "Beskriv kort vad som har hänt."),
    ("description", dict(description="x" * 3001), "Texten är för lång – högst 3000 tecken."),
    ("kinds", dict(kinds=[]), "Välj minst en typ."),
    ("people_affected", dict(personal_data="yes", people_affected="-3"), "Antalet kan inte vara negativt."),
    ("people_affected", dict(personal_data="yes", people_affected="99999999999"),
     "Antalet verkar orimligt stort (högst 10 000 000)."),
    ("people_affected", dict(personal_data="yes", people_affected="många"), "Ange ett heltal, till exempel 25."),
    ("personal_data", dict(kinds=["personal_data"], personal_data="no"),
     "Du valde typen Personuppgifter – svara Ja eller Vet inte."),
    ("asset", dict(asset="s" * 201), "Texten är för lång – högst 200 tecken."),
]


@pytest.mark.parametrize("field,values,message", BAD_INPUT, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUT)])
async def test_bad_input_is_shown_on_the_field_and_stores_nothing(bot, field, values, message):
    view = await open_report(bot)
    reply = await bot.slack.submit(ANNA, view, valid_values(**values))
    assert reply.status == 200
    assert reply.json == {"response_action": "errors", "errors": {field: message}}
    assert await count(bot, Incident) == 0
    assert await count(bot, OutboxMessage) == 0


async def test_bad_input_in_english_for_english_reporter(bot):
    view = await open_report(bot, ERIK)
    reply = await bot.slack.submit(ERIK, view, valid_values(description=""))
    assert reply.json["errors"] == {"description": "Briefly describe what happened."}


async def test_repeated_submission_makes_one_incident_one_receipt_one_notice(bot):
    view = await open_report(bot)
    first = await bot.slack.submit(ANNA, view, valid_values())
    # A double click and Slack's retry of the same request: same view, same payload.
    again = await asyncio.gather(*[bot.slack.submit(ANNA, view, valid_values(), headers={"X-Slack-Retry-Num": "1"})
                                   for _ in range(3)])
    assert {r.json["view"]["blocks"][0]["text"]["text"] for r in [first, *again]} == {
        first.json["view"]["blocks"][0]["text"]["text"]}
    assert await count(bot, Incident) == 1
    await bot.deliver()
    assert len(bot.fake.calls_to("chat.postMessage")) == 2


async def test_a_retry_among_new_reports_stores_each_once_and_skips_no_number(bot):
    """Slack retries a stored report while others come in: one source key, one incident; the others are
    stored, each once, and no reference number is skipped."""
    stored = await open_report(bot)
    first = await bot.slack.submit(ANNA, stored, valid_values())
    views = [await open_report(bot) for _ in range(6)]
    replies = await asyncio.gather(
        bot.slack.submit(ANNA, stored, valid_values(), headers={"X-Slack-Retry-Num": "1"}),
        *[bot.slack.submit(ANNA, v, valid_values(description=f"Rapport {n}")) for n, v in enumerate(views)])
    assert all(r.status == 200 and r.json["response_action"] == "update" for r in replies)
    assert replies[0].json["view"] == first.json["view"]  # the retry is told what the first answer said
    found = await incidents(bot)
    assert [i.reference for i in found] == [f"INC-2026-{n:04d}" for n in range(1, 8)]
    assert sorted(i.description for i in found[1:]) == [f"Rapport {n}" for n in range(6)]
    assert await bot.deliver() == 14  # a receipt and a notice for each of the seven, none twice
    assert await bot.deliver() == 0


async def test_a_repeat_inside_one_batch_breaks_it_and_each_report_is_stored_alone(bot, caplog):
    """The same, with the repeat certainly in the batch: the batch's insert breaks on the source key, every
    report is written again alone, the repeat is recognised, and no number is taken by the failed batch."""
    caplog.set_level(logging.INFO, logger="handlers.group_commit")
    await bot.slack.submit(ANNA, await open_report(bot), valid_values())
    svc, [incident] = bot.runtime.svc, await incidents(bot)
    actor = await bot.runtime.slack.actor(TEAM, ANNA)
    # All submitted before the writer first runs: one batch.
    results = await asyncio.gather(*[
        submit_report(svc, actor, valid_values(description=f"Rapport {n}"), source_key=key)
        for n, key in enumerate(["ny:1", incident.source_key, "ny:2", "ny:1"])])
    assert "writing them one at a time" in caplog.text
    assert [(r.incident.reference, r.created) for r in results] == [
        ("INC-2026-0002", True), ("INC-2026-0001", False), ("INC-2026-0003", True), ("INC-2026-0002", False)]
    assert [i.reference for i in await incidents(bot)] == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    assert await bot.deliver() == 6


async def test_concurrent_submissions_get_unique_gap_free_references(bot):
    views = [await open_report(bot) for _ in range(25)]
    replies = await asyncio.gather(*[bot.slack.submit(ANNA, v, valid_values()) for v in views])
    assert all(r.json["response_action"] == "update" for r in replies)
    refs = sorted(i.reference for i in await incidents(bot))
    assert refs == [f"INC-2026-{n:04d}" for n in range(1, 26)]


async def test_references_restart_each_year(bot, clock):
    await bot.slack.submit(ANNA, await open_report(bot), valid_values())
    clock.set(T0.replace(year=2027, month=1, day=4))
    await bot.slack.submit(ANNA, await open_report(bot), valid_values(discovered_at=clock.now()))
    assert [i.reference for i in await incidents(bot)] == ["INC-2026-0001", "INC-2027-0001"]


# ---- forged and stale requests ---------------------------------------------


async def test_forged_stale_and_tampered_requests_are_refused(bot):
    view = await open_report(bot)
    payload = {"type": "view_submission", "team": {"id": "T0001"}, "user": {"id": ANNA},
               "view": dict(view, state={"values": state_values(view, valid_values())})}
    body = urlencode({"payload": json.dumps(payload)})
    form = "application/x-www-form-urlencoded"
    good = bot.slack.signed_headers(body, content_type=form)

    async def status(data, headers):
        async with bot.slack.http.post(bot.slack.url, data=data, headers=headers) as response:
            return response.status

    assert await status(body, dict(good, **{"X-Slack-Signature": "v0=" + "0" * 64})) == 401
    assert await status(body, bot.slack.signed_headers(body, content_type=form, timestamp=int(time.time()) - 301)) == 401
    tampered = body.replace("serverrummet", "kontoret")
    assert tampered != body
    assert await status(tampered, good) == 401
    assert await status(body, {"Content-Type": form}) == 401
    assert await count(bot, Incident) == 0
    # The same body, properly signed, is accepted: the refusals above were about the signature alone.
    assert await status(body, good) == 200
    assert await count(bot, Incident) == 1


# ---- Slack failing -----------------------------------------------------------


async def test_slack_errors_while_announcing_lose_nothing_and_repeat_nothing(bot, clock):
    view = await open_report(bot)
    bot.fake.fail_next("chat.postMessage", status=503, count=2)
    reply = await bot.slack.submit(ANNA, view, valid_values())
    assert reply.json["response_action"] == "update"
    assert await count(bot, Incident) == 1
    await bot.deliver()
    assert bot.fake.calls_to("chat.postMessage") == []
    assert await count(bot, OutboxMessage, OutboxMessage.status == "pending") == 2

    clock.advance(timedelta(minutes=5))
    bot.fake.fail_next("chat.postMessage", status=429, retry_after=30, count=1)
    await bot.deliver()
    # Both were in flight at once: one got through, the other was told to wait 30 seconds.
    assert len(bot.fake.calls_to("chat.postMessage")) == 1
    clock.advance(timedelta(seconds=10))
    assert await bot.deliver() == 0  # still inside Slack's Retry-After
    clock.advance(timedelta(seconds=25))
    assert await bot.deliver() == 1
    assert len(bot.fake.calls_to("chat.postMessage")) == 2
    clock.advance(timedelta(hours=1))
    assert await bot.deliver() == 0
    assert len(bot.fake.calls_to("chat.postMessage")) == 2


async def test_a_message_slack_refuses_for_good_is_marked_failed_not_retried(bot, clock):
    view = await open_report(bot)
    await bot.slack.submit(ANNA, view, valid_values())
    bot.fake.fail_next("chat.postMessage", error="channel_not_found", count=1)
    await bot.deliver()
    async with bot.db.transaction() as session:
        statuses = dict((await session.execute(select(OutboxMessage.recipient, OutboxMessage.status))).all())
    assert sorted(statuses.values()) == ["failed", "sent"]


# ---- App Home and details -----------------------------------------------------


async def test_home_lists_own_reports_and_has_the_button(bot):
    await bot.slack.submit(ANNA, await open_report(bot), valid_values(kinds=["work_env"], injury="near_miss"))
    await bot.slack.submit(ERIK, await open_report(bot, ERIK), valid_values())
    reply = await bot.slack.event({"type": "app_home_opened", "user": ANNA, "channel": "D0ANNA", "tab": "home"},
                                  event_id="Ev0001")
    assert reply.status == 200
    [publish] = await bot.fake.wait_for("views.publish")
    assert publish.params["user_id"] == ANNA
    text = str(publish.params["view"])
    assert "*INC-2026-0001* · Arbetsmiljö · Ny · rapporterad 2026-11-25 14:00" in text
    assert "INC-2026-0002" not in text
    assert "home_report_incident" in text


async def test_event_retries_are_handled_once(bot):
    event = {"type": "app_home_opened", "user": ANNA, "channel": "D0ANNA", "tab": "home"}
    await bot.slack.event(event, event_id="Ev0002")
    await bot.fake.wait_for("views.publish")
    await bot.slack.event(event, event_id="Ev0002", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    await asyncio.sleep(0.3)
    assert len(bot.fake.calls_to("views.publish")) == 1


async def test_details_only_for_reporter_and_coordinators(bot):
    await bot.slack.submit(ANNA, await open_report(bot), valid_values(description="Hemlig-beskrivning-4711"))
    [incident] = await incidents(bot)

    async def details(user):
        before = len(bot.fake.calls_to("views.open"))
        await bot.slack.click(user, "incident_show", str(incident.id), container={"type": "message"})
        return str((await bot.fake.wait_for("views.open", before + 1))[-1].params["view"])

    assert "Hemlig-beskrivning-4711" in await details(ANNA)
    refused = await details(SAM)
    assert "Hemlig-beskrivning-4711" not in refused and "inte behörighet" in refused
    async with bot.db.transaction() as session:
        sam = await bot.runtime.slack.actor("T0001", SAM)
        session.add(PersonRole(person_id=sam.person_id, role="informationssakerhetssamordnare"))
    assert "Hemlig-beskrivning-4711" in await details(SAM)


# ---- the database failing ----------------------------------------------------


async def test_database_unavailable_at_submit_says_so_and_stores_nothing(bot, database_url):
    view = await open_report(bot)
    async with bot.db.engine.connect() as blocker:
        # Another writer holds the incidents table longer than the bot may wait within Slack's 3 seconds.
        if bot.db.is_sqlite:
            await blocker.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            await blocker.exec_driver_sql("BEGIN")
            await blocker.exec_driver_sql("LOCK TABLE reference_counters IN ACCESS EXCLUSIVE MODE")
        started = asyncio.get_running_loop().time()
        reply = await bot.slack.submit(ANNA, view, valid_values())
        elapsed = asyncio.get_running_loop().time() - started
        await blocker.rollback()
    assert reply.json["response_action"] == "errors"
    assert "kunde inte sparas" in reply.json["errors"]["description"]
    assert elapsed < 3.0
    assert await count(bot, Incident) == 0 and await count(bot, OutboxMessage) == 0
    # Once the database is back, the same form goes through.
    again = await bot.slack.submit(ANNA, view, valid_values())
    assert again.json["response_action"] == "update"


async def test_health_endpoint(bot):
    async with bot.slack.http.get(bot.url + "/healthz") as r:
        assert r.status == 200
        assert (await r.json())["database"] == "ok"


async def test_the_outbox_leases_nothing_while_a_request_is_being_answered(bot):
    """Claiming messages is a database write; while Slack waits for an answer, the outbox holds back (a
    bounded while) before it claims, not only before it sends."""
    await bot.slack.submit(ANNA, await open_report(bot), valid_values())
    with bot.runtime.ingress.request():  # a request in hand
        sending = asyncio.create_task(bot.deliver())
        await asyncio.sleep(0.2)
        async with bot.db.transaction() as session:
            leased = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.lease_until.is_not(None)))).scalar_one()
        assert leased == 0 and not sending.done() and not bot.fake.calls_to("chat.postMessage")
    assert await sending == 2  # answered: the receipt and the notice go
