"""APScheduler only wakes the bot: "what is due now?" The database holds the truth (cases, rounds,
deadlines, reminders sent), so a missed or doubled wake-up changes nothing."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

TICK_SECONDS = 60


class Scheduler:
    def __init__(self, tick: Callable[[], Awaitable[None]], *, seconds: int = TICK_SECONDS) -> None:
        self._tick = tick
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        # coalesce + one instance: after a pause the bot catches up once, never in a burst.
        self._scheduler.add_job(self._run, "interval", seconds=seconds, id="tick", coalesce=True,
                                max_instances=1, misfire_grace_time=seconds)

    async def _run(self) -> None:
        try:
            await self._tick()
        except Exception:  # noqa: BLE001 — the next tick tries again; the database still knows what is due
            log.exception("scheduled work failed")

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
