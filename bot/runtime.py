"""Wires the parts together: database, texts, handlers, the Slack adapter, delivery and the web server."""

from __future__ import annotations

import asyncio
import json
import logging
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery import Deliverer
from bot.i18n import Texts
from bot.scheduler import Scheduler
from bot.slack.adapter import SlackAdapter, web_client
from bot.slack.transport import SlackTransport
from handlers import classification, clocks, training
from handlers.services import Services
from storage.db import Database

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, poll_seconds: float = 2.0) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.poll_seconds = poll_seconds
        self.db: Database | None = None
        self.slack: SlackAdapter | None = None
        self.deliverer: Deliverer | None = None
        self.scheduler: Scheduler | None = None

    async def start(self, *, migrate: bool = True, deliver: bool = True, schedule: bool | None = None) -> None:
        """`deliver` runs the outbox sender, `schedule` the minute tick (default: with the sender)."""
        self.db = Database(self.settings.database_url)
        if migrate:
            await self.db.upgrade()
        self.svc = Services(db=self.db, texts=Texts(default_lang=self.settings.language), clock=self.clock,
                            settings=self.settings)
        client = web_client(self.settings)
        self.slack = SlackAdapter(self.svc, client)
        self.deliverer = Deliverer(self.db, SlackTransport(web_client(self.settings, interactive=False), self.db), self.clock,
                                   poll_seconds=self.poll_seconds)
        self.svc.wake_delivery = self.deliverer.wake
        self.scheduler = Scheduler(self.tick)
        if deliver:
            self.deliverer.start()
        if deliver if schedule is None else schedule:
            self.scheduler.start()

    async def tick(self) -> None:
        """Everything time-driven, once: what the scheduler runs every minute. One area failing does not
        stop the others; the next tick tries it again."""
        for area in (clocks, training, classification):
            try:
                await area.tick(self.svc)
            except Exception:  # noqa: BLE001
                log.exception("scheduled work of %s failed", area.__name__)

    async def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        if self.deliverer:
            await self.deliverer.stop()
        if self.db:
            await self.db.close()

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        if not self.settings.socket_mode:
            app.router.add_post(SLACK_PATH, self._slack_events)
        app.router.add_get("/healthz", self._health)
        return app

    async def _slack_events(self, request: web.Request) -> web.Response:
        response = await self.slack.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _health(self, _request: web.Request) -> web.Response:
        ok = await self.db.ping()
        body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"}
        return web.Response(status=200 if ok else 503, text=json.dumps(body), content_type="application/json")


async def serve(settings: Settings) -> None:
    """`lisbot run`: the HTTP server (Slack's endpoint in HTTP mode, /healthz always) and Socket Mode if set."""
    runtime = Runtime(settings)
    await runtime.start()
    runner = web.AppRunner(runtime.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(runtime.slack.app, settings.slack_app_token)
        await socket_handler.connect_async()
        log.info("lisbot connected to Slack over Socket Mode; health on :%s/healthz", settings.port)
    else:
        log.info("lisbot listening on %s:%s%s", settings.host, settings.port, SLACK_PATH)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if socket_handler:
            await socket_handler.close_async()
        await runner.cleanup()
        await runtime.stop()
