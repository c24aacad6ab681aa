"""Work that runs after the answer has gone back to the chat platform (opening a modal, updating a card).

Bounded (a burst queues here, not in the connection pool), tracked (`idle()` for shutdown and tests), and
nothing escapes it: an exception after the answer would otherwise surface nowhere (DESIGN.md §3).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


class Background:
    def __init__(self, at_once: int, what: str) -> None:
        """`at_once`: pieces of work running at the same time; `what`: named in the log when one fails."""
        self._slots = asyncio.Semaphore(at_once)
        self._tasks: set[asyncio.Task] = set()
        self._what = what

    def start(self, work: Awaitable, *, first: Callable[[], Awaitable] | None = None) -> None:
        """Run `work` in a task of its own, after `first()` when given (e.g. waiting for other answers)."""
        async def run() -> None:
            try:
                if first is not None:
                    await first()
                async with self._slots:
                    await work
            except Exception:  # noqa: BLE001
                log.exception("%s failed after its answer", self._what)
        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until all the work started is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
