"""`lisbot run` end to end, through the real entry point: the installed console script in its own process,
talking to the fake Slack Web API, driven with signed requests, and stopped the way a container is."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Incident, OutboxMessage
from tests.fakeslack import FakeSlack
from tests.slackdriver import TEAM, SlackDriver

LISBOT = Path(sys.executable).parent / "lisbot"
SECRET = "e2e0signing0secret0for0the0test0"
ANNA = "U0ANNA"
SECURITY = "C0SEC"
START_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("SLACK_", "LISBOT_")) and k.upper() not in ("DATABASE_URL", "PORT")}
    env.update(settings)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Running:
    proc: subprocess.Popen
    base: str
    log: Path
    fake: FakeSlack
    slack: SlackDriver

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""

    async def wait_until_healthy(self) -> None:
        deadline = now() + START_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"lisbot run exited with {self.proc.returncode} before it was healthy:\n"
                                         f"{self.output()}")
                try:
                    async with http.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200 and (await response.json())["database"] == "ok":
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                assert now() < deadline, f"/healthz not 200 within {START_TIMEOUT}s:\n{self.output()}"
                await asyncio.sleep(0.1)

    async def terminate(self) -> int:
        """SIGTERM, as `docker stop` sends it; the exit code, which must come within STOP_TIMEOUT."""
        self.proc.send_signal(signal.SIGTERM)
        # Polled, not proc.wait(): the fake Slack runs on this event loop and must keep answering meanwhile.
        deadline = now() + STOP_TIMEOUT
        while self.proc.poll() is None and now() < deadline:
            await asyncio.sleep(0.05)
        code = self.proc.poll()
        assert code is not None, f"still running {STOP_TIMEOUT}s after SIGTERM:\n{self.output()}"
        return code

    async def report(self, user: str = ANNA) -> dict:
        """/incident, then a valid submission; the bot's answer to the submission."""
        reply = await self.slack.command(user)
        assert reply.status == 200 and reply.text == "", reply
        view = (await self.fake.wait_for("views.open"))[-1].response["view"]
        assert view["title"]["text"] == "Rapportera incident"
        reply = await self.slack.submit(user, view, {
            "kinds": ["infosec"], "description": "Okänd person i serverrummet.",
            "discovered_at": datetime.now(timezone.utc) - timedelta(hours=1)})  # the process runs on real time
        assert reply.status == 200, reply
        return reply.json


@asynccontextmanager
async def lisbot_run(database_url: str, tmp_path: Path):
    """The fake Slack with Anna in it, and `lisbot run` in HTTP mode against it; always killed afterwards."""
    fake = FakeSlack(team_id=TEAM, bot_token="xoxb-test")
    await fake.start()
    fake.add_user(ANNA, name="anna", real_name="Anna Andersson", email="anna@example.se", locale="sv-SE")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "lisbot.log"
    env = clean_env(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.base_url,
                    DATABASE_URL=database_url, PORT=str(port), LISBOT_HOST="127.0.0.1",
                    LISBOT_SECURITY_CHANNEL=SECURITY)
    driver = SlackDriver(base + "/slack/events", SECRET, fake)
    proc = None
    try:
        with log.open("wb") as sink:
            proc = subprocess.Popen([str(LISBOT), "run"], cwd=tmp_path, env=env, stdout=sink,
                                    stderr=subprocess.STDOUT)
        running = Running(proc, base, log, fake, driver)
        await running.wait_until_healthy()
        yield running
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        await driver.close()
        await fake.stop()


def posted_to(fake: FakeSlack, channel: str) -> list:
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == channel]


async def stored(database_url: str) -> tuple[list[Incident], list[OutboxMessage]]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            incidents = (await session.execute(select(Incident))).scalars().all()
            messages = (await session.execute(select(OutboxMessage))).scalars().all()
        return list(incidents), list(messages)
    finally:
        await db.close()


async def test_lisbot_run_reports_delivers_and_stops_cleanly(database_url, tmp_path):
    async with lisbot_run(database_url, tmp_path) as bot:
        answer = await bot.report()
        assert answer["response_action"] == "update", answer
        assert "INC-" in str(answer["view"]["blocks"])

        # The process's own delivery loop sends the receipt and the notice, and records them as sent.
        deadline = now() + DELIVERY_TIMEOUT
        while True:
            incidents, messages = await stored(database_url)
            sent = {m.dedupe_key for m in messages if m.status == "sent"}
            if posted_to(bot.fake, ANNA) and posted_to(bot.fake, SECURITY) and incidents and {
                    f"incident:{incidents[0].id}:receipt", f"incident:{incidents[0].id}:notice"} <= sent:
                break
            assert now() < deadline, (f"receipt/notice not delivered within {DELIVERY_TIMEOUT}s; calls: "
                                      f"{[c.method for c in bot.fake.calls]}; outbox: "
                                      f"{[(m.dedupe_key, m.status, m.last_error) for m in messages]}\n{bot.output()}")
            await asyncio.sleep(0.1)
        [receipt], [notice] = posted_to(bot.fake, ANNA), posted_to(bot.fake, SECURITY)
        assert "INC-" in receipt.params["text"] and "INC-" in notice.params["text"]
        assert "Okänd person" not in str(notice.params)

        code = await bot.terminate()
        assert code == 0, f"exit code {code}:\n{bot.output()}"
        assert "Traceback" not in bot.output(), bot.output()
        assert len(posted_to(bot.fake, ANNA)) == 1 and len(posted_to(bot.fake, SECURITY)) == 1

    incidents, messages = await stored(database_url)
    assert len(incidents) == 1
    assert "failed" not in {m.status for m in messages}


async def test_sigterm_during_a_delivery_lets_it_finish(database_url, tmp_path):
    """A deploy stops the process while a message is on its way to Slack. What Slack accepted must be recorded as
    sent before the process exits, or the next process sends it a second time once the lease runs out."""
    async with lisbot_run(database_url, tmp_path) as bot:
        in_flight = asyncio.Event()
        answer_slowly = bot.fake._injected_fault  # the fake's fault hook: called when a request arrives

        async def spy(method: str):
            if method == "chat.postMessage":
                in_flight.set()
            return await answer_slowly(method)

        bot.fake._injected_fault = spy
        bot.fake.fail_next("chat.postMessage", status=200, delay=1.5)  # a slow Slack: no error, just late

        answer = await bot.report()
        assert answer["response_action"] == "update", answer
        await asyncio.wait_for(in_flight.wait(), DELIVERY_TIMEOUT)
        code = await bot.terminate()
        assert code == 0, f"exit code {code}:\n{bot.output()}"
        await asyncio.sleep(2.0)  # the slow answer completes on the fake's side either way
        accepted = len(bot.fake.calls_to("chat.postMessage"))

    _, messages = await stored(database_url)
    recorded = sum(1 for m in messages if m.status == "sent")
    assert accepted >= 1
    assert recorded == accepted, (f"Slack accepted {accepted} message(s), the outbox records {recorded} as sent: "
                                  f"{[(m.dedupe_key, m.status, m.lease_until) for m in messages]}")
