"""`lisbot training start|status|import`: the year's mandatory training from the command line."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, timedelta
from pathlib import Path

from bot.cli_support import organisation_or_exit, os_reason, services


def add_commands(commands) -> None:
    training = commands.add_parser("training", help="the year's mandatory training")
    what = training.add_subparsers(dest="training_command", required=True)
    start = what.add_parser("start", help="start this year's campaign: everyone is asked to confirm")
    start.add_argument("--course", action="append", help="a course name (repeat for several); default: "
                                                          "LISBOT_TRAINING_COURSES, else the start form's courses")
    start.add_argument("--deadline", type=date.fromisoformat, help="the last day, YYYY-MM-DD; default: "
                                                                   "LISBOT_TRAINING_DEADLINE_DAYS days from today")
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
            print(await _status(svc, org.id, lang, args.year))
            return 0
        if args.training_command == "import":
            try:
                data = Path(args.file).read_bytes()
            except OSError as exc:
                reason = os_reason(svc.texts, lang, exc)
                print(f"lisbot: {svc.texts.t(lang, 'cli.file_unreadable', path=args.file, reason=reason)}",
                      file=sys.stderr)
                return 2
            result = await training.import_completions(svc, org.id, data, lang, import_good_rows=args.import_good_rows)
            for problem in result.problems:
                print(problem)
            if result.stored:
                print(svc.texts.t(lang, "training.import.done", completions=result.imported, unknown=result.unknown))
            return 0 if result.stored else 1
        courses = args.course or settings.training_autostart_courses or [
            c.strip(" •-\t") for c in svc.texts.t(lang, "training.start.default_courses").splitlines()]
        deadline = args.deadline or svc.clock.now().astimezone(settings.tz).date() + timedelta(
            days=settings.training_deadline_days)
        parsed = training.parse_start(svc, lang, {
            "courses": "\n".join(courses), "deadline": deadline, "joiner_days": args.joiner_days,
            "remind_every_days": args.remind_every, "max_reminders": args.max_reminders,
            "exempt": "\n".join(args.exempt)})
        result = parsed if isinstance(parsed, FormErrors) else await training.start_campaign(
            svc, org.id, parsed, started_by=None)
        if isinstance(result, FormErrors):
            for field, message in result.errors.items():
                print(f"lisbot: {svc.texts.t(lang, 'cli.field_error', field=field, message=message)}", file=sys.stderr)
            return 2
        key = "cli.training.started" if result.created else "cli.training.already"
        print(svc.texts.t(lang, key, year=result.campaign.year, count=result.audience, exempt=result.exempt))
        return 0
    finally:
        await svc.db.close()


async def _status(svc, org_id: int, lang: str, year: int | None) -> str:
    """The coordinator's view for the terminal: no Slack markup, and the CLI's own commands to go on with."""
    from bot.console import plain
    from handlers import training
    from storage import training as store

    year = year or svc.clock.now().astimezone(svc.settings.tz).year
    async with svc.db.transaction() as session:
        started = await store.campaign_for(session, org_id, year) is not None
    if not started:
        return svc.texts.t(lang, "cli.training.no_campaign", year=year)
    return "\n".join(plain(line) for line in (await training.status_report(svc, org_id, lang, year)).splitlines())
