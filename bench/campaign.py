"""A training campaign to N people through the fake Slack with Slack's rate limits enforced (issue #4).

    .venv/bin/python bench/campaign.py [--people 50000] [--workspace-rate 600] [--burst-seconds 1]
                                       [--database URL] [--runs inprocess,restart] [--profile FILE]

Two runs, each on a fresh database with N people (bulk insert: Slack ids, departments, managers):

- inprocess: lisbot's real Runtime in this process (delivery loop on, scheduler off) with a clock that
  starts on a weekday inside working hours and moves with real time. The benchmark calls
  handlers.training.start_campaign and then Runtime.tick at once and every 60 s, as the scheduler would;
  the real Deliverer drains the outbox through SlackTransport into the fake Slack.
- restart: the campaign is started and ticked in this process (the prompts are queued), then a real
  `lisbot run` subprocess delivers them. It is killed (SIGKILL; or stopped, SIGTERM) when the fake has accepted half of
  the prompts and started again at once.

The fake Slack (tests/fakeslack.py, enforce_rate_limits=True) limits chat.postMessage per channel only.
Slack also keeps a workspace-wide limit it gives no number for; this file emulates one: a token bucket
of --workspace-rate messages a minute holding at most --burst-seconds of them, answering 429 with the
integer Retry-After that Slack would send (the wait until the next token, rounded up to whole seconds).

Figures: wall time until every prompt was accepted against the minimum the bucket allows, 429s, people
without a prompt (lost) and with more than one (duplicated), database and CPU time, and how many messages
in doubt (marked attempted, outcome not recorded) were looked up in Slack (conversations.history).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tests` is not an installed package

from _common import backend_facts, pg_drop, pg_recreate, pg_urls  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test"
TEAM = "T0001"
BENCH_DB = "lisbot_bench_campaign"
TARGET = 1.05  # within 5 % of the rate limit
TICK_SECONDS = 60  # bot.scheduler.TICK_SECONDS
# Friday 27 November 2026, 10:00 in Stockholm: a working day, inside working hours, before today (the restart
# run's subprocess uses the system clock, so what was queued must be due by then).
BASE = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the fake Slack, with a workspace-wide limit

class WorkspaceLimitedSlack(FakeSlack):
    """FakeSlack with a workspace-wide chat.postMessage limit (FakeSlack.set_workspace_limit), counting 429s,
    and a slim record of the posts.

    The bucket holds `burst` tokens and gains `per_minute / 60` a second; a post takes one. Without a token
    the answer is 429 ratelimited with Retry-After = ceil(seconds until the next token), as Slack sends
    whole seconds. The per-channel limit of the fake still applies (checked after the bucket).
    `per_minute=0` turns the workspace limit off (to measure the bot's own speed)."""

    def __init__(self, *, per_minute: int, burst_seconds: float, **kwargs) -> None:
        super().__init__(enforce_rate_limits=True, **kwargs)
        self.rate = per_minute / 60.0
        self.burst = max(1.0, self.rate * burst_seconds) if per_minute else 0.0
        if per_minute:
            self.set_workspace_limit("chat.postMessage", per_minute, burst_seconds)
        self.ratelimited = collections.Counter()  # "workspace" / "channel" -> 429s answered
        self.retry_after_sent = collections.Counter()  # seconds -> count
        self.post_attempts = 0
        self.first_post_at: float | None = None
        self.accepted: list[tuple[float, str]] = []  # (monotonic time, user id) per accepted prompt
        self.limited_at: list[float] = []  # monotonic time of each workspace 429
        self.other_posts = 0
        self.post_errors = collections.Counter()

    def _over_rate_limit(self, method: str, params: dict) -> int | None:
        if method != "chat.postMessage":
            return super()._over_rate_limit(method, params)
        now = time.monotonic()
        self.post_attempts += 1
        if self.first_post_at is None:
            self.first_post_at = now
        wait = super()._over_rate_limit(method, params)
        if wait is not None:
            self.ratelimited[self.last_limited] += 1
            self.retry_after_sent[wait] += 1
            if self.last_limited == "workspace":
                self.limited_at.append(now)
        return wait

    def _chat_post_message(self, params: dict) -> dict:
        try:
            body = super()._chat_post_message(params)
        except Exception as exc:
            self.post_errors[str(exc)] += 1
            raise
        channel = str(params.get("channel") or "")
        user = channel if channel.startswith(("U", "W")) else self._conversations.get(channel, {}).get("user", channel)
        if "training_done" in str(params.get("blocks")):
            self.accepted.append((time.monotonic(), user))
        else:
            self.other_posts += 1
        return body

    def _record(self, method, params, request, response, at) -> None:
        # The base class keeps every request (headers, parsed body); 50,000 posts do not need that, and its
        # CPU would count against lisbot in the in-process run. Posts are counted above instead.
        if method != "chat.postMessage":
            super()._record(method, params, request, response, at)

    def prompts_per_user(self) -> collections.Counter:
        return collections.Counter(user for _, user in self.accepted)


# ---------------------------------------------------------------- clock, database, people

class RealTimeClock:
    """A weekday inside working hours that moves with real time (the Deliverer's due times and pauses)."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


async def pg_admin(url: str):
    import asyncpg
    return await asyncpg.connect(pg_urls(url, BENCH_DB)[0])


async def fresh_database(args, tmp: Path, name: str) -> str:
    """A new, empty database for one run."""
    if not args.pg:
        return f"sqlite:///{tmp / f'{name}.db'}"
    return await pg_recreate(args.database, BENCH_DB)


async def add_people(db, n: int, now: datetime) -> int:
    """An organisation with n people on Slack, one department per 500, a manager for every 10. Returns org id."""
    from sqlalchemy import insert, select, text
    from storage.models import Department, Organisation, Person

    async with db.transaction() as session:
        await session.execute(insert(Organisation).values(platform="slack", external_id=TEAM, name="Bench",
                                                          created_at=now))
        org_id = (await session.execute(select(Organisation.id))).scalar_one()
        departments = max(1, n // 500)
        await session.execute(insert(Department), [{"id": d + 1, "org_id": org_id, "name": f"Avdelning {d + 1:03d}"}
                                                   for d in range(departments)])
        rows = []
        for i in range(1, n + 1):
            rows.append({"id": i, "org_id": org_id, "slack_user_id": f"U{i:08d}", "name": f"Person {i}",
                         "email": f"person{i}@example.se", "locale": "en-US" if i % 10 == 0 else "sv-SE",
                         "tz": "Europe/Stockholm", "department_id": (i - 1) % departments + 1,
                         "manager_id": None if i == 1 else (i - 2) // 10 + 1, "employment": "employee",
                         "active": True, "in_hr_file": False, "created_at": now, "updated_at": now})
            if len(rows) == 5000:
                await session.execute(insert(Person), rows)
                rows = []
        if rows:
            await session.execute(insert(Person), rows)
        if not db.is_sqlite:
            for table in ("people", "departments"):
                await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                           f"(SELECT max(id) FROM {table}))"))
    return org_id


def campaign_settings():
    from handlers.training import CampaignSettings
    return CampaignSettings(courses=("Informationssäkerhet grund", "Dataskydd grund"), deadline=date(2026, 12, 31),
                            remind_every_days=5, max_reminders=2)


async def outbox_state(db) -> dict:
    from sqlalchemy import func, select
    from storage.models import OutboxMessage
    async with db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage.status, func.count(), func.sum(OutboxMessage.attempts),
                                             func.max(OutboxMessage.attempts))
                                      .group_by(OutboxMessage.status))).all()
    return {status: (count, attempts or 0, most or 0) for status, count, attempts, most in rows}


# ---------------------------------------------------------------- CPU accounting

def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of a process, by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuWatch:
    """Samples, once a second, the threads of the bot's process (main = the event loop, others = database
    threads) and, on PostgreSQL, the server backends serving the bench database. Keeps the last value seen of
    each, so a killed process or a closed connection still counts."""

    def __init__(self, pg_url: str | None) -> None:
        self.pg_url = pg_url
        self.base: dict[tuple[int, int], float] = {}  # CPU already used when watching began
        self.last: dict[tuple[int, int], float] = {}
        self.backends: dict[int, float] = {}
        self.backend_base: dict[int, float] = {}
        self.pids: list[int] = []
        self._task = None
        self._conn = None
        self.load: list[float] = []  # 1-minute load average, sampled every second

    async def start(self, pids: list[int]) -> None:
        self._conn = await pg_admin(self.pg_url) if self.pg_url else None
        if self._conn:
            for pid in await self._backend_pids():
                cpu = proc_cpu(pid)
                if cpu is not None:
                    self.backend_base[pid] = self.backends[pid] = cpu
        for pid in pids:
            self.watch(pid)
        self._task = asyncio.create_task(self._run())

    def watch(self, pid: int) -> None:
        self.pids.append(pid)
        for tid, cpu in thread_cpu(pid).items():
            self.base[pid, tid] = self.last[pid, tid] = cpu

    async def _backend_pids(self) -> list[int]:
        return [r[0] for r in await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", BENCH_DB)]

    async def sample(self) -> None:
        self.load.append(os.getloadavg()[0])
        for pid in self.pids:
            for tid, cpu in thread_cpu(pid).items():
                self.last[pid, tid] = cpu
        if self._conn:
            for pid in await self._backend_pids():
                cpu = proc_cpu(pid)
                if cpu is not None:
                    self.backends[pid] = cpu

    async def _run(self) -> None:
        for _ in range(100_000):  # bounded: a day at one sample a second
            await asyncio.sleep(1.0)
            try:
                await self.sample()
            except Exception:  # noqa: BLE001 — accounting must not break the run
                pass

    async def stop(self) -> dict:
        await self.sample()
        self._task.cancel()
        if self._conn:
            await self._conn.close()
        used = {key: cpu - self.base.get(key, 0.0) for key, cpu in self.last.items()}
        main = sum(cpu for (pid, tid), cpu in used.items() if pid == tid)
        other = sum(cpu for (pid, tid), cpu in used.items() if pid != tid)
        server = sum(cpu - self.backend_base.get(pid, 0.0) for pid, cpu in self.backends.items())
        return {"main": main, "threads": other, "server": server if self.pg_url else None,
                "load": (sum(self.load) / len(self.load), max(self.load)) if self.load else (float("nan"),) * 2}


# ---------------------------------------------------------------- database statement timing (in-process run)

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.I)


class StatementTimes:
    """Wall time of each statement from the driver's point of view, by kind and table. On an event loop
    that is busy, the time includes waiting for the loop; transaction-lock waits are not included."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event
        self.times: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    @staticmethod
    def _key(statement: str) -> str:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        table = _TABLE.search(statement)
        return f"{verb} {table[1] if table else ''}".strip()

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_t", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_t"].pop()
        entry = self.times[self._key(statement)]
        entry[0] += 1
        entry[1] += time.perf_counter() - started


class Probe:
    """A trivial transaction (SELECT 1) twice a second: how long anything else, a Slack request say, would
    wait for the database while the campaign runs (SQLite: lisbot queues its transactions in-process)."""

    def __init__(self, db) -> None:
        self.db, self.waits, self._task = db, [], None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from sqlalchemy import text
        for _ in range(400_000):
            began = time.monotonic()
            async with self.db.transaction() as session:
                await session.execute(text("SELECT 1"))
            self.waits.append(time.monotonic() - began)
            await asyncio.sleep(0.5)

    async def stop(self) -> dict:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        w = sorted(self.waits)
        return {"n": len(w), "p50": w[len(w) // 2] if w else float("nan"),
                "p99": w[max(0, math.ceil(0.99 * len(w)) - 1)] if w else float("nan"),
                "max": w[-1] if w else float("nan"), "over3": sum(x > 3.0 for x in w)}


# ---------------------------------------------------------------- log tally

class Tally(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = re.sub(r"\d+", "N", record.getMessage().splitlines()[0][:100])
        self.seen[f"{record.levelname} {record.name}: {message}"] += 1


# ---------------------------------------------------------------- figures

def minimum_seconds(n: int, fake: WorkspaceLimitedSlack) -> float:
    """The least time from the first post to the last accepted one: the bucket starts full."""
    return max(0.0, (n - fake.burst) / fake.rate) if fake.rate else float("nan")


def delivery_profile(fake: WorkspaceLimitedSlack, t0: float) -> dict:
    times = sorted(at for at, _ in fake.accepted)
    if not times:
        return {"gaps": 0, "max_gap": float("nan"), "mid_rate": float("nan")}
    gaps = [b - a for a, b in zip(times, times[1:])]
    lo, hi = times[len(times) // 10], times[(9 * len(times)) // 10]
    mid = (0.8 * len(times)) / (hi - lo) if hi > lo else float("nan")
    return {"gaps": sum(g > 1.5 for g in gaps), "max_gap": max(gaps, default=0.0), "mid_rate": mid * 60,
            "first": times[0] - t0, "last": times[-1] - t0}


def pauses(fake: WorkspaceLimitedSlack) -> dict:
    """Rate-limit episodes: from the first 429 after an accepted post to the next accepted post. A client that
    obeys Retry-After (1 s here) and then sends at once would take 1.0 s; the bucket is full by then, so with a
    bucket of one second's worth anything beyond 1.0 s is capacity lost."""
    accepted = sorted(at for at, _ in fake.accepted)
    limited = sorted(fake.limited_at)
    gaps, i, j = [], 0, 0
    while i < len(limited):
        j = next((k for k in range(j, len(accepted)) if accepted[k] > limited[i]), None) if j is not None else None
        if j is None:
            break
        gaps.append(accepted[j] - limited[i])
        while i < len(limited) and limited[i] < accepted[j]:
            i += 1
    gaps.sort()
    return {"episodes": len(gaps), "mean": sum(gaps) / len(gaps) if gaps else float("nan"),
            "p50": gaps[len(gaps) // 2] if gaps else float("nan"), "max": gaps[-1] if gaps else float("nan"),
            "lost": sum(max(0.0, g - 1.0) for g in gaps)}


def counts(fake: WorkspaceLimitedSlack, n: int) -> tuple[int, int, int]:
    """(people with no prompt, people with more than one, extra prompts)."""
    per_user = fake.prompts_per_user()
    lost = sum(1 for i in range(1, n + 1) if per_user.get(f"U{i:08d}", 0) == 0)
    dup = sum(1 for c in per_user.values() if c > 1)
    return lost, dup, sum(c - 1 for c in per_user.values() if c > 1)


# ---------------------------------------------------------------- run 1: in process

async def run_inprocess(args, tmp: Path, tally: Tally) -> dict:
    from bot.runtime import Runtime
    from handlers.training import start_campaign
    from tests.conftest import bot_settings

    url = await fresh_database(args, tmp, "inprocess")
    fake = WorkspaceLimitedSlack(team_id=TEAM, bot_token=TOKEN, per_minute=args.workspace_rate,
                                 burst_seconds=args.burst_seconds)
    await fake.start()
    clock = RealTimeClock(BASE)
    runtime = Runtime(bot_settings(url, fake), clock=clock)
    result: dict = {"name": "in-process", "url": url}
    ticker = None
    try:
        t = time.monotonic()
        await runtime.start(deliver=False, schedule=False)
        org_id = await add_people(runtime.db, args.people, clock.now())
        result["setup"] = time.monotonic() - t
        result["backend"] = await backend_facts(runtime.db)
        stmt = StatementTimes(runtime.db.engine)
        gc.collect()
        gc.freeze()
        watch = CpuWatch(args.database if args.pg else None)
        await watch.start([os.getpid()])
        profiler = cProfile.Profile() if args.profile else None
        tally.seen.clear()
        cpu0 = time.process_time()
        if profiler:
            profiler.enable()
        t0 = time.monotonic()
        started = await start_campaign(runtime.svc, org_id, campaign_settings(), started_by=None)
        result["start_campaign"] = time.monotonic() - t0
        assert started.created and started.audience == args.people, started
        runtime.deliverer.start()  # the Deliverer loop, as runtime.start(deliver=True) starts it
        tick_times: list[float] = []

        async def tick_every_minute():
            for _ in range(10_000):
                began = time.monotonic()
                await runtime.tick()
                tick_times.append(time.monotonic() - began)
                await asyncio.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - began)))

        ticker = asyncio.create_task(tick_every_minute())
        probe = Probe(runtime.db)
        probe.start()
        limit = args.timeout or 3 * args.people / max(fake.rate, 1) + 300
        while len(fake.prompts_per_user()) < args.people and time.monotonic() - t0 < limit:
            await asyncio.sleep(0.25)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu = time.process_time() - cpu0
        result["timed_out"] = len(fake.prompts_per_user()) < args.people
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        result["probe"] = await probe.stop()
        await asyncio.sleep(2.0)  # anything still in flight lands (a duplicate would show here)
        await runtime.deliverer.stop()
        result.update(cpu=cpu, threads=await watch.stop(), ticks=tick_times, statements=dict(stmt.times),
                      outbox=await outbox_state(runtime.db), log=collections.Counter(tally.seen))
        finish(result, fake, args.people, t0)
        return result
    finally:
        if ticker:
            ticker.cancel()
        await stop_runtime(runtime)
        await fake.stop()


async def stop_runtime(runtime) -> None:
    try:
        await asyncio.wait_for(runtime.stop(), 15)
    except TimeoutError:
        print("warning: Runtime.stop() hung for 15 s", flush=True)
        if runtime.db:
            await runtime.db.close()


def finish(result: dict, fake: WorkspaceLimitedSlack, n: int, t0: float) -> None:
    lost, dup, extra = counts(fake, n)
    prof = delivery_profile(fake, t0)
    result.update(lost=lost, duplicated=dup, extra=extra, prof=prof, pauses=pauses(fake), attempts=fake.post_attempts,
                  limited=dict(fake.ratelimited), retry_after=dict(fake.retry_after_sent),
                  errors=dict(fake.post_errors), other_posts=fake.other_posts, minimum=minimum_seconds(n, fake),
                  first_post=(fake.first_post_at - t0) if fake.first_post_at else float("nan"), rate=fake.rate,
                  burst=fake.burst, lookups=len(fake.calls_to("conversations.history", ok_only=False)),
                  opens=len(fake.calls_to("conversations.open", ok_only=False)))


# ---------------------------------------------------------------- ticks only: the cost of queueing a campaign

async def run_ticks(args, tmp: Path, tally: Tally) -> dict:
    """start_campaign and the minute ticks that queue every prompt, then one tick with nothing due; no
    delivery. With a probe transaction beside them: what a Slack request would wait meanwhile."""
    from bot.runtime import Runtime
    from handlers.training import start_campaign
    from tests.conftest import bot_settings

    url = await fresh_database(args, tmp, "ticks")
    fake = WorkspaceLimitedSlack(team_id=TEAM, bot_token=TOKEN, per_minute=0, burst_seconds=1)
    await fake.start()
    runtime = Runtime(bot_settings(url, fake), clock=RealTimeClock(BASE))
    try:
        await runtime.start(deliver=False, schedule=False)
        org_id = await add_people(runtime.db, args.people, runtime.clock.now())
        backend = await backend_facts(runtime.db)
        gc.collect()
        gc.freeze()
        probe = Probe(runtime.db)
        probe.start()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        t = time.monotonic()
        await start_campaign(runtime.svc, org_id, campaign_settings(), started_by=None)
        started = time.monotonic() - t
        times, queued = [], 0
        for _ in range(args.people // 5000 + 3):
            t = time.monotonic()
            await runtime.tick()
            times.append(time.monotonic() - t)
            queued = sum(c for c, _, _ in (await outbox_state(runtime.db)).values())
            if queued >= args.people and len(times) >= 2 and times[-1] < times[0] / 2:
                break
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        return {"backend": backend, "start_campaign": started, "ticks": times, "queued": queued,
                "probe": await probe.stop()}
    finally:
        await stop_runtime(runtime)
        await fake.stop()


# ---------------------------------------------------------------- run 2: a `lisbot run` subprocess, killed half-way

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(url: str, fake: FakeSlack, tmp: Path, log_path: Path) -> subprocess.Popen:
    drop = ("SLACK_", "LISBOT_", "CLIENT_", "TENANT_", "DATABASE_URL", "SERVICE_URL", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.base_url, DATABASE_URL=url,
               PORT=str(free_port()), LISBOT_HOST="127.0.0.1", LISBOT_SECURITY_CHANNEL="C0SECURITY", PYTHONUNBUFFERED="1")
    log = open(log_path, "ab")  # noqa: SIM115 — handed to the child
    try:
        # cwd: a folder without a .env, so nothing but the variables above configures it.
        return subprocess.Popen([str(Path(sys.executable).with_name("lisbot")), "run"], cwd=tmp, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


async def reap(proc: subprocess.Popen, timeout: float) -> tuple[int | None, float]:
    """Wait for the child (bounded); its exit status and CPU seconds (user + system, from wait4). Waits on the
    event loop: the fake Slack must keep answering while a stopping bot finishes its sends in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped by Popen.poll()
            return proc.returncode, float("nan")
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        await asyncio.sleep(0.05)
    return None, float("nan")


async def run_restart(args, tmp: Path, tally: Tally, sig: int = signal.SIGKILL) -> dict:
    from bot.runtime import Runtime
    from handlers.training import start_campaign
    from storage.db import Database
    from storage.outbox import LEASE, pending_count
    from tests.conftest import bot_settings

    url = await fresh_database(args, tmp, f"restart-{signal.Signals(sig).name}")
    fake = WorkspaceLimitedSlack(team_id=TEAM, bot_token=TOKEN, per_minute=args.workspace_rate,
                                 burst_seconds=args.burst_seconds)
    await fake.start()
    clock = RealTimeClock(BASE)
    result: dict = {"name": "kill + restart" if sig == signal.SIGKILL else "term + restart", "url": url,
                    "signal": signal.Signals(sig).name}
    procs: list[subprocess.Popen] = []
    db = None
    try:
        # Queue every prompt first: the subprocess runs on the system clock (a Saturday evening as this was
        # written); prompts queued by a tick at such a time would wait for Monday morning.
        runtime = Runtime(bot_settings(url, fake), clock=clock)
        t = time.monotonic()
        await runtime.start(deliver=False, schedule=False)
        org_id = await add_people(runtime.db, args.people, clock.now())
        result["setup"] = time.monotonic() - t
        result["backend"] = await backend_facts(runtime.db)
        t = time.monotonic()
        started = await start_campaign(runtime.svc, org_id, campaign_settings(), started_by=None)
        assert started.created and started.audience == args.people, started
        ticks = 0
        for ticks in range(1, args.people // 5000 + 4):
            await runtime.tick()
            state = await outbox_state(runtime.db)
            if sum(c for c, _, _ in state.values()) >= args.people:
                break
        result["queued"] = (time.monotonic() - t, ticks)
        await stop_runtime(runtime)
        db = Database(url)
        log_path = tmp / "lisbot-run.log"
        watch = CpuWatch(args.database if args.pg else None)
        await watch.start([])
        gc.collect()
        t0 = time.monotonic()
        procs.append(spawn(url, fake, tmp, log_path))
        watch.watch(procs[-1].pid)
        limit = args.timeout or 3 * args.people / max(fake.rate, 1) + 300
        half = args.people // 2
        while len(fake.accepted) < half and time.monotonic() - t0 < limit and procs[-1].poll() is None:
            await asyncio.sleep(0.02)
        await watch.sample()
        procs[-1].send_signal(sig)
        t_kill = time.monotonic()
        at_kill = len(fake.accepted)
        # SIGTERM: the process finishes its sends in flight, records them and hands the rest back; then it exits.
        code1, cpu1 = await reap(procs[-1], 30)
        if code1 is None:
            procs[-1].kill()
            _, cpu1 = await reap(procs[-1], 10)
        # What the database believed at the kill: rows sent, and rows leased (in flight) by the dead process.
        state_at_kill = await outbox_state(db)
        procs.append(spawn(url, fake, tmp, log_path))
        t_restart = time.monotonic()
        watch.watch(procs[-1].pid)
        while len(fake.prompts_per_user()) < args.people and time.monotonic() - t0 < limit:
            await asyncio.sleep(0.25)
            if procs[-1].poll() is not None:
                break
        # Every person has a prompt: wait until nothing is pending (a leased row of the killed process becomes
        # due again after the lease; if it had been sent, it is sent again now). Bounded.
        settle_until = max(time.monotonic(), t_kill + LEASE.total_seconds()) + 30
        while time.monotonic() < settle_until:
            async with db.transaction() as session:
                if not await pending_count(session):
                    break
            await asyncio.sleep(1.0)
        await asyncio.sleep(2.0)
        threads = await watch.stop()
        procs[-1].send_signal(signal.SIGTERM)
        code2, cpu2 = await reap(procs[-1], 20)
        if code2 is None:
            procs[-1].kill()
            _, cpu2 = await reap(procs[-1], 10)
        after_restart = [at for at, _ in fake.accepted if at > t_restart]
        result.update(cpu=cpu1 + cpu2, cpu_parts=(cpu1, cpu2), threads=threads, outbox=await outbox_state(db),
                      outbox_at_kill=state_at_kill, at_kill=at_kill, kill_at=t_kill - t0,
                      restart_gap=(after_restart[0] - t_kill) if after_restart else float("nan"),
                      timed_out=len(fake.prompts_per_user()) < args.people, exit_after_term=code2,
                      log=log_tally(log_path))
        finish(result, fake, args.people, t0)
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                await reap(proc, 10)
        if db:
            await db.close()
        await fake.stop()


def log_tally(path: Path) -> collections.Counter:
    seen: collections.Counter[str] = collections.Counter()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return seen
    for line in text.splitlines():
        m = re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+): (.*)", line)
        if m:
            seen[f"{m[1]} {m[2]}: {re.sub(r'[0-9]+', 'N', m[3])[:100]}"] += 1
        elif line.startswith("Traceback"):
            seen["traceback"] += 1
    return seen


# ---------------------------------------------------------------- report

def report(args, results: list[dict]) -> bool:
    n = args.people
    print(f"machine: nproc={len(os.sched_getaffinity(0))} python={platform.python_version()} "
          f"({platform.machine()}), {platform.platform()}")
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if results:
        r = results[0]
        print(f"database: {r['backend']}")
        print(f"campaign: {n} people; workspace limit {args.workspace_rate or 'off'}/min "
              f"({r['rate']:.2f}/s, bucket {r['burst']:.0f} = --burst-seconds {args.burst_seconds:g}), chat.postMessage 60/min per channel (the fake's); "
              f"minimum from the first post: (N - bucket) / rate = {r['minimum']:.1f} s\n")
    head = (f"{'run':<15} {'wall s':>8} {'min s':>8} {'ratio':>6} {'posts':>7} {'429s':>6} {'lost':>5} "
            f"{'dup':>5} {'extra':>5} {'stalls':>6} {'maxgap':>6} {'mid/min':>8} {'cpu s':>7} {'loop s':>7} "
            f"{'dbthr s':>7} {'pg s':>6}")
    print(head)
    ok = True
    for r in results:
        wall = r["prof"].get("last", float("nan"))
        ratio = wall / r["minimum"] if r["minimum"] else float("nan")
        th = r["threads"]
        pg = f"{th['server']:>6.1f}" if th["server"] is not None else f"{'-':>6}"
        print(f"{r['name']:<15} {wall:>8.1f} {r['minimum']:>8.1f} {ratio:>6.3f} {r['attempts']:>7} "
              f"{sum(r['limited'].values()):>6} {r['lost']:>5} {r['duplicated']:>5} {r['extra']:>5} "
              f"{r['prof']['gaps']:>6} {r['prof']['max_gap']:>6.2f} {r['prof']['mid_rate']:>8.0f} {r['cpu']:>7.1f} "
              f"{th['main']:>7.1f} {th['threads']:>7.1f} {pg}")
        ok &= ratio <= TARGET and not r["lost"] and not r["duplicated"] and not r["timed_out"]
    print("(wall: campaign start (in-process) or first `lisbot run` start (restart) to the last prompt accepted; "
          "min: the bucket's minimum from the first post; posts: chat.postMessage requests; stalls: gaps > 1.5 s "
          "between accepted prompts; mid/min: accepted per minute between the 10th and 90th percentile; cpu: "
          "in-process: this process (fake included), restart: the two lisbot processes; loop/dbthr: the bot "
          "process's main thread / other threads (aiosqlite); pg: PostgreSQL backends of the bench database)\n")
    for r in results:
        print(f"[{r['name']}] load average (1 min) during the run: mean {r['threads']['load'][0]:.2f}, "
              f"max {r['threads']['load'][1]:.2f}")
        print(f"  setup (people inserted) {r['setup']:.1f} s", end="")
        if "start_campaign" in r:
            ticks = r["ticks"]
            print(f"; start_campaign {r['start_campaign']:.2f} s; first post {r['first_post']:.2f} s after it; "
                  f"ticks: {len(ticks)}, longest {max(ticks, default=0):.2f} s, "
                  f"{' '.join(f'{x:.2f}' for x in ticks[:12])}")
        else:
            q, nt = r["queued"]
            print(f"; start_campaign + {nt} ticks queued everything in {q:.1f} s (not in wall)")
            print(f"  first post {r['first_post']:.2f} s after the first start; {r['signal']} at {r['kill_at']:.1f} s with "
                  f"{r['at_kill']} accepted; first post after the restart {r['restart_gap']:.2f} s after the kill; "
                  f"CPU of the two processes {r['cpu_parts'][0]:.1f} + {r['cpu_parts'][1]:.1f} s; "
                  f"exit after SIGTERM: {r['exit_after_term']}")
            print(f"  outbox at the kill: {fmt_outbox(r['outbox_at_kill'])}")
        print(f"  outbox at the end: {fmt_outbox(r['outbox'])}")
        print(f"  429s: {r['limited']}; Retry-After sent: {dict(sorted(r['retry_after'].items()))}; "
              f"post errors: {r['errors'] or 'none'}; other posts: {r['other_posts']}; timed out: {r['timed_out']}")
        print(f"  suspects looked up (conversations.history): {r['lookups']}; conversations.open: {r['opens']}")
        pz = r["pauses"]
        if pz["episodes"]:
            print(f"  rate-limit episodes {pz['episodes']}: first 429 to next accepted post mean {pz['mean']:.3f} s, "
                  f"p50 {pz['p50']:.3f} s, max {pz['max']:.2f} s; beyond the 1 s Retry-After: {pz['lost']:.1f} s in all")
        if r.get("probe"):
            p = r["probe"]
            print(f"  probe transaction (SELECT 1, twice a second) waited: p50 {p['p50'] * 1000:.0f} ms, "
                  f"p99 {p['p99'] * 1000:.0f} ms, max {p['max'] * 1000:.0f} ms, {p['over3']} of {p['n']} over 3 s")
        if r.get("statements"):
            top = sorted(r["statements"].items(), key=lambda kv: -kv[1][1])[:8]
            print("  statements (count, s): " + "; ".join(f"{k} {c} {s:.1f}" for k, (c, s) in top))
        for line, count in r["log"].most_common(6):
            print(f"  log: {count:>6} x {line}")
    print()
    for r in results:
        wall = r["prof"].get("last", float("nan"))
        ratio = wall / r["minimum"] if r["minimum"] else float("nan")
        good = ratio <= TARGET and not r["lost"] and not r["duplicated"] and not r["timed_out"]
        print(f"{r['name']:<15} time/minimum {ratio:6.3f} (target <= {TARGET}), lost {r['lost']}, duplicated "
              f"{r['duplicated']}  {'PASS' if good else 'FAIL'}")
    return ok


def fmt_outbox(state: dict) -> str:
    return ", ".join(f"{status} {c} (attempts {a}, most {m})" for status, (c, a, m) in sorted(state.items())) or "empty"


async def main(args) -> int:
    tally = Tally()
    logging.basicConfig(level=logging.WARNING, handlers=[tally])
    tmp = Path(tempfile.mkdtemp(prefix="lisbot-campaign-"))
    args.pg = bool(args.database) and not args.database.startswith("sqlite")
    if args.database and not args.pg:
        raise SystemExit("--database takes a postgresql:// URL; SQLite runs use fresh files in a temporary folder")
    results = []
    try:
        if args.runs == "ticks":
            r = await run_ticks(args, tmp, tally)
            p = r["probe"]
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; database: {r['backend']}")
            print(f"{args.people} people: start_campaign {r['start_campaign']:.2f} s; ticks (s): "
                  f"{' '.join(f'{x:.2f}' for x in r['ticks'])}; outbox rows {r['queued']}")
            print(f"probe transaction (SELECT 1, twice a second) meanwhile: n {p['n']}, p50 {p['p50'] * 1000:.0f} ms, "
                  f"p99 {p['p99'] * 1000:.0f} ms, max {p['max'] * 1000:.0f} ms, over 3 s: {p['over3']}")
            return 0
        for name in args.runs.split(","):
            runner = {"inprocess": run_inprocess, "restart": run_restart,
                      "term": lambda *a: run_restart(*a, sig=signal.SIGTERM)}[name.strip()]
            results.append(await runner(args, tmp, tally))
            print(f"({results[-1]['name']} done; load average {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        if args.pg:
            await pg_drop(args.database, BENCH_DB)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report(args, results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--workspace-rate", type=int, default=600,
                        help="workspace-wide chat.postMessage per minute (0: no workspace limit)")
    parser.add_argument("--burst-seconds", type=float, default=1.0,
                        help="how many seconds of the rate the bucket holds (default 1)")
    parser.add_argument("--database", help="postgresql://… (a database lisbot_bench_campaign is created beside "
                                           "the named one and dropped afterwards); default: SQLite files")
    parser.add_argument("--runs", default="inprocess,restart,term",
                        help="inprocess, restart (SIGKILL half-way), term (SIGTERM half-way), comma-separated; "
                             "or ticks: only queue the campaign")
    parser.add_argument("--timeout", type=float, help="seconds per run (default: 3 x the minimum + 300)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the in-process run (or the ticks)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, lisbot log)")
    began = time.monotonic()
    code = asyncio.run(main(parser.parse_args()))
    print(f"benchmark wall time: {time.monotonic() - began:.0f} s")
    sys.exit(code)
