"""Sending at the rate a chat platform accepts, learned from its 429s.

Slack gives no number for chat.postMessage's workspace-wide limit, and a client that only reacts to 429s
pays a round trip for every message in flight and a whole-second Retry-After each time. The pacer spaces
sends instead. Its rate starts configured or unknown (then sends go out freely) and is learned from 429s:
between two of them the platform's bucket was empty at both ends, so the sends it accepted in between,
over the time between, are the rate it allows. The pacer then sends a little faster than that, so the
platform's burst gets used and a higher limit gets found; after a while of being held back by its own
spacing without a 429, it tries a little faster still.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

HEADROOM = 1.02  # pace this much above the learned rate: the platform's bucket drains slowly, 429s are rare
PROBE_SECONDS = 15.0  # held back by our own spacing this long without a 429: try a little faster
PROBE_STEP = 1.05
MIN_CYCLE_SENDS = 20  # fewer accepted sends between two 429s say more about one channel than the workspace
CATCH_UP = 0.05  # seconds of schedule a late wake-up may make up (asyncio sleeps overshoot by a millisecond)
IDLE = 2.0  # a gap this long between sends means the platform's bucket refilled: what we learn starts anew


class Pacer:
    def __init__(self, per_second: float | None = None, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_second  # sends a second; None: unknown
        self._burst = CATCH_UP if burst is None else burst  # seconds of sends that may go at once
        self._clock = clock
        self._next = 0.0  # earliest time of the next send
        self._paused_until = 0.0
        self._last_send = float("-inf")
        self._cycle_start = 0.0  # the last 429, or the first send after idling: the platform's bucket state known
        self._cycle_after_429 = False  # True: the bucket was empty at the cycle's start
        self._cycle_sent = 0  # sends accepted in this cycle
        self._probe_at = 0.0

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def now(self) -> float:
        return self._clock()

    async def acquire(self, stopping: asyncio.Event, *, honour_pause: bool = True) -> bool:
        """Wait for this send's turn. False when `stopping` was set meanwhile. Without `honour_pause` only the
        spacing counts (the caller keeps the platform's pause itself)."""
        while not stopping.is_set():
            now = self._clock()
            slot = max(now, self._next, self._paused_until if honour_pause else 0.0)
            if slot <= now:
                if now - max(self._last_send, self._paused_until) > IDLE:
                    self._cycle_start, self._cycle_after_429, self._cycle_sent = now, False, 0
                    self._probe_at = now + PROBE_SECONDS
                self._last_send = now
                if self.rate:
                    self._next = max(self._next, now - self._burst) + 1.0 / self.rate
                return True
            if self.rate and self._paused_until <= now and now >= self._probe_at:
                # Held back by our own spacing, not by the platform: see whether it allows more.
                self.rate *= PROBE_STEP
                self._probe_at = now + PROBE_SECONDS
            try:
                await asyncio.wait_for(stopping.wait(), slot - now)
            except asyncio.TimeoutError:
                pass
        return False

    def accepted(self) -> None:
        self._cycle_sent += 1

    def limited(self, retry_after: float, sent_at: float) -> None:
        """The platform answered 429 to a send made at `sent_at` (on this pacer's clock)."""
        now = self._clock()
        if sent_at >= self._paused_until:  # not the echo of a send already in flight when the last 429 came
            self._learn(now)
            self._cycle_start, self._cycle_after_429, self._cycle_sent = now, True, 0
        self._paused_until = max(self._paused_until, now + retry_after)
        self._probe_at = self._paused_until + PROBE_SECONDS

    def _learn(self, now: float) -> None:
        if now <= self._cycle_start:
            return
        seen = self._cycle_sent / (now - self._cycle_start)
        if not self._cycle_after_429:
            # The bucket was full at the start: an upper bound, good enough to stop sending freely.
            if seen > 0:
                self.rate = min(self.rate or seen, seen)
        elif self._cycle_sent >= MIN_CYCLE_SENDS:
            learned = seen * HEADROOM
            # Halve at most: one stray per-channel 429 must not stall a campaign.
            self.rate = max(learned, (self.rate or learned) * 0.5)
        elif self.rate:
            self.rate *= 0.9
