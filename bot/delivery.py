"""Drains the outbox: delivers each queued message once, at the pace the platform allows.

The database is the truth. A 429 pauses sending for as long as the platform asks; a transient failure
is retried with backoff; a permanent one (no such channel, a rejected payload) is marked failed and
logged for an admin. Several replicas may run this: rows are leased, so each is sent by one of them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Awaitable, Callable, Protocol

from bot.clock import Clock
from storage.db import Database
from storage.models import OutboxMessage
from storage import outbox

log = logging.getLogger(__name__)

BATCH = 50
CONCURRENCY = 8  # messages in flight at once; Slack's limits, not ours, should set the pace
POLL_SECONDS = 2.0
MAX_BACKOFF = timedelta(minutes=30)


class RetryLater(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class NotYet(Exception):
    """This message depends on another that is not sent yet: try it again shortly (no pause for others)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    async def deliver(self, message: OutboxMessage) -> dict:
        """Send one message; return what is needed to refer to it later (channel, ts). Raise RetryLater,
        PermanentFailure, or anything else for a transient failure."""


class ByRecipient:
    """One transport per chat platform; `choose` names the platform of each message (a person reachable
    only in Teams gets Teams, a Teams channel id gets Teams, everything else what it got before)."""

    def __init__(self, transports: dict[str, Transport], choose: Callable[[OutboxMessage], Awaitable[str]]) -> None:
        self.transports, self.choose = transports, choose

    async def deliver(self, message: OutboxMessage) -> dict:
        platform = await self.choose(message)
        transport = self.transports.get(platform)
        if transport is None:
            raise PermanentFailure(f"{platform} is not connected")
        return await transport.deliver(message)


class Deliverer:
    def __init__(self, db: Database, transport: Transport, clock: Clock, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.db, self.transport, self.clock = db, transport, clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._paused_until = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lisbot-delivery")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the batch in flight finish and be recorded (a message Slack accepted must be marked sent, or the
        next process sends it again); then stop. Bounded, so a hung call cannot hold up a shutdown."""
        if self._task:
            self._stopping = True
            self._wake.set()
            await asyncio.wait({self._task}, timeout=grace)
            if not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=5)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — the loop must outlive a database hiccup
                log.exception("delivery: could not drain the outbox; will try again")
                handled = 0
            if handled == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    def _idle_wait(self) -> float:
        """Poll, but come back right when a rate-limit pause ends."""
        if self._paused_until:
            left = (self._paused_until - self.clock.now()).total_seconds()
            if left > 0:
                return min(self.poll_seconds, left)
        return self.poll_seconds

    async def drain_once(self) -> int:
        """Deliver what is due now, several at a time. Returns how many messages were handled."""
        now = self.clock.now()
        if self._paused_until and now < self._paused_until:
            return 0
        async with self.db.transaction() as session:
            batch = await outbox.claim_due(session, now, BATCH)
        if not batch:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def attempt(message: OutboxMessage) -> tuple:
            async with gate:
                return await self._attempt(message)
        outcomes = await asyncio.gather(*(attempt(m) for m in batch))
        async with self.db.transaction() as session:
            for message, (update, args, kwargs) in zip(batch, outcomes):
                await update(session, message.id, *args, **kwargs)
        return len(batch)

    async def _attempt(self, message: OutboxMessage) -> tuple:
        """Send one message; return how to record the outcome: (outbox function, args, kwargs)."""
        if self._paused_until and self.clock.now() < self._paused_until:
            # Another message of this batch was told to slow down: this one waits with it.
            return outbox.reschedule, (self._paused_until, "waiting out a rate limit"), {"count_attempt": False}
        try:
            result = await self.transport.deliver(message)
        except RetryLater as exc:
            at = self.clock.now() + timedelta(seconds=exc.seconds)
            self._paused_until = max(self._paused_until or at, at)
            log.warning("delivery: rate limited, pausing %.0fs", exc.seconds)
            return outbox.reschedule, (at, str(exc)), {"count_attempt": False}
        except NotYet as exc:
            return outbox.reschedule, (self.clock.now() + timedelta(seconds=exc.seconds), str(exc)), {"count_attempt": False}
        except PermanentFailure as exc:
            log.error("delivery: message %s (%s) cannot be delivered: %s", message.id, message.dedupe_key, exc)
            return outbox.mark_failed, (str(exc),), {}
        except Exception as exc:  # noqa: BLE001 — network errors, 5xx, timeouts: all worth another try
            backoff = min(timedelta(seconds=5 * 2 ** min(message.attempts, 10)), MAX_BACKOFF)
            log.warning("delivery: message %s failed (%s), retrying in %s", message.id, exc, backoff)
            return (outbox.reschedule, (self.clock.now() + backoff, f"{type(exc).__name__}: {exc}"),
                    {"count_attempt": True})
        return outbox.mark_sent, (self.clock.now(), result), {}
