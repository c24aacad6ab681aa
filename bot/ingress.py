"""Answers first: requests a chat platform is waiting on go before sends that can wait a moment.

Slack gives up on an answer after 3 seconds and shows the person an error; a receipt from the outbox may come
a second or two later without harm. On one event loop both use the same CPU, so in a burst (a phishing mail
reaches everyone and they all report it) the outbox holds back while requests are being answered: once per
busy spell and for a bounded time, so steady traffic never stalls delivery.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any, Iterator


ARRIVING_SECONDS = 0.003  # a request came in this recently: more of the same burst may still be unread


class Ingress:
    def __init__(self) -> None:
        self.answering = 0
        self._busy_since = 0.0  # loop time when `answering` last rose from zero
        self.last_arrival = 0.0  # loop time when the last request came in
        self._watchers: list[asyncio.Future] = []  # resolved by the next answer
        self._waiting: dict[int, list[asyncio.Future]] = {}  # besides -> futures resolved once answering <= besides

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around answering one request."""
        self.last_arrival = asyncio.get_running_loop().time()
        if self.answering == 0:
            self._busy_since = self.last_arrival
        self.answering += 1
        try:
            yield
        finally:
            self.answering -= 1
            watchers, self._watchers = self._watchers, []
            for watcher in watchers:
                if not watcher.done():
                    watcher.set_result(None)
            # Each waiter wakes once, when its turn has come, not at every answer (a burst has fifty of them).
            for besides in [b for b in self._waiting if self.answering <= b]:
                for future in self._waiting.pop(besides):
                    if not future.done():
                        future.set_result(None)

    def next_answered(self) -> asyncio.Future:
        """Resolves when the next request has been answered."""
        watcher = asyncio.get_running_loop().create_future()
        self._watchers.append(watcher)
        return watcher

    def arriving(self) -> float:
        """Seconds until requests have been coming in for ARRIVING_SECONDS no more (0: none lately). A burst
        is read one request at a time: between two of them none may be in hand, yet more are on the way."""
        return max(0.0, self.last_arrival + ARRIVING_SECONDS - asyncio.get_running_loop().time())

    async def give_way(self, at_most: float, *, besides: int = 0) -> None:
        """Wait until no request is being answered (`besides`: other than the caller's own) or coming in,
        but not past `at_most` seconds from the start of this busy spell: under steady load the sends are
        held back once, briefly, and then run as usual."""
        loop = asyncio.get_running_loop()
        while self.answering > besides or self.arriving() > 0:
            left = self._busy_since + at_most - loop.time()
            if left <= 0:
                return
            if self.answering <= besides:
                await asyncio.sleep(min(self.arriving(), left))
                continue
            quiet = loop.create_future()
            self._waiting.setdefault(besides, []).append(quiet)
            try:
                await asyncio.wait_for(quiet, left)
            except asyncio.TimeoutError:
                return


class GivingWay:
    """A delivery transport whose sends let requests being answered go first (see Ingress.give_way)."""

    def __init__(self, transport: Any, ingress: Ingress, at_most: float) -> None:
        self._transport, self._ingress, self._at_most = transport, ingress, at_most

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    async def before_claim(self) -> None:
        """Leasing the next messages is a database write, which would queue the requests' own writes (on
        SQLite, one writer at a time) behind it: it gives way too."""
        await self._ingress.give_way(self._at_most)

    async def deliver(self, item: Any) -> dict:
        await self._ingress.give_way(self._at_most)
        return await self._transport.deliver(item)
