"""Group commit: writes that arrive while a transaction is running share the next one.

When many people report at once (a phishing mail reaches the whole organisation), giving each report its
own transaction makes the last one wait for all the others: SQLite takes one writer at a time, and the
reference counter row serialises PostgreSQL's writers too. Here the first write starts at once, alone;
whatever arrives meanwhile is written together in the next transaction. A writer's caller still learns
only after the commit, so nothing is acknowledged that is not stored.

Given the requests being answered on this event loop (bot.ingress.Ingress), a batch also waits, briefly, for
requests that are still being read and may yet join: in a burst, everyone's report goes in one transaction,
run when the loop is otherwise quiet (each statement's round trip waits for the loop, so a transaction run
while fifty requests are being parsed takes ten times as long).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
MAX_BATCH = 100
GATHER_SECONDS = 0.15  # at most this long a batch waits for requests that may yet join it
# Turns of the event loop from a request's bytes being readable on a kept-alive connection (as Slack keeps
# them) to its handler starting: select, read, the handler's task; one more for safety. A request on a new
# connection takes a few more and may go in the next batch: slower, not wrong.
QUIET_TURNS = 4


@dataclass
class _Waiting(Generic[T]):
    item: T
    future: asyncio.Future
    deadline: float | None  # loop time; past it the caller has been told "not saved", so it must not be saved


@dataclass
class GroupCommit(Generic[T, R]):
    """`write_batch` stores a list of items in one transaction and returns one result per item, in order."""

    write_batch: Callable[[list[T]], Awaitable[list[R]]]
    max_batch: int = MAX_BATCH
    ingress: Any = None  # bot.ingress.Ingress: `answering` and `next_answered()`; None: no waiting
    gather_seconds: float = GATHER_SECONDS
    _waiting: list[_Waiting[T]] = field(default_factory=list)
    _runner: asyncio.Task | None = None
    _joined: asyncio.Future | None = None

    async def submit(self, item: T, *, within: float | None = None) -> R:
        """Store `item`; with `within` seconds, give up (TimeoutError, nothing stored) if that is not enough."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(item, loop.create_future(), loop.time() + within if within is not None else None)
        self._waiting.append(waiting)
        if self._joined is not None and not self._joined.done():
            self._joined.set_result(None)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await waiting.future  # a cancelled caller cancels its future, and its item is skipped

    async def _run(self) -> None:
        while self._waiting:
            await self._gather()
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
            now = asyncio.get_running_loop().time()
            _fail([w for w in batch if w.deadline is not None and w.deadline <= now], asyncio.TimeoutError())
            batch = [w for w in batch if not w.future.done()]
            if not batch:
                continue
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 — one bad item must not sink the others: write each alone
                if len(batch) == 1 or isinstance(exc, asyncio.TimeoutError):
                    _fail(batch, exc)
                    continue
                log.info("a batch of %d writes failed (%s); writing them one at a time", len(batch), exc)
                for waiting in batch:
                    try:
                        await self._write([waiting])
                    except Exception as single:  # noqa: BLE001 — reported to its own caller
                        _fail([waiting], single)

    async def _gather(self) -> None:
        """Wait while some request being answered is not yet waiting here (it may be a report still being
        read), until it joins or is answered, and while requests of the same burst are still coming in; for
        at most `gather_seconds`."""
        if self.ingress is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gather_seconds
        while len(self._waiting) < self.max_batch:
            left = deadline - loop.time()
            if left <= 0:
                break
            if self.ingress.answering <= len(self._waiting):
                if not await self._more_coming():
                    break
                continue
            self._joined = loop.create_future()
            answered = self.ingress.next_answered()
            await asyncio.wait({self._joined, answered}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for future in (self._joined, answered):
                future.cancel()
        self._joined = None

    async def _more_coming(self) -> bool:
        """Everyone in hand waits here: is another request already on its way in? One whose bytes have come
        starts within a few turns of the loop; a loop that stays quiet that long has none (a fixed wait here
        was idle time for every batch)."""
        seen = self.ingress.last_arrival
        for _ in range(QUIET_TURNS):
            await asyncio.sleep(0)
            if self.ingress.last_arrival != seen:
                return True
        return False

    async def _write(self, batch: list[_Waiting[T]]) -> None:
        deadlines = [w.deadline for w in batch if w.deadline is not None]
        timeout = min(deadlines) - asyncio.get_running_loop().time() if deadlines else None
        if timeout is not None and timeout <= 0:
            raise asyncio.TimeoutError()
        results = await asyncio.wait_for(self.write_batch([w.item for w in batch]), timeout)
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(exc)
