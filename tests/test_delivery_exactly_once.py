"""Issue #4, nothing sent twice across a crash: a message is marked attempted (committed) before it is sent,
and a claimed row with the mark set is looked up in Slack (its metadata, conversations.history) before it
is sent again. The real Deliverer and SlackTransport against the fake Slack and the test database; a dead
process is a sender cancelled while Slack is still answering (its lease left behind, as SIGKILL leaves it),
and time is moved past the lease."""

from __future__ import annotations

import asyncio
import collections
from datetime import timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.delivery import CONCURRENCY, Deliverer
from bot.model import Message, Text
from bot.slack.adapter import web_client
from bot.slack.transport import EVENT_TYPE, SlackTransport
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import LEASE, enqueue_many
from tests.conftest import bot_settings, eventually
from tests.test_incident_report import ANNA

HELLO = Message("Hej", (Text("Hej"),)).to_dict()


async def queue(bot, n: int, *, to_anna: bool = False) -> list[str]:
    """n messages due now: to their own channels (the fake takes any C… id), or one DM to Anna."""
    actor = await bot.runtime.slack.actor("T0001", ANNA)
    if to_anna:
        targets = [("person", str(actor.person_id))]
    else:
        targets = [("channel", f"C{i:08d}") for i in range(n)]
    async with bot.db.transaction() as session:
        await enqueue_many(session, [
            {"org_id": actor.org_id, "dedupe_key": f"test:{kind}:{to}", "recipient_kind": kind, "recipient": to,
             "payload": {"message": HELLO}} for kind, to in targets], bot.runtime.clock.now())
    return [to for _, to in targets]


def sender(bot, clock, *, timeout: float | None = None) -> Deliverer:
    """A sender of its own (its own Slack client), as another process would have."""
    if timeout is None:
        client = web_client(bot_settings(bot.db.url, bot.fake), interactive=False)
    else:
        client = AsyncWebClient(token="xoxb-test", base_url=bot.fake.base_url, timeout=timeout)
    return Deliverer(bot.db, SlackTransport(client, bot.db), clock, poll_seconds=0.2)


async def drain(deliverer: Deliverer, passes: int = 1000) -> int:
    """Passes until nothing is left (or `passes` of them), then stop; how many messages were handled."""
    handled = 0
    try:
        for _ in range(passes):
            done = await deliverer.drain_once()
            handled += done
            if not done:
                break
    finally:
        await deliverer.stop()
    return handled


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def posts(fake) -> list:
    return fake.calls_to("chat.postMessage")


async def die_while_slack_answers(deliverer: Deliverer, fake, in_flight: int) -> None:
    """Slack answers the first `in_flight` posts after a second; the sender dies (is cancelled) while they
    are in flight, so their outcome is never written and their lease is left behind, as SIGKILL leaves it.
    Slack goes on and posts them."""
    fake.fail_next("chat.postMessage", status=200, delay=1.0, count=in_flight)
    pass_ = asyncio.create_task(deliverer.drain_once())
    await asyncio.sleep(0.4)  # the requests are at Slack; none answered
    assert not pass_.done() and posts(fake) == []
    pass_.cancel()
    await asyncio.gather(pass_, return_exceptions=True)
    await deliverer.stop()
    await eventually(lambda: len(posts(fake)) >= in_flight, timeout=10)


async def test_a_post_slack_accepted_but_never_recorded_is_not_posted_again(bot, clock):
    fake = bot.fake
    [anna_person] = await queue(bot, 1, to_anna=True)
    await die_while_slack_answers(sender(bot, clock), fake, in_flight=1)
    [row] = await rows(bot.db)
    assert row.status == "pending" and row.attempted_at is not None and row.lease_until is not None
    original = posts(fake)[0].response
    assert original["message"]["metadata"] == {
        "event_type": EVENT_TYPE, "event_payload": {"key": row.dedupe_key, "org": row.org_id}}

    clock.advance(LEASE + timedelta(seconds=1))  # the dead process's lease ends
    successor = sender(bot, clock)
    assert await drain(successor, passes=1) == 1
    assert len(posts(fake)) == 1, "posted twice"
    [row] = await rows(bot.db)
    assert row.status == "sent" and row.attempted_at is None
    assert row.result == {"channel": original["channel"], "ts": original["ts"]}
    assert successor.looked_up == {"found": 1, "not found": 0}
    # Looked up in Anna's DM: a DM channel the successor did not know, opened for the look-up.
    [history] = fake.calls_to("conversations.history")
    assert history.params["channel"] == original["channel"] and history.params["include_all_metadata"] in ("1", True)


async def test_a_marked_message_slack_never_got_is_sent_exactly_once(bot, clock):
    fake = bot.fake
    [channel] = await queue(bot, 1)
    fake.fail_next("chat.postMessage", status=500)  # Slack's gateway failed: it may or may not have posted
    await drain(sender(bot, clock), passes=1)
    [row] = await rows(bot.db)
    assert row.status == "pending" and row.attempted_at is not None and row.attempts == 1
    assert posts(fake) == []

    clock.advance(timedelta(seconds=6))  # the backoff of a first failure
    successor = sender(bot, clock)
    assert await drain(successor, passes=1) == 1
    assert [c.params["channel"] for c in posts(fake)] == [channel]
    assert successor.looked_up == {"found": 0, "not found": 1}
    [row] = await rows(bot.db)
    assert row.status == "sent" and row.attempted_at is None and row.result["ts"] == posts(fake)[0].response["ts"]


async def test_a_timeout_after_slack_accepted_does_not_duplicate(bot, clock):
    fake = bot.fake
    [channel] = await queue(bot, 1)
    fake.fail_next("chat.postMessage", status=200, delay=1.5)  # answered after the client gave up (1 s)
    deliverer = sender(bot, clock, timeout=1.0)
    try:
        await deliverer.drain_once()
        [row] = await rows(bot.db)
        assert row.status == "pending" and row.attempted_at is not None  # a timeout: the mark stays
        await eventually(lambda: len(posts(fake)) == 1, timeout=5)  # Slack did post it
        clock.advance(timedelta(seconds=6))
        assert await deliverer.drain_once() == 1
    finally:
        await deliverer.stop()
    assert len(posts(fake)) == 1, "posted twice"
    [row] = await rows(bot.db)
    assert row.status == "sent" and row.result == {"channel": channel, "ts": posts(fake)[0].response["ts"]}
    assert deliverer.looked_up["found"] == 1


async def test_a_sender_killed_mid_campaign_leaves_nothing_to_send_twice(bot, clock):
    fake = bot.fake
    channels = await queue(bot, 60)
    await die_while_slack_answers(sender(bot, clock), fake, in_flight=CONCURRENCY)  # one per sender
    killed_with = len(posts(fake))
    table = await rows(bot.db)
    in_doubt = [r for r in table if r.attempted_at is not None]
    assert in_doubt and all(r.status == "pending" for r in in_doubt)

    clock.advance(LEASE + timedelta(seconds=1))
    successor = sender(bot, clock)
    await drain(successor)
    assert collections.Counter(c.params["channel"] for c in posts(fake)) == {c: 1 for c in channels}
    assert successor.looked_up["found"] == killed_with
    assert successor.looked_up["found"] + successor.looked_up["not found"] == len(in_doubt)
    assert all(r.status == "sent" and r.attempted_at is None for r in await rows(bot.db))


async def test_a_campaign_without_a_crash_marks_ahead_and_looks_nothing_up(bot, clock):
    fake = bot.fake
    channels = await queue(bot, 120)
    await drain(sender(bot, clock))
    assert collections.Counter(c.params["channel"] for c in posts(fake)) == {c: 1 for c in channels}
    assert fake.calls_to("conversations.history", ok_only=False) == []
    assert all(r.status == "sent" and r.attempted_at is None for r in await rows(bot.db))


async def test_a_429_or_a_stop_clears_the_mark_of_what_slack_did_not_get(bot, clock):
    fake = bot.fake
    await queue(bot, 40)
    fake.fail_next("chat.postMessage", status=429, retry_after=30)  # a long pause: the rest go back to the table
    await drain(sender(bot, clock), passes=1)
    table = await rows(bot.db)
    pending = [r for r in table if r.status == "pending"]
    assert pending and all(r.attempted_at is None and r.lease_until is None for r in pending)
    assert all(r.status == "sent" and r.attempted_at is None for r in table if r not in pending)


async def test_the_fake_answers_conversations_history_as_slack_does(bot):
    fake = bot.fake
    client = web_client(bot_settings(bot.db.url, fake), interactive=False)
    for i in range(5):
        await client.chat_postMessage(channel="C0HIST", text=f"m{i}",
                                      metadata={"event_type": "t", "event_payload": {"i": i}})
    sent = [m["ts"] for m in fake.messages["C0HIST"]]
    page = await client.conversations_history(channel="C0HIST", limit=2)
    assert [m["text"] for m in page["messages"]] == ["m4", "m3"] and page["has_more"]
    assert all("metadata" not in m for m in page["messages"])  # only with include_all_metadata
    rest = await client.conversations_history(channel="C0HIST", limit=2, include_all_metadata=True,
                                              cursor=page["response_metadata"]["next_cursor"])
    assert [m["metadata"]["event_payload"]["i"] for m in rest["messages"]] == [2, 1]
    window = await client.conversations_history(channel="C0HIST", oldest=sent[1], latest=sent[3])
    assert [m["text"] for m in window["messages"]] == ["m2"] and not window["has_more"]
    window = await client.conversations_history(channel="C0HIST", oldest=sent[1], latest=sent[3], inclusive=True)
    assert [m["text"] for m in window["messages"]] == ["m3", "m2", "m1"]
    with pytest.raises(SlackApiError) as bad:
        await client.chat_postMessage(channel="C0HIST", text="x", metadata={"event_type": "t"})
    assert bad.value.response["error"] == "invalid_metadata_format"
    with pytest.raises(SlackApiError) as unknown:
        await client.conversations_history(channel="D0NEVER")  # no DM with that id
    assert unknown.value.response["error"] == "channel_not_found"
    assert len(fake.messages["C0HIST"]) == 5


async def test_a_look_up_slack_refuses_for_good_sends_the_message_once(bot, clock):
    """An app installed before the history scopes were added cannot look: better sent twice than never."""
    fake = bot.fake
    [channel] = await queue(bot, 1)
    fake.fail_next("chat.postMessage", status=503)
    await drain(sender(bot, clock), passes=1)
    fake.fail_next("conversations.history", error="missing_scope")
    clock.advance(timedelta(seconds=6))
    successor = sender(bot, clock)
    assert await drain(successor, passes=1) == 1
    assert [c.params["channel"] for c in posts(fake)] == [channel]
    assert successor.looked_up == {"found": 0, "not found": 0}
    [row] = await rows(bot.db)
    assert row.status == "sent" and row.attempted_at is None
