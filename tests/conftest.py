"""Fixtures: a real database (SQLite file, or PostgreSQL when LISBOT_TEST_DATABASE_URL is set), a fake
Slack Web API on 127.0.0.1, and the bot itself serving its real HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone

import asyncpg
import pytest
from aiohttp import web

from bot.clock import FrozenClock
from bot.config import load_settings
from bot.runtime import SLACK_PATH, Runtime
from storage.db import Database
from tests.fakeslack import FakeSlack
from tests.slackdriver import TEAM, SlackDriver

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SECURITY_CHANNEL = "C0SECURITY"
LEADERSHIP_CHANNEL = "C0LEADERS"
# A Wednesday afternoon in Stockholm: inside working hours.
T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
PG_URL = os.environ.get("LISBOT_TEST_DATABASE_URL")


async def _reset_postgres(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(tmp_path) -> str:
    if PG_URL:
        await _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'lisbot-test.db'}"


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.close()


@pytest.fixture
async def fake_slack():
    fake = FakeSlack(team_id=TEAM, bot_token="xoxb-test")
    await fake.start()
    fake.add_user("U0ANNA", name="anna", real_name="Anna Andersson", email="anna@example.se", locale="sv-SE")
    fake.add_user("U0ERIK", name="erik", real_name="Erik Eriksson", email="erik@example.se", locale="en-US",
                  tz="Europe/London")
    fake.add_user("U0SAM", name="sam", real_name="Sam Samordnare", email="sam@example.se")
    yield fake
    await fake.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


class Bot:
    """The running bot: its runtime, its HTTP address, and a Slack driver pointed at it."""

    def __init__(self, runtime: Runtime, runner: web.AppRunner, url: str, slack: SlackDriver, fake: FakeSlack) -> None:
        self.runtime, self.runner, self.url, self.slack, self.fake = runtime, runner, url, slack, fake

    @property
    def db(self) -> Database:
        return self.runtime.db

    async def deliver(self) -> int:
        """Run the outbox sender once, as its loop would."""
        return await self.runtime.deliverer.drain_once()


def bot_settings(database_url: str, fake: FakeSlack, **extra):
    return load_settings(env_file=None, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                         SLACK_API_URL=fake.base_url, DATABASE_URL=database_url,
                         LISBOT_SECURITY_CHANNEL=SECURITY_CHANNEL, LISBOT_LEADERSHIP_CHANNEL=LEADERSHIP_CHANNEL, **extra)


@pytest.fixture
async def bot(database_url, fake_slack, clock):
    """The bot with its delivery loop off, so tests decide when the outbox drains (`await bot.deliver()`)."""
    runtime = Runtime(bot_settings(database_url, fake_slack), clock=clock)
    await runtime.start(deliver=False)
    runner = web.AppRunner(runtime.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    driver = SlackDriver(base + SLACK_PATH, SIGNING_SECRET, fake_slack, settle=runtime.slack.idle)
    yield Bot(runtime, runner, base, driver, fake_slack)
    await driver.close()
    await runner.cleanup()
    await runtime.stop()


async def eventually(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Wait until `predicate()` (sync or async) is truthy; work after Slack's ack runs in the background."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
