"""Drains the outbox: delivers each queued message once, at the pace the platform allows.

The database is the truth. Messages are leased in small batches and sent by a few workers, each send spaced
by a pacer that learns the platform's rate from its 429s (bot/pacing.py). A 429 pauses the sends; the
messages it held back stay leased in memory and go out when the pause ends (a long pause hands them back to
the database instead). A transient failure is retried with backoff; a permanent one (no such channel, a
rejected payload) is marked failed and logged for an admin. Each accepted send is recorded at once, in small
groups. Several replicas may run this: rows are leased, so each is sent by one of them.

Exactly once across a crash: chat.postMessage has no idempotency key, so a message the platform accepted but
the database does not yet call sent would go out again. So a message is sent only after a committed row says
it may have been (`attempted_at`); the recorder's transactions mark the next few held messages ahead, so
sends seldom wait for it. The mark is cleared once the outcome is certain (sent, 429, failed for good, never
handed over) and kept after a timeout or 5xx. A claimed row that has it set is a suspect: the transport is
asked whether the platform has it (`find_sent`, paced in its own lane) and only sent when it has not.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.pacing import Pacer
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

BATCH = 50  # rows leased per claim at least; more when the platform allows more a second
MAX_BATCH = 250
CONCURRENCY = 8  # sends in flight at once; the pacer, not this, sets the pace
POLL_SECONDS = 2.0
MAX_BACKOFF = timedelta(minutes=30)
HOLD_SECONDS = 10.0  # a rate-limit pause up to this long keeps its messages in memory; longer ones go back to the table
TIER_BURST = 10.0  # seconds of a published tier that may go at once
VERIFY_LANE = "verify"  # the pacing lane of find_sent, the look-ups of suspects
# Look-ups come all at once after a restart and hardly ever otherwise: a minute's budget may go at once.
VERIFY_BURST = 60.0
MARK_AHEAD_MAX = 40  # messages marked attempted ahead of their send, at most (each a look-up after a crash)
# A held message whose lease ends sooner is not sent but goes back to the table: its send (timeout 10 s) and
# record must end while the lease holds, or another replica might send it too.
LEASE_MARGIN = timedelta(seconds=15)


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


async def sent_before(db: Database, item: OutboxMessage, key: str, what: str) -> OutboxMessage:
    """The message `item` builds on (queued under the key `item.payload[key]`: the one it updates, or answers
    in a thread), once that is sent. Not sent yet: NotYet, so it is tried again shortly. Never queued, or
    failed for good: PermanentFailure, as it never will be."""
    async with db.transaction() as session:
        earlier = await outbox.sent_message(session, item.org_id, item.payload[key])
    if earlier is None or earlier.status == "failed":
        raise PermanentFailure(f"{what} was never sent")
    if earlier.status != "sent":
        raise NotYet(5, f"{what} is not sent yet")
    return earlier


class Transport(Protocol):
    async def deliver(self, message: OutboxMessage) -> dict:
        """Send one message; return what is needed to refer to it later (channel, ts). Raise RetryLater,
        PermanentFailure, or anything else for a transient failure.

        Optional, when a transport has them: `lane(message) -> str` (messages in one lane share a rate limit),
        `async prepare(messages)` (look up what a batch needs in one go), `async record(session)` (write what
        sending taught, e.g. DM channels, in the transaction that marks messages sent), `async close()`.

        Optional: `async find_sent(message) -> dict | None`: whether an earlier attempt of this message got
        there (a process died after sending and before recording, or a timeout after the platform may have
        posted it); the same dict `deliver` would have returned, or None when it did not arrive (then it is
        sent). Called only for messages marked attempted, paced in the lane VERIFY_LANE (`rates` may give
        its rate). A transport without it sends such a message again (at least once, not exactly once)."""


class ByRecipient:
    """One transport per chat platform; `choose` names the platform of each message (a person reachable
    only in Teams gets Teams, a Teams channel id gets Teams, everything else what it got before)."""

    def __init__(self, transports: dict[str, Transport], choose: Callable[[OutboxMessage], Awaitable[str]]) -> None:
        self.transports, self.choose = transports, choose

        rates = [t.rates[VERIFY_LANE] for t in transports.values() if VERIFY_LANE in getattr(t, "rates", {})]
        self.rates = {VERIFY_LANE: min(rates)} if rates else {}

    async def _transport(self, message: OutboxMessage) -> Transport:
        platform = await self.choose(message)
        transport = self.transports.get(platform)
        if transport is None:
            raise PermanentFailure(f"{platform} is not connected")
        return transport

    async def deliver(self, message: OutboxMessage) -> dict:
        return await (await self._transport(message)).deliver(message)

    async def find_sent(self, message: OutboxMessage) -> dict | None:
        find = getattr(await self._transport(message), "find_sent", None)
        return await find(message) if find else None

    async def prepare(self, messages: list[OutboxMessage]) -> None:
        for transport in self.transports.values():
            await _optional(transport, "prepare", messages)

    async def record(self, session: AsyncSession) -> None:
        for transport in self.transports.values():
            await _optional(transport, "record", session)

    async def close(self) -> None:
        for transport in self.transports.values():
            await _optional(transport, "close")


async def _optional(transport: Any, name: str, *args) -> None:
    method = getattr(transport, name, None)
    if method is not None:
        await method(*args)


class Deliverer:
    def __init__(self, db: Database, transport: Transport, clock: Clock, *, poll_seconds: float = POLL_SECONDS,
                 rates: dict[str, float] | None = None) -> None:
        """`rates`: sends a second per lane where known (e.g. a method's tier); other lanes learn theirs."""
        self.db, self.transport, self.clock = db, transport, clock
        self.poll_seconds = poll_seconds
        self._rates = dict(getattr(transport, "rates", {}) if rates is None else rates)
        self._pacers: dict[str, Pacer] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._never = asyncio.Event()  # a single pass (drain_once) is not stopped half-way
        self._task: asyncio.Task | None = None
        self._paused_until: datetime | None = None  # on self.clock: what the table is told while a 429 lasts
        self._held: deque[OutboxMessage] = deque()  # leased to us, not yet sent
        self._claiming: asyncio.Task | None = None
        self._outcomes: list[tuple[Callable, tuple, dict]] = []  # (outbox function, args, kwargs) to record
        self._outcome_ready = asyncio.Event()
        # Marked attempted, by message id: `_fresh` by us (committed) and not handed to the platform since;
        # `_verified` by an earlier attempt, looked up and not found there. Both may be sent.
        self._fresh: set[int] = set()
        self._verified: set[int] = set()
        self._marking: set[int] = set()  # marks in the transaction being written
        self._wanted: dict[int, None] = {}  # unmarked messages a sender waits for (ordered)
        self._marked = asyncio.Event()  # set (and replaced) after each write of marks
        self._marks_failed = False  # the last write failed: senders waiting for a mark give up
        self._commit_seconds = 0.02  # how long a recorder's transaction takes, smoothed
        self._suspects: deque[OutboxMessage] = deque()  # claimed with a mark set: to look up first
        self._suspect_ready = asyncio.Event()
        self._workers_left = 0
        self.looked_up = {"found": 0, "not found": 0}  # suspects, for the benchmark and the log

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="lisbot-delivery")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the sends in flight finish and be recorded (a message Slack accepted must be marked sent, or the
        next process sends it again), hand the unsent leased ones back, then stop. Bounded, so a hung call
        cannot hold up a shutdown."""
        self._stop.set()
        if self._task:
            began = time.monotonic()
            self._wake.set()
            await asyncio.wait({self._task}, timeout=grace)
            if not self._task.done():
                log.warning("delivery: did not stop within %.0f s; cancelling", grace)
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=5)
            self._task = None
            log.info("delivery: stopped in %.2f s", time.monotonic() - began)
        await _optional(self.transport, "close")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handled = await self._pump(once=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — the loop must outlive a database hiccup
                log.exception("delivery: could not drain the outbox; will try again")
                handled = 0
            if handled == 0 and not self._stop.is_set():
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
        """One pass: lease what is due now, send it, record every outcome. Returns how many messages were handled.
        (The loop does the same without stopping between batches.)"""
        return await self._pump(once=True)

    # ---- the pump: claims, workers, recorder ------------------------------------------------------------------

    async def _pump(self, *, once: bool) -> int:
        if self._paused_until and self.clock.now() < self._paused_until:
            return 0
        if not await self._claim():
            return 0
        self._recording_over = False
        recorder = asyncio.create_task(self._recorder(), name="lisbot-delivery-recorder")
        handled, ended = [0], []
        if self._outcomes:
            self._outcome_ready.set()  # left by a pass whose last write failed
        self._workers_left = CONCURRENCY
        try:
            ended = await asyncio.gather(*(self._worker(once, handled) for _ in range(CONCURRENCY)),
                                         *(self._verifier(once, handled) for _ in range(CONCURRENCY)),
                                         return_exceptions=True)
        finally:
            if self._claiming:
                ended += await asyncio.gather(self._claiming, return_exceptions=True)
                self._claiming = None
            self._give_back()
            self._recording_over = True
            self._outcome_ready.set()
            await recorder
        for error in ended:
            if isinstance(error, BaseException):
                raise error
        return handled[0]

    async def _claim(self) -> int:
        """Lease the next batch into memory."""
        await _optional(self.transport, "before_claim")
        async with self.db.transaction() as session:
            batch = await outbox.claim_due(session, self.clock.now(), self._batch_size())
        if batch:
            await _optional(self.transport, "prepare", batch)
            self._held.extend(batch)
        return len(batch)

    def _batch_size(self) -> int:
        """About a second of sends at the known rate: small, so few rows wait leased when a process dies."""
        rate = max((p.rate or 0.0 for p in self._pacers.values()), default=0.0)
        return max(BATCH, min(MAX_BATCH, int(rate)))

    async def _next(self, once: bool) -> OutboxMessage | None:
        if not once and len(self._held) < self._batch_size() // 2 and not self._stop.is_set():
            if self._claiming is not None and self._claiming.done():
                claimed, self._claiming = self._claiming, None
                claimed.result()  # a failed claim ends this pass; the loop reports it and tries again
            if self._claiming is None:
                self._claiming = asyncio.create_task(self._claim(), name="lisbot-delivery-claim")
            if not self._held:
                await asyncio.shield(self._claiming)
        return self._held.popleft() if self._held else None

    async def _worker(self, once: bool, handled: list[int]) -> None:
        try:
            while once or not self._stop.is_set():
                message = await self._next(once)
                if message is None:
                    return
                if message.attempted_at is not None and message.id not in self._verified:
                    self._suspects.append(message)  # looked up on the side: the others go on meanwhile
                    self._suspect_ready.set()
                elif not await self._send(message, once, handled):
                    return
        finally:
            self._workers_left -= 1
            self._suspect_ready.set()

    async def _send(self, message: OutboxMessage, once: bool, handled: list[int]) -> bool:
        """Send one message and note its outcome. False: it went back to the held ones and this sender stops
        (stopping, or a long pause)."""
        if message.lease_until - self.clock.now() < LEASE_MARGIN:
            self._done(outbox.release, (), {"clear_attempt": self._never_sent(message)}, message)
            return True
        paused = self._paused_until and self.clock.now() < self._paused_until
        if once and paused:
            # Another message was told to slow down: this one waits with it, in the table.
            self._done(outbox.reschedule, (self._paused_until, "waiting out a rate limit"),
                       {"count_attempt": False, "clear_attempt": self._never_sent(message)}, message)
            handled[0] += 1
            return True
        if paused and (self._paused_until - self.clock.now()).total_seconds() > HOLD_SECONDS:
            self._held.appendleft(message)  # a long pause: the pass ends, the loop sleeps it out
            return False
        pacer = self._pacer(message)
        if not await self._until_marked(message, once) or not await pacer.acquire(
                self._never if once else self._stop, honour_pause=not once):
            self._held.appendleft(message)
            return False
        if message.lease_until - self.clock.now() < LEASE_MARGIN:
            self._done(outbox.release, (), {"clear_attempt": self._never_sent(message)}, message)
            return True
        fresh = message.id in self._fresh
        self._fresh.discard(message.id)  # from here on the platform may have it
        sent_at = pacer.now()
        try:
            result = await self.transport.deliver(message)
        except RetryLater as exc:  # a 429: not posted
            pacer.limited(exc.seconds, sent_at)
            at = self.clock.now() + timedelta(seconds=exc.seconds)
            self._paused_until = max(self._paused_until or at, at)
            log.warning("delivery: rate limited, pausing %.0fs", exc.seconds)
            if once or exc.seconds > HOLD_SECONDS:
                self._done(outbox.reschedule, (at, str(exc)), {"count_attempt": False, "clear_attempt": fresh},
                           message)
                handled[0] += 1
            else:
                if fresh:
                    self._fresh.add(message.id)
                self._held.appendleft(message)  # still leased: sent when the pause ends
            return True
        except NotYet as exc:  # raised before anything was posted
            self._done(outbox.reschedule, (self.clock.now() + timedelta(seconds=exc.seconds), str(exc)),
                       {"count_attempt": False, "clear_attempt": fresh}, message)
        except PermanentFailure as exc:
            log.error("delivery: message %s (%s) cannot be delivered: %s", message.id, message.dedupe_key, exc)
            self._done(outbox.mark_failed, (str(exc),), {}, message)
        except Exception as exc:  # noqa: BLE001 — network errors, 5xx, timeouts: all worth another try
            # The platform may have posted it: the mark stays, so the next attempt looks first.
            self._retry_later(message, exc)
        else:
            pacer.accepted()
            self._done(outbox.mark_sent, (self.clock.now(), result), {}, message)
        handled[0] += 1
        return True

    def _retry_later(self, message: OutboxMessage, exc: Exception) -> None:
        backoff = min(timedelta(seconds=5 * 2 ** min(message.attempts, 10)), MAX_BACKOFF)
        log.warning("delivery: message %s failed (%s), retrying in %s", message.id, exc, backoff)
        self._done(outbox.reschedule, (self.clock.now() + backoff, f"{type(exc).__name__}: {exc}"),
                   {"count_attempt": True}, message)

    # ---- marks: a committed "may have been sent" before each send ----------------------------------------------

    async def _until_marked(self, message: OutboxMessage, once: bool) -> bool:
        """Wait until the message may be sent: marked attempted in a committed transaction. Mostly it was
        marked ahead already. False when stopping meanwhile."""
        while message.id not in self._fresh and message.id not in self._verified:
            if not once and self._stop.is_set():
                return False
            if message.id not in self._marking:
                self._wanted[message.id] = None
            self._outcome_ready.set()
            await self._marked.wait()  # set after each write, failed ones too
            if self._marks_failed and message.id not in self._fresh:
                return False  # the database is unwell: the pass ends and the loop reports it
        return True

    def _never_sent(self, message: OutboxMessage) -> bool:
        """Marked by us and not handed to the platform since: giving it back may clear the mark."""
        return message.id in self._fresh or message.id in self._marking

    def _marks_to_write(self) -> list[int]:
        """The messages senders wait for, and enough of the next held ones to go on sending until the next
        write: about what goes out during one and a half writes, plus one per sender. Few: after a crash each
        is a look-up at Slack's Tier 3."""
        ids = list(self._wanted)
        self._wanted.clear()
        if self._recording_over:
            return []  # the senders are done: nothing more goes out in this pass
        rate = max((p.rate or 0.0 for lane, p in self._pacers.items() if lane != VERIFY_LANE), default=0.0)
        ahead = CONCURRENCY + (math.ceil(rate * 1.5 * self._commit_seconds) + 2 if rate else CONCURRENCY)
        want = min(MARK_AHEAD_MAX, ahead) - len(self._fresh) - len(ids)
        if want > 0:
            chosen = set(ids)
            for message in self._held:
                if want <= 0:
                    break
                if message.id in self._fresh or message.id in chosen or message.attempted_at is not None:
                    continue
                ids.append(message.id)
                want -= 1
        return ids

    def _marks_written(self, ok: bool) -> None:
        self._marks_failed = not ok
        if ok:
            self._fresh |= self._marking  # those given back meanwhile left _marking
        else:
            for message_id in self._marking:
                self._wanted.setdefault(message_id, None)  # a waiting sender asks again anyway
        self._marking = set()
        marked, self._marked = self._marked, asyncio.Event()
        marked.set()

    # ---- suspects: looked up before they are sent again -----------------------------------------------------

    async def _verifier(self, once: bool, handled: list[int]) -> None:
        """Look up the suspects the senders set aside (a few at a time, paced in their own lane) and send those
        Slack does not have; ends with the senders."""
        while True:
            if self._suspects:
                if not once and self._stop.is_set():
                    return  # handed back with the held ones
                await self._verify(self._suspects.popleft(), once, handled)
            elif self._workers_left <= 0:
                return
            else:
                self._suspect_ready.clear()
                await self._suspect_ready.wait()

    async def _verify(self, message: OutboxMessage, once: bool, handled: list[int]) -> None:
        find = getattr(self.transport, "find_sent", None)
        if find is not None:
            if message.lease_until - self.clock.now() < LEASE_MARGIN:
                self._done(outbox.release, (), {}, message)  # the mark stays: looked up by the next claim
                return
            pacer = self._lane_pacer(VERIFY_LANE)
            if not await pacer.acquire(self._never if once else self._stop, honour_pause=not once):
                self._suspects.appendleft(message)
                return
            sent_at = pacer.now()
            try:
                found = await find(message)
            except RetryLater as exc:
                pacer.limited(exc.seconds, sent_at)
                if once:
                    self._done(outbox.reschedule, (self.clock.now() + timedelta(seconds=exc.seconds), str(exc)),
                               {"count_attempt": False}, message)
                    handled[0] += 1
                else:
                    self._suspects.appendleft(message)
                return
            except PermanentFailure as exc:
                # E.g. the app lacks the history scope: better sent twice than never.
                log.warning("delivery: cannot look up message %s (%s); sending it again", message.id, exc)
            except Exception as exc:  # noqa: BLE001 — the platform is unwell: look again later
                self._retry_later(message, exc)
                handled[0] += 1
                return
            else:
                self.looked_up["not found" if found is None else "found"] += 1
                if found is not None:
                    log.info("delivery: message %s (%s) had arrived before; recorded as sent", message.id,
                             message.dedupe_key)
                    self._done(outbox.mark_sent, (self.clock.now(), found), {}, message)
                    handled[0] += 1
                    return
        # Teams has no way to list a bot's past messages: its transport has no find_sent, so it sends again.
        self._verified.add(message.id)
        await self._send(message, once, handled)

    def _pacer(self, message: OutboxMessage) -> Pacer:
        lane_of = getattr(self.transport, "lane", None)
        return self._lane_pacer(lane_of(message) if lane_of else "default")

    def _lane_pacer(self, lane: str) -> Pacer:
        pacer = self._pacers.get(lane)
        if pacer is None:
            rate = self._rates.get(lane)
            # A published tier is a per-minute budget: short bursts within it are fine.
            burst = VERIFY_BURST if lane == VERIFY_LANE else TIER_BURST
            pacer = self._pacers[lane] = Pacer(rate, burst=burst if rate else None)
        return pacer

    def _done(self, update: Callable, args: tuple, kwargs: dict, message: OutboxMessage) -> None:
        self._outcomes.append((update, (message.id, *args), kwargs))
        self._fresh.discard(message.id)
        self._verified.discard(message.id)
        self._marking.discard(message.id)
        self._wanted.pop(message.id, None)
        self._outcome_ready.set()

    def _give_back(self) -> None:
        """Leased messages not sent (stopping, a long pause): free them for the next sender at once. A mark of
        ours goes with them; a suspect's stays."""
        while self._held:
            message = self._held.popleft()
            self._done(outbox.release, (), {"clear_attempt": self._never_sent(message)}, message)
        while self._suspects:
            self._done(outbox.release, (), {}, self._suspects.popleft())

    async def _recorder(self) -> None:
        """Write outcomes as they come: all that gathered during one write go in the next (group commit), so an
        accepted message is marked sent within a transaction's time."""
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            while self._outcomes or self._wanted:
                group, self._outcomes = self._outcomes, []
                marks = self._marks_to_write()
                self._marking = set(marks)
                began = time.monotonic()
                try:
                    async with self.db.transaction() as session:
                        if marks:
                            await outbox.mark_attempted(session, marks, self.clock.now())
                        await outbox.record(session, group)
                        await _optional(self.transport, "record", session)
                except Exception:
                    self._outcomes[:0] = group  # kept: a sent message must never come to look unsent
                    self._marks_written(False)
                    if self._recording_over:
                        raise  # the loop reports it; the next pass writes them
                    log.exception("delivery: could not record outcomes; will try again")
                    await asyncio.sleep(1.0)
                else:
                    self._commit_seconds = 0.8 * self._commit_seconds + 0.2 * (time.monotonic() - began)
                    self._marks_written(True)
            if self._recording_over:
                return

    _recording_over = False
