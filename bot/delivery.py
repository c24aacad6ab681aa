"""Drains the outbox: delivers each queued message once, at the pace the platform allows.

The database is the truth. A 429 pauses sending for as long as the platform asks; a transient failure
is retried with backoff; a permanent one (no such channel, a rejected payload) is marked failed and
logged for an admin. Several replicas may run this: rows are leased, so each is sent by one of them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from bot.clock import Clock
from storage.db import Database
from storage.models import OutboxMessage
from storage import outbox

log = logging.getLogger(__name__)

BATCH = 20
POLL_SECONDS = 2.0
MAX_BACKOFF = timedelta(minutes=30)


class RetryLater(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    async def deliver(self, message: OutboxMessage) -> dict:
        """Send one message; return what is needed to refer to it later (channel, ts). Raise RetryLater,
        PermanentFailure, or anything else for a transient failure."""


class Deliverer:
    def __init__(self, db: Database, transport: Transport, clock: Clock, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.db, self.transport, self.clock = db, transport, clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._paused_until = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lisbot-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — the loop must outlive a database hiccup
                log.exception("delivery: could not drain the outbox; will try again")
                sent = 0
            if sent == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    async def drain_once(self) -> int:
        """Deliver what is due now. Returns how many messages were handled."""
        now = self.clock.now()
        if self._paused_until and now < self._paused_until:
            return 0
        async with self.db.transaction() as session:
            batch = await outbox.claim_due(session, now, BATCH)
        for index, message in enumerate(batch):
            if not await self._deliver(message):
                # Rate limited: the rest of the batch waits for the pause to end.
                for waiting in batch[index + 1:]:
                    await self._record(outbox.reschedule, waiting.id, self._paused_until, "waiting out a rate limit",
                                       count_attempt=False)
                break
        return len(batch)

    async def _deliver(self, message: OutboxMessage) -> bool:
        """Deliver one message; False when the platform asked us to slow down."""
        try:
            result = await self.transport.deliver(message)
        except RetryLater as exc:
            at = self.clock.now() + timedelta(seconds=exc.seconds)
            self._paused_until = at
            await self._record(outbox.reschedule, message.id, at, str(exc), count_attempt=False)
            log.warning("delivery: rate limited, pausing %.0fs", exc.seconds)
            return False
        except PermanentFailure as exc:
            await self._record(outbox.mark_failed, message.id, str(exc))
            log.error("delivery: message %s (%s) cannot be delivered: %s", message.id, message.dedupe_key, exc)
        except Exception as exc:  # noqa: BLE001 — network errors, 5xx, timeouts: all worth another try
            backoff = min(timedelta(seconds=5 * 2 ** min(message.attempts, 10)), MAX_BACKOFF)
            await self._record(outbox.reschedule, message.id, self.clock.now() + backoff,
                               f"{type(exc).__name__}: {exc}", count_attempt=True)
            log.warning("delivery: message %s failed (%s), retrying in %s", message.id, exc, backoff)
        else:
            await self._record(outbox.mark_sent, message.id, self.clock.now(), result)
        return True

    async def _record(self, update, *args, **kwargs) -> None:
        async with self.db.transaction() as session:
            await update(session, *args, **kwargs)
