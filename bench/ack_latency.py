"""Ack latency of lisbot's `/incident` and of a report submission under concurrency, beside a bare Bolt app.

    .venv/bin/python bench/ack_latency.py [--requests 1000] [--concurrency 50] [--pattern closed,burst]
                                          [--gap 0.3] [--database URL] [--profile FILE] [--bare-decoder bolt]

One process serves lisbot (real Runtime, HTTP mode, delivery loop on) and a bare Bolt AsyncApp that only
acks, each over TCP on 127.0.0.1. The fake Slack Web API runs in a second process (Slack is not on the bot's
machine) and the load generator in a third, so neither one's CPU shares the servers' event loop. Two
patterns: a closed loop (--concurrency always in flight) and bursts (--concurrency sent at once, then --gap
seconds of quiet). Target: lisbot's p99 within 1.5x of the bare app's, per scenario and pattern.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import json
import logging
import math
import multiprocessing
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests` is not an installed package

from _common import backend_facts, pg_drop, pg_recreate  # noqa: E402
from aiohttp import web  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test"  # what tests.conftest.bot_settings gives lisbot
TARGET_RATIO = 1.5
BENCH_DB = "lisbot_bench"
BURST_GAP = 0.3  # quiet after a burst: its post-ack work (50 modals, receipts) is done well within it
USERS = [f"U0BENCH{i:02d}" for i in range(20)]


# ---------------------------------------------------------------- load generator (runs in its own process)

def fire(url: str, bodies: list[tuple[str, str]], concurrency: int,
         gap: float | None = None) -> list[tuple[float, float, int, str]]:
    """POST each (content type, body), signed; (sent at, seconds, status, text). `gap` None: a closed loop,
    `concurrency` always in flight. `gap` seconds: bursts of `concurrency` sent at the same moment, the next
    burst `gap` seconds after the last answer of the one before (people pressing at once, then quiet)."""
    return asyncio.run(_fire(url, bodies, concurrency, gap))


async def _fire(url, bodies, concurrency, gap=None):
    # A bare HTTP/1.1 keep-alive client: aiohttp's client costs more CPU per request than the bare app does,
    # so with it the client, not the server, would set the pace.
    target, verifier, ts = urlsplit(url), SignatureVerifier(SECRET), str(int(time.time()))
    requests = []
    for ctype, body in bodies:  # built and signed before the clock starts
        data = body.encode()
        head = (f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(data)}\r\nX-Slack-Request-Timestamp: {ts}\r\n"
                f"X-Slack-Signature: {verifier.generate_signature(timestamp=ts, body=body)}\r\n\r\n")
        requests.append(head.encode() + data)
    results: list = [None] * len(requests)
    todo = iter(enumerate(requests))
    go, answered = asyncio.Event(), [0]

    async def bursts():
        rounds = math.ceil(len(requests) / concurrency)
        for r in range(rounds):
            answered[0] = 0
            go.set()
            go.clear()  # the workers waiting were released; each comes back for the next burst
            expected = min(concurrency, len(requests) - r * concurrency)
            while answered[0] < expected:
                await asyncio.sleep(0.001)
            await asyncio.sleep(gap)

    async def worker():
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        for i, request in todo:
            if gap is not None:
                await go.wait()
            start = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable with the fake's timestamps
            try:
                async with asyncio.timeout(15):
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1])
                    text = (await reader.readexactly(length)).decode()
                results[i] = (start, time.monotonic() - start, int(head.split(b" ", 2)[1]), text)
            except Exception as exc:  # noqa: BLE001 — a failed request is an error in the table
                results[i] = (start, time.monotonic() - start, 0, repr(exc))
                writer.close()
                reader, writer = await asyncio.open_connection(target.hostname, target.port)
            answered[0] += 1
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(0.2)  # every connection open and waiting before the first burst
    if gap is not None:
        await bursts()
    await asyncio.gather(*workers)
    return results


# ---------------------------------------------------------------- the fake Slack (runs in its own process)

class RemoteFake:
    """The fake Slack Web API in a process of its own: Slack is not on the bot's machine, so the fake's CPU
    must not be charged to lisbot. Offers what the run needs of tests.fakeslack.FakeSlack over a pipe."""

    def __init__(self) -> None:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_fake_main, args=(child,))
        self._triggers: list[str] = []
        self.base_url = ""

    def _ask(self, command: str, arg=None):
        self._conn.send((command, arg))
        return self._conn.recv()

    async def start(self) -> None:
        self._process.start()
        self.base_url = await asyncio.to_thread(self._conn.recv)

    def add_user(self, user_id: str, **profile) -> None:
        self._ask("add_user", (user_id, profile))

    def issue_trigger(self) -> str:
        if not self._triggers:
            self._triggers = self._ask("triggers", 500)
        return self._triggers.pop()

    def new_views_opened(self) -> list[tuple[str, dict | None, float]]:
        """(trigger_id, the opened view or None if refused, CLOCK_MONOTONIC time) of views.open since last asked."""
        return self._ask("views_opened")

    async def stop(self) -> None:
        if self._process.is_alive():
            self._ask("stop")
        self._process.join(5)


def _fake_main(conn) -> None:
    asyncio.run(_fake_serve(conn))


async def _fake_serve(conn) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fakeslack import FakeSlack
    # Triggers are issued in batches before a run that lasts longer than Slack's 3 s; lateness is reported instead.
    fake = FakeSlack(team_id="T0001", bot_token=TOKEN, trigger_ttl=600)
    await fake.start()
    conn.send(fake.base_url)
    scanned = 0
    while True:
        command, arg = await asyncio.to_thread(conn.recv)
        if command == "stop":
            await fake.stop()
            conn.send(None)
            return
        if command == "add_user":
            fake.add_user(arg[0], **arg[1])
            conn.send(None)
        elif command == "triggers":
            conn.send([fake.issue_trigger() for _ in range(arg)])
        elif command == "views_opened":
            calls = fake.calls[scanned:]
            scanned += len(calls)
            conn.send([(c.params.get("trigger_id"), c.response.get("view") if c.ok else None, c.at)
                       for c in calls if c.method == "views.open"])


# ---------------------------------------------------------------- Slack requests, shaped as tests/slackdriver.py does

def command_body(fake, user: str) -> tuple[str, str]:
    from tests.slackdriver import TEAM
    return "application/x-www-form-urlencoded", urlencode({
        "token": "legacy", "team_id": TEAM, "team_domain": "kulturhuset", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/incident", "text": "",
        "api_app_id": "A0LISBOT", "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": fake.issue_trigger()})


def submission_body(fake, user: str, view: dict) -> tuple[str, str]:
    from tests.slackdriver import TEAM, state_values
    values = {"kinds": ["infosec"], "description": "Okänd person i serverrummet.",
              "discovered_at": datetime.now(timezone.utc) - timedelta(hours=1)}
    payload = {"type": "view_submission", "token": "legacy", "team": {"id": TEAM},
               "user": {"id": user, "team_id": TEAM}, "api_app_id": "A0LISBOT", "trigger_id": fake.issue_trigger(),
               "view": {**view, "state": {"values": state_values(view, values)}}}
    return "application/x-www-form-urlencoded", urlencode({"payload": json.dumps(payload)})


# ---------------------------------------------------------------- servers

async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    from bot.runtime import SLACK_PATH
    runner = web.AppRunner(app, access_log=None)  # as `lisbot run` does
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}{SLACK_PATH}"


def bare_app(fake, decoder: str = "bolt") -> web.Application:
    """Bolt with lisbot's configuration and listeners that only ack: the floor lisbot is compared with.
    `decoder` "lisbot": the request body decoded as lisbot decodes it (bot/slack/request.py), not by Bolt."""
    from bot.runtime import SLACK_PATH
    from slack_bolt.adapter.aiohttp import to_aiohttp_response
    if decoder == "lisbot":
        from bot.slack.request import to_bolt_request
    else:
        from slack_bolt.adapter.aiohttp import to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=fake.base_url), signing_secret=SECRET,
                    process_before_response=True)

    async def just_ack(ack):
        await ack()

    bolt.command("/incident")(just_ack)
    bolt.view_submission("incident_report")(just_ack)

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post(SLACK_PATH, endpoint)
    return app


# ---------------------------------------------------------------- figures

def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)] if sorted_ms else float("nan")


def summary(latencies_s: list[float]) -> dict:
    ms = sorted(x * 1000 for x in latencies_s)
    return {"n": len(ms), "p50": pct(ms, .50), "p95": pct(ms, .95), "p99": pct(ms, .99),
            "max": ms[-1] if ms else float("nan")}


def row(target: str, scenario: str, s: dict, errors: int, cpu_ms: float | None = None) -> str:
    cpu = f"{cpu_ms:>8.2f}" if cpu_ms is not None else f"{'':>8}"
    return (f"{target:<7} {scenario:<13} {s['n']:>5} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['p99']:>8.1f} "
            f"{s['max']:>8.1f} {errors:>6} {cpu}")


def saved(text: str) -> bool:
    try:
        return json.loads(text).get("response_action") == "update"
    except ValueError:
        return False


# ---------------------------------------------------------------- the run

async def main(args) -> int:
    from bot.runtime import Runtime
    from tests.conftest import bot_settings

    tmp = Path(tempfile.mkdtemp(prefix="lisbot-bench-"))
    pg = bool(args.database) and not args.database.startswith("sqlite")
    database_url = await pg_recreate(args.database, BENCH_DB) if pg else (args.database or f"sqlite:///{tmp / 'bench.db'}")
    fake = RemoteFake()
    runtime, runners = None, []
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))  # no fork under running threads
    loop = asyncio.get_running_loop()
    profiler = cProfile.Profile() if args.profile else None
    try:
        await fake.start()
        for user in USERS:
            fake.add_user(user, name=user.lower(), real_name=user, email=f"{user.lower()}@example.se")
        runtime = Runtime(bot_settings(database_url, fake))  # system clock
        await runtime.start()  # delivery loop on, as in production
        urls = {}
        for target, app in (("lisbot", runtime.web_app()), ("bare", bare_app(fake, args.bare_decoder))):
            runner, urls[target] = await serve(app)
            runners.append(runner)

        async def run(target, bodies, concurrency=args.concurrency, gap=None):
            """Results of one client run, and the server process's CPU seconds meanwhile."""
            gc.collect()
            gc.freeze()  # the fake's ever-growing record must not make later runs' full collections slower
            if profiler:  # lisbot's runs and the wait for its modals; not the bare app's
                profiler.enable() if target == "lisbot" else profiler.disable()
            cpu = time.process_time()
            results = await loop.run_in_executor(pool, fire, urls[target], bodies, concurrency, gap)
            return results, time.process_time() - cpu

        async def open_views(results, bodies, idle=3.0):
            """The views lisbot opened for these commands, by trigger: (view, user, seconds from send to views.open).
            Waits until every trigger was used, or no views.open came for `idle` seconds (the rest failed)."""
            sent = {}
            for (_, body), (start, *_) in zip(bodies, results):
                fields = dict(parse_qsl(body))
                sent[fields["trigger_id"]] = (start, fields["user_id"])
            calls, last = {}, time.monotonic()
            while len(calls) < len(sent) and time.monotonic() - last < idle:
                await asyncio.sleep(0.1)
                for trigger, view, at in await asyncio.to_thread(fake.new_views_opened):
                    if trigger in sent:
                        calls[trigger], last = (view, at), time.monotonic()
            return {trigger: (view, sent[trigger][1], at - sent[trigger][0])
                    for trigger, (view, at) in calls.items() if view is not None}

        async def more_views(views: dict, n: int) -> dict:
            """Top up with unmeasured commands, a small batch at a time, until there are n views to submit."""
            for _ in range(3 * math.ceil(n / 20) + 3):
                if len(views) >= n:
                    break
                bodies = commands(min(20, n - len(views)))
                views = {**views, **await open_views((await run("lisbot", bodies, 5))[0], bodies)}
            return dict(list(views.items())[:n])

        def commands(n):
            return [command_body(fake, USERS[i % len(USERS)]) for i in range(n)]

        def submissions(views):
            return [submission_body(fake, user, view) for view, user, _ in views.values()]

        # Warm-up: spawn the client, fill pools and caches, learn every user's profile.
        warm = max(100, 2 * args.concurrency)
        await run("bare", commands(warm))
        bodies = commands(warm)
        warm_views = await more_views(await open_views((await run("lisbot", bodies))[0], bodies), warm)
        warm_bodies = submissions(warm_views)
        await run("bare", warm_bodies)
        saved_count = sum(saved(r[3]) for r in (await run("lisbot", warm_bodies))[0])
        await drain(runtime)

        measured, sent_total = {}, [0]
        for pattern in args.pattern.split(","):
            gap = None if pattern == "closed" else args.gap
            measured[pattern] = await measure(run, commands, submissions, open_views, more_views,
                                             lambda: drain(runtime), args.requests, gap)
            saved_count += sum(saved(r[3]) for r in measured[pattern][0]["lisbot", "submission"])
            sent_total[0] += args.requests
        backlog = await drain(runtime)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)

        # ---- report
        print(f"machine: nproc={len(os.sched_getaffinity(0))} python={platform.python_version()} "
              f"({platform.python_implementation()}, {platform.machine()}), {platform.platform()}")
        print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"(other work on the machine skews both targets' figures)")
        print(f"database: {await backend_facts(runtime.db)}")
        print(f"load: {args.requests} signed requests per target, scenario and pattern, {args.concurrency} at once, "
              f"from a separate client process; warm-up {warm}")
        print(f"bare app: Bolt AsyncApp, listeners that only ack, request bodies decoded "
              f"{'by Bolt' if args.bare_decoder == 'bolt' else 'as lisbot decodes them'}\n")
        passed = True
        for pattern, (results, cpu, errors, opened) in measured.items():
            passed &= report(pattern, results, cpu, errors, opened, args)
        opened_all = [at for *_, opened in measured.values() for _, _, at in opened.values()]
        late = sum(at > 3.0 for at in opened_all)
        print(f"modals opened more than 3 s after the command (Slack's trigger_id would have expired): {late}")
        stored, unique = await incident_counts(runtime.db)
        sent = len(warm_bodies) + sent_total[0]
        print(f"incidents stored: {stored}; submissions sent to lisbot: {sent}, answered saved: {saved_count}; "
              f"unique references: {unique}  {'OK' if stored == unique == saved_count else 'MISMATCH'}")
        print(f"outbox after the runs: {'empty' if not backlog else f'{backlog} still pending'}")
        for (target, scenario), rows in ((key, rows) for m in measured.values() for key, rows in m[0].items()):
            kinds = collections.Counter(f"HTTP {status} {text[:70]!r}" for _, _, status, text in rows
                                        if status != 200 or (text != "" and not saved(text)))
            for kind, count in kinds.most_common(3):
                print(f"  {target} {scenario} error: {count} x {kind}")
        return 0 if passed else 1
    finally:
        pool.shutdown()
        for runner in runners:
            await runner.cleanup()
        if runtime:
            await stop_runtime(runtime)
        await fake.stop()
        if pg:
            await pg_drop(args.database, BENCH_DB)
        shutil.rmtree(tmp, ignore_errors=True)


async def measure(run, commands, submissions, open_views, more_views, quiet, n, gap):
    """Both targets, /incident then submission, in one traffic pattern: (results, cpu, errors, modals opened).
    `quiet()` returns once lisbot's outbox is empty, so no run shares the CPU with an earlier run's sending."""
    results, cpu, errors = {}, {}, {}
    # /incident: an empty 200 is the ack; the modal opens after it.
    for target in ("bare", "lisbot"):
        await quiet()
        bodies = commands(n)
        results[target, "/incident"], cpu[target, "/incident"] = await run(target, bodies, gap=gap)
        errors[target, "/incident"] = sum(status != 200 or text != ""
                                          for _, _, status, text in results[target, "/incident"])
    cpu_before = time.process_time()
    opened = await open_views(results["lisbot", "/incident"], bodies)
    cpu["lisbot", "/incident"] += time.process_time() - cpu_before  # the post-ack work belongs to the command
    # A submission of a view lisbot really opened, each its own view id; the same bodies for both targets.
    sub_bodies = submissions(await more_views(opened, n))
    for target, ok in (("bare", lambda text: text == ""), ("lisbot", saved)):
        await quiet()
        results[target, "submission"], cpu[target, "submission"] = await run(target, sub_bodies, gap=gap)
        errors[target, "submission"] = sum(status != 200 or not ok(text)
                                           for _, _, status, text in results[target, "submission"])
    return results, cpu, errors, opened


def report(pattern, results, cpu, errors, opened, args) -> bool:
    """The table and verdict of one traffic pattern."""
    how = (f"closed loop: {args.concurrency} always in flight" if pattern == "closed" else
           f"bursts: {args.concurrency} sent at the same moment, {args.gap:.2f} s quiet after each burst's last answer")
    print(f"\n[{pattern}] {how}")
    print(f"{'target':<7} {'scenario':<13} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'errors':>6} {'cpu/req':>8}")
    stats = {}
    for scenario in ("/incident", "submission"):
        for target in ("bare", "lisbot"):
            stats[target, scenario] = summary([r[1] for r in results[target, scenario] if r[2] == 200])
            print(row(target, scenario, stats[target, scenario], errors[target, scenario],
                      1000 * cpu[target, scenario] / len(results[target, scenario])))
        if scenario == "/incident":
            print(row("lisbot", "modal opened", summary([at for _, _, at in opened.values()]),
                      args.requests - len(opened)))
    passed = True
    for scenario in ("/incident", "submission"):
        ratio = stats["lisbot", scenario]["p99"] / stats["bare", scenario]["p99"]
        ok = ratio <= TARGET_RATIO and not errors["lisbot", scenario]
        passed &= ok
        print(f"[{pattern}] p99 lisbot/bare {scenario:<11} {ratio:6.2f}x  (target <= {TARGET_RATIO}x, no errors)  "
              f"{'PASS' if ok else 'FAIL'}")
    return passed


async def drain(runtime, timeout: float = 30.0) -> int:
    """Let the outbox empty, so one run's background sending does not land in the next run's figures.
    Returns how many messages are still pending."""
    from storage.outbox import pending_count
    deadline = time.monotonic() + timeout
    while True:
        async with runtime.db.transaction() as session:
            pending = await pending_count(session)
        if not pending or time.monotonic() > deadline:
            return pending
        await asyncio.sleep(0.2)


async def stop_runtime(runtime) -> None:
    # Deliverer.stop() cancels its task once; a cancel that lands inside a database call can be swallowed
    # (the pool's reset logs the CancelledError and carries on), and stop() then waits forever.
    try:
        await asyncio.wait_for(runtime.stop(), 10)
    except TimeoutError:
        print("warning: Runtime.stop() hung for 10 s (the delivery task survived its cancel); cancelled again",
              flush=True)
        await runtime.db.close()


async def incident_counts(db) -> tuple[int, int]:
    from sqlalchemy import distinct, func, select
    from storage.models import Incident
    async with db.transaction() as session:
        return (await session.execute(select(func.count(Incident.id), func.count(distinct(Incident.reference))))).one()


class Tally(logging.Handler):
    """Counts the servers' warnings and errors: hundreds of identical tracebacks would bury the table."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        cause = record.exc_info[1] if record.exc_info else None
        why = f" <- {type(cause).__name__}: {str(cause).splitlines()[0][:110]}" if cause else ""
        self.seen[f"{record.levelname} {record.name}: {record.getMessage().splitlines()[0][:110]}{why}"] += 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per target and scenario")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument("--database", help="default: a temporary SQLite file; sqlite:///… is used as given; on "
                                           f"postgresql://… a throwaway database {BENCH_DB} is created beside the "
                                           "named one and dropped afterwards")
    parser.add_argument("--pattern", default="closed,burst",
                        help="closed (a closed loop, --concurrency always in flight), burst (--concurrency sent at "
                             "once, then quiet), comma-separated")
    parser.add_argument("--gap", type=float, default=BURST_GAP, help="seconds of quiet between bursts")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the server process during lisbot's runs")
    parser.add_argument("--bare-decoder", choices=("bolt", "lisbot"), default="bolt",
                        help="how the bare app decodes request bodies: Bolt's own way (the target's floor), or "
                             "lisbot's (to see how much of lisbot's margin its faster decoding gives)")
    tally = Tally()
    logging.basicConfig(level=logging.WARNING, handlers=[tally])
    began = time.monotonic()
    code = asyncio.run(main(parser.parse_args()))
    print("server log:" if tally.seen else "server log: nothing at WARNING or above")
    for line, count in tally.seen.most_common():
        print(f"  {count:>5} x {line}")
    print(f"wall time: {time.monotonic() - began:.0f} s")
    sys.exit(code)
