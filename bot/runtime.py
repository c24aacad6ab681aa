"""Wires the parts together: database, texts, handlers, the Slack and Teams adapters (either or both, by
configuration), delivery and the web server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery import ByRecipient, Deliverer, Transport
from bot.i18n import Texts
from bot.ingress import GivingWay, Ingress
from bot.scheduler import Scheduler
from bot.slack.adapter import SlackAdapter, web_client
from bot.slack.request import to_bolt_request
from bot.slack.transport import SlackTransport
from handlers import classification, clocks, training
from handlers.services import Services
from storage.db import Database
from storage.models import OutboxMessage, Person

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
TEAMS_PATH = "/api/messages"
DOCUMENTS_PATH = "/documents/{token}"
# Seconds the outbox holds back, once per busy spell, while Slack waits for answers (bot/ingress.py).
DELIVERY_GIVES_WAY = 2.0


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, poll_seconds: float = 2.0) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.poll_seconds = poll_seconds
        self.db: Database | None = None
        self.slack: SlackAdapter | None = None
        self.teams = None  # bot.teams.adapter.TeamsAdapter when CLIENT_ID is set
        self._teams_http = None
        self._slack_http = None  # aiohttp.ClientSession of the Slack adapter's client
        self.ingress = Ingress()  # requests being answered, so the outbox can let them go first
        self.deliverer: Deliverer | None = None
        self.scheduler: Scheduler | None = None
        self._background: set[asyncio.Task] = set()

    async def start(self, *, migrate: bool = True, deliver: bool = True, schedule: bool | None = None) -> None:
        """`deliver` runs the outbox sender, `schedule` the minute tick (default: with the sender)."""
        self.db = Database(self.settings.database_url)
        if migrate:
            await self.db.upgrade()
        self.svc = Services(db=self.db, texts=Texts(default_lang=self.settings.language), clock=self.clock,
                            settings=self.settings, ingress=self.ingress)
        transports: dict[str, Transport] = {}
        if self.settings.slack_configured or not self.settings.teams_configured:
            # One pool of kept-alive connections for everything a person waits on (modals, home tab).
            self._slack_http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            client = web_client(self.settings, session=self._slack_http)
            self.slack = SlackAdapter(self.svc, client, self.ingress)
            transports["slack"] = SlackTransport(web_client(self.settings, interactive=False), self.db)
        if self.settings.teams_configured:
            import httpx

            from bot.teams.adapter import TeamsAdapter
            from bot.teams.transport import TeamsTransport

            self._teams_http = httpx.AsyncClient(timeout=15.0)
            self.teams = TeamsAdapter(self.svc, self._teams_http)
            transports["teams"] = TeamsTransport(self.settings, self.db, self.teams.api, self.teams.token, svc=self.svc)
        transport = transports["slack"] if list(transports) == ["slack"] else ByRecipient(transports, self._platform_of)
        transport = GivingWay(transport, self.ingress, DELIVERY_GIVES_WAY)
        self.deliverer = Deliverer(self.db, transport, self.clock, poll_seconds=self.poll_seconds)
        self.svc.wake_delivery = self.deliverer.wake
        self.scheduler = Scheduler(self.tick, nightly=self.sync_directory, timezone=self.settings.timezone)
        if deliver:
            self.deliverer.start()
        if deliver if schedule is None else schedule:
            self.scheduler.start()
            self._background.add(asyncio.create_task(self.sync_directory(), name="lisbot-directory-sync"))

    async def sync_directory(self) -> None:
        """People from Slack into the directory: at start (not blocking it) and every night."""
        if self.settings.slack_bot_token:
            from bot.slack.directory import sync_slack_directory_in_background

            await sync_slack_directory_in_background(self.svc)

    async def _platform_of(self, message: OutboxMessage) -> str:
        """Which platform a queued message goes to: a Teams channel id (19:…) to Teams; a person to Slack when
        they have a Slack account and Slack is connected, else to Teams."""
        from bot.teams.transport import is_teams_channel

        if message.recipient_kind == "channel":
            return "teams" if is_teams_channel(message.recipient) else "slack"
        async with self.db.transaction() as session:
            person = await session.get(Person, int(message.recipient))
        if person is not None and person.slack_user_id and self.slack is not None:
            return "slack"
        if person is not None and (person.teams_conversation_id or person.teams_user_id) and self.teams is not None:
            return "teams"
        return "slack" if self.slack is not None else "teams"

    async def tick(self) -> None:
        """Everything time-driven, once: what the scheduler runs every minute. One area failing does not
        stop the others; the next tick tries it again."""
        for area in (clocks, training, classification):
            try:
                await area.tick(self.svc)
            except Exception:  # noqa: BLE001
                log.exception("scheduled work of %s failed", area.__name__)

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        if self.scheduler:
            self.scheduler.stop()
        if self.deliverer:
            await self.deliverer.stop()
        if self.slack is not None:
            try:
                await asyncio.wait_for(self.slack.idle(), 10)
            except asyncio.TimeoutError:
                log.warning("post-ack Slack work still running after 10 s; stopping without it")
        if self.teams is not None:
            await self.teams.idle()
        if self._teams_http is not None:
            await self._teams_http.aclose()
        if self._slack_http is not None:
            await self._slack_http.close()
        if self.db:
            await self.db.close()

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        if self.slack is not None and not self.settings.socket_mode:
            app.router.add_post(SLACK_PATH, self._slack_events)
        if self.teams is not None:
            app.router.add_post(TEAMS_PATH, self.teams.handle)
            app.router.add_get(DOCUMENTS_PATH, self.teams.documents.serve)  # documents linked from Teams cards
        app.router.add_get("/healthz", self._health)
        return app

    async def _slack_events(self, request: web.Request) -> web.Response:
        with self.ingress.request():
            response = await self.slack.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

    async def _health(self, _request: web.Request) -> web.Response:
        ok = await self.db.ping()
        body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"}
        return web.Response(status=200 if ok else 503, text=json.dumps(body), content_type="application/json")


# What Slack answers auth.test with when the token will never work: `lisbot run` stops instead of running deaf.
TOKEN_REJECTED = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


async def check_start(settings: Settings) -> None:
    """Before serving: a rejected Slack token stops `run` (ConfigError, one line); Slack unreachable or a Teams
    setting that only limits what it can do is one warning line, and lisbot starts (Slack may come back)."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.config import ConfigError
    from bot.slack.directory import unreachable

    texts, lang = Texts(default_lang=settings.language), settings.language
    if settings.slack_configured:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
        try:
            await client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in TOKEN_REJECTED:
                raise ConfigError("directory.cli.slack_error", lang, error=error) from None
            log.warning(texts.t(lang, "cli.run.slack_unreachable", error=error))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning(texts.t(lang, "cli.run.slack_unreachable", error=unreachable(exc)))
    if settings.teams_configured:
        # Teams gives its channel ids only once lisbot runs ("@lisbot kanal"), so their absence cannot stop it.
        if not settings.security_channel:
            log.warning(texts.t(lang, "cli.run.no_security_channel_teams"))
        if not settings.public_url:
            log.warning(texts.t(lang, "cli.run.no_public_url"))


async def serve(settings: Settings) -> None:
    """`lisbot run`: the HTTP server (Slack's endpoint in HTTP mode, /healthz always) and Socket Mode if set."""
    await check_start(settings)
    runtime = Runtime(settings)
    await runtime.start()
    runner = web.AppRunner(runtime.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_handler = None
    if settings.socket_mode and runtime.slack is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(runtime.slack.app, settings.slack_app_token)
        await socket_handler.connect_async()
        log.info("lisbot connected to Slack over Socket Mode; health on :%s/healthz", settings.port)
    elif runtime.slack is not None:
        log.info("lisbot listening on %s:%s%s", settings.host, settings.port, SLACK_PATH)
    if runtime.teams is not None:
        log.info("lisbot listening on %s:%s%s for Microsoft Teams", settings.host, settings.port, TEAMS_PATH)
    # What start-up made (modules, templates, the engine) lives as long as the process: out of the collector's
    # sight, a full collection no longer walks it, and such a pause (about 0.1 s here) lands on fewer answers.
    gc.collect()
    gc.freeze()
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
