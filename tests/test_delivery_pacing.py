"""Issue #4, delivery at the rate Slack allows: the sender paces itself at the rate it learns from 429s,
keeps a leased batch in memory across a short pause, records what Slack accepted before it stops, and two
senders on one database send nothing twice. The real Deliverer and SlackTransport against the fake Slack,
with the sender's loop running on a clock that moves with real time."""

from __future__ import annotations

import asyncio
import collections
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.delivery import CONCURRENCY, Deliverer
from bot.model import Message, Text
from bot.slack.adapter import web_client
from bot.slack.transport import SlackTransport
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import enqueue_many
from tests.conftest import T0, bot_settings, eventually
from tests.test_incident_report import ANNA


class MovingClock:
    """T0 (a working day) moving with real time: the sender's pauses and leases pass as they would."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self):
        return T0 + timedelta(seconds=time.monotonic() - self.t0)


async def queue_channel_messages(bot, n: int) -> list[str]:
    """n messages, each to its own channel (the fake takes any C… id), due now."""
    org_id = (await bot.runtime.slack.actor("T0001", ANNA)).org_id
    channels = [f"C{i:08d}" for i in range(n)]
    message = Message("Hej", (Text("Hej"),)).to_dict()
    async with bot.db.transaction() as session:
        await enqueue_many(session, [
            {"org_id": org_id, "dedupe_key": f"test:{c}", "recipient_kind": "channel", "recipient": c,
             "payload": {"message": message}} for c in channels], T0)
    return channels


def sender(db: Database, bot) -> Deliverer:
    """A sender of its own (its own Slack client), as another process or replica would have."""
    client = web_client(bot_settings(bot.db.url, bot.fake), interactive=False)
    return Deliverer(db, SlackTransport(client, db), MovingClock(), poll_seconds=0.2)


def accepted_per_channel(fake) -> collections.Counter:
    return collections.Counter(c.params["channel"] for c in fake.calls_to("chat.postMessage"))


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_the_sender_learns_the_workspace_rate_and_paces_itself_without_429_storms(bot):
    fake = bot.fake
    fake.set_workspace_limit("chat.postMessage", per_minute=6000, burst_seconds=1.0)  # 100 a second
    channels = await queue_channel_messages(bot, 700)
    deliverer = sender(bot.db, bot)
    deliverer.start()
    try:
        await eventually(lambda: len(fake.calls_to("chat.postMessage")) >= len(channels), timeout=60)
    finally:
        await deliverer.stop()
    assert accepted_per_channel(fake) == {c: 1 for c in channels}
    limited = [c for c in fake.calls_to("chat.postMessage", ok_only=False) if c.status == 429]
    # Sending until told off and then pausing costs a 429 for every message in flight, about every second
    # (well over 50 here); pacing at the learned rate meets the limit a few times in all.
    assert len(limited) <= 30, len(limited)
    learned = deliverer._pacers["chat.postMessage"].rate
    # It learned a rate from the 429s. How near the limit it has come by the end depends on how many cycles
    # the machine's load allowed (a bound on the value failed CI once: 164 against 150); the 429 count
    # above is what shows that it paces.
    assert learned is not None
    assert all(r.status == "sent" and r.attempts == 1 for r in await rows(bot.db))


async def test_a_batch_held_across_a_429_pause_is_sent_once_after_the_pause_and_never_rescheduled(bot):
    fake = bot.fake
    channels = await queue_channel_messages(bot, 30)
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    deliverer = sender(bot.db, bot)
    deliverer.start()
    try:
        await eventually(lambda: len(fake.calls_to("chat.postMessage")) >= len(channels), timeout=20)
        await asyncio.sleep(0.3)  # a message sent twice would arrive meanwhile
    finally:
        await deliverer.stop()
    assert accepted_per_channel(fake) == {c: 1 for c in channels}
    calls = fake.calls_to("chat.postMessage", ok_only=False)
    limited_at = next(c.at for c in calls if c.status == 429)
    in_pause = [c for c in calls if limited_at < c.at < limited_at + 0.95]
    # Retry-After: 1 honoured: only sends already in flight when the 429 came arrived in the pause.
    assert len(in_pause) < CONCURRENCY and any(c.at >= limited_at + 0.95 for c in calls)
    # The held messages waited in memory, still leased: none went back to the table with the 429 as its error.
    assert all(r.status == "sent" and r.attempts == 1 and r.last_error is None for r in await rows(bot.db))


async def test_stopping_records_every_accepted_message_and_hands_back_the_rest(bot):
    fake = bot.fake
    channels = await queue_channel_messages(bot, 60)
    fake.fail_next("chat.postMessage", status=200, delay=0.2, count=1000)  # slow answers: sends are in flight
    deliverer = sender(bot.db, bot)
    deliverer.start()
    await eventually(lambda: len(fake.calls_to("chat.postMessage")) >= 10, timeout=20)
    await deliverer.stop()  # what SIGTERM does
    accepted = set(accepted_per_channel(fake))
    table = await rows(bot.db)
    assert {r.recipient for r in table if r.status == "sent"} == accepted
    unsent = [r for r in table if r.status != "sent"]
    assert unsent and all(r.status == "pending" and r.lease_until is None and r.attempts == 0 for r in unsent)

    successor = sender(bot.db, bot)  # the next process takes the rest at once, not after a lease
    try:
        while await successor.drain_once():
            pass
    finally:
        await successor.stop()
    assert accepted_per_channel(fake) == {c: 1 for c in channels}


@pytest.mark.parametrize("replicas", [2])
async def test_two_senders_on_one_database_send_each_message_once(bot, replicas):
    fake = bot.fake
    channels = await queue_channel_messages(bot, 300)
    databases = [Database(bot.db.url) for _ in range(replicas)]
    senders = [sender(db, bot) for db in databases]
    for s in senders:
        s.start()
    try:
        await eventually(lambda: len(fake.calls_to("chat.postMessage")) >= len(channels), timeout=60)
        await asyncio.sleep(0.5)
    finally:
        for s in senders:
            await s.stop()
        for db in databases:
            await db.close()
    assert accepted_per_channel(fake) == {c: 1 for c in channels}
    assert all(r.status == "sent" and r.attempts == 1 for r in await rows(bot.db))
