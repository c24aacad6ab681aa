"""The `lisbot` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import ConfigError, load_settings
from storage.db import Database, DatabaseUrlError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lisbot", description="lisbot: the information-security bot (LIS).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve Slack (HTTP at /slack/events, or Socket Mode when SLACK_APP_TOKEN is set)")
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser("upgrade", help="apply pending migrations")
    demo = commands.add_parser("demo", help="show the product without Slack, on a sample organisation")
    demo.add_argument("--database", help="database URL for the demo (default: sqlite:///lisbot-demo.db)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        if args.command == "run":
            settings.require_slack()
            from bot.runtime import serve

            asyncio.run(serve(settings))
        elif args.command == "db":
            asyncio.run(_upgrade(settings.database_url))
            print(f"database is up to date: {settings.database_url}")
        elif args.command == "demo":
            from bot.demo import run_demo

            settings = settings.model_copy(update={"database_url": args.database or "sqlite:///lisbot-demo.db"})
            asyncio.run(run_demo(settings))
    except (ConfigError, DatabaseUrlError) as exc:
        print(f"lisbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


async def _upgrade(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()


if __name__ == "__main__":
    sys.exit(main())
