"""APScheduler only wakes the bot: "what is due now?" The database holds the truth (cases, rounds,
deadlines, reminders sent), so a missed or doubled wake-up changes nothing."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

TICK_SECONDS = 60


class Scheduler:
    def __init__(self, tick: Callable[[], Awaitable[None]], *, seconds: int = TICK_SECONDS,
                 nightly: Callable[[], Awaitable[object]] | None = None, timezone: str = "UTC") -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone)
        # coalesce + one instance: after a pause the bot catches up once, never in a burst.
        self._scheduler.add_job(self._guarded(tick), "interval", seconds=seconds, id="tick", coalesce=True,
                                max_instances=1, misfire_grace_time=seconds)
        if nightly is not None:
            # The directory refreshed from the chat platform while nobody works (events keep it fresh by day).
            self._scheduler.add_job(self._guarded(nightly), "cron", hour=2, minute=30, id="nightly", coalesce=True,
                                    max_instances=1, misfire_grace_time=3600)

    @staticmethod
    def _guarded(work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await work()
            except Exception:  # noqa: BLE001 — the next run tries again; the database still knows what is due
                log.exception("scheduled work failed")
        return run

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
