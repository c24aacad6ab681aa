"""`lisbot import assets FILE`, `lisbot classification start` and `lisbot classification status`.

Kept beside bot/cli.py, which only wires them in. Exit codes as for the staff list: 0 done, 1 not done (the
printed report says why), 2 could not start.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.cli_support import organisation_or_exit, os_reason, services

TEAM_HELP = "the Slack workspace id (T…); default: SLACK_BOT_TOKEN's, or the only one"


def add_commands(commands, import_what) -> None:
    assets = import_what.add_parser(
        "assets", help="import the register of information assets (CSV saved from Excel, ';' or ',' separated)")
    assets.add_argument("file", help="the CSV file")
    assets.add_argument("--team", help=TEAM_HELP)
    group = commands.add_parser("classification", help="information classification: rounds and coverage")
    sub = group.add_subparsers(dest="classification_command", required=True)
    start = sub.add_parser("start", help="start a round: every object owner is asked about their assets")
    start.add_argument("--due", help="last day for answers, YYYY-MM-DD (default: LISBOT_CLASSIFICATION_ANSWER_DAYS "
                                     "days from today)")
    start.add_argument("--team", help=TEAM_HELP)
    sub.add_parser("status", help="print the coverage: valid classifications, levels, action and continuity plans, "
                                  "the routine, and the assets nobody can be asked about").add_argument(
        "--team", help=TEAM_HELP)


def run(settings, args) -> int:
    if args.command == "import":
        return asyncio.run(_import_assets(settings, args.file, team=args.team))
    if args.classification_command == "start":
        return asyncio.run(_start(settings, args.due, team=args.team))
    return asyncio.run(_status(settings, team=args.team))


async def _import_assets(settings, path: str, *, team: str | None) -> int:
    from bot.cli import _report_text
    from handlers.assets import import_assets_file, import_report

    svc = services(settings)
    lang = settings.language
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = os_reason(svc.texts, lang, exc)
        print(f"lisbot: {svc.texts.t(lang, 'classification.cli.file_not_found', path=path, reason=reason)}",
              file=sys.stderr)
        return 2
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, team)
        if org is None:
            return 2
        result = await import_assets_file(svc, org.id, data)
        print(_report_text(import_report(svc, lang, result, filename=Path(path).name, cli=True)))
        return 0 if result.imported else 1
    finally:
        await svc.db.close()


async def _start(settings, due_text: str | None, *, team: str | None) -> int:
    from bot.console import blocks_text
    from handlers.assets import today_of
    from handlers.classification import start_round, started_blocks
    from handlers.tabular import InvalidValue, parse_date

    svc = services(settings)
    lang = settings.language
    try:
        due = None
        if due_text:
            try:
                due = parse_date(due_text)
            except InvalidValue:
                due = None
            if due is None or due < today_of(svc):
                print(f"lisbot: {svc.texts.t(lang, 'classification.cli.invalid_due', value=due_text)}", file=sys.stderr)
                return 2
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, team)
        if org is None:
            return 2
        result = await start_round(svc, org.id, kind="manual", due=due)
        print("\n".join(blocks_text(started_blocks(svc, lang, result))))
        if result.owners:
            print(svc.texts.t(lang, "classification.cli.queued"))
        return 0 if result.round_id is not None else 1
    finally:
        await svc.db.close()


async def _status(settings, *, team: str | None) -> int:
    from bot.console import blocks_text
    from handlers.classification import coverage_blocks, status_of

    svc = services(settings)
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, team)
        if org is None:
            return 2
        status = await status_of(svc, org.id)
        print("\n".join(blocks_text(coverage_blocks(svc, settings.language, status, buttons=False))))
        return 0
    finally:
        await svc.db.close()
