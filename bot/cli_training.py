"""`lisbot training start|status|import`: the year's mandatory training from the command line."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from bot.cli_support import organisation_or_exit, services


def add_commands(commands) -> None:
    training = commands.add_parser("training", help="the year's mandatory training")
    what = training.add_subparsers(dest="training_command", required=True)
    start = what.add_parser("start", help="start this year's campaign: everyone is asked to confirm")
    start.add_argument("--course", action="append", required=True, help="a course name (repeat for several)")
    start.add_argument("--deadline", required=True, type=date.fromisoformat, help="the last day, YYYY-MM-DD")
    start.add_argument("--joiner-days", type=int, default=30, help="days for people who join later (default 30)")
    start.add_argument("--remind-every", type=int, default=7, help="working days between reminders (default 7)")
    start.add_argument("--max-reminders", type=int, default=3, help="reminders at most (default 3)")
    start.add_argument("--exempt", action="append", default=[], help="the e-mail of someone exempted (repeat)")
    status = what.add_parser("status", help="completion overall and per department")
    status.add_argument("--year", type=int, help="the campaign year (default: this year)")
    imports = what.add_parser("import", help="completions exported from the e-learning platform (CSV from Excel)")
    imports.add_argument("file")
    imports.add_argument("--import-good-rows", action="store_true", help="import the correct rows of a file with errors")
    for sub in what.choices.values():
        sub.add_argument("--team", help="the Slack workspace id (T…); default: SLACK_BOT_TOKEN's, or the only one")


def run(settings, args) -> int:
    return asyncio.run(_training(settings, args))


async def _training(settings, args) -> int:
    from bot.model import FormErrors
    from handlers import training

    svc = services(settings)
    lang = settings.language
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, args.team)
        if org is None:
            return 2
        if args.training_command == "status":
            print(await training.status_report(svc, org.id, lang, args.year))
            return 0
        if args.training_command == "import":
            result = await training.import_completions(svc, org.id, Path(args.file).read_bytes(), lang,
                                                       import_good_rows=args.import_good_rows)
            for problem in result.problems:
                print(problem)
            if result.stored:
                print(svc.texts.t(lang, "training.import.done", completions=result.imported, unknown=result.unknown))
            return 0 if result.stored else 1
        parsed = training.parse_start(svc, lang, {
            "courses": "\n".join(args.course), "deadline": args.deadline, "joiner_days": args.joiner_days,
            "remind_every_days": args.remind_every, "max_reminders": args.max_reminders,
            "exempt": "\n".join(args.exempt)})
        result = parsed if isinstance(parsed, FormErrors) else await training.start_campaign(
            svc, org.id, parsed, started_by=None)
        if isinstance(result, FormErrors):
            for field, message in result.errors.items():
                print(f"lisbot: {field}: {message}", file=sys.stderr)
            return 2
        key = "training.start.started" if result.created else "training.start.already"
        print(svc.texts.t(lang, key, year=result.campaign.year, count=result.audience, exempt=result.exempt))
        return 0
    except OSError as exc:
        print(f"lisbot: {exc}", file=sys.stderr)
        return 2
    finally:
        await svc.db.close()
