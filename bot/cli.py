"""The `lisbot` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot import cli_classification, cli_review, cli_training
from bot.cli_support import database_problem, hidden_password, organisation_or_exit, os_reason, services
from bot.config import ConfigError, load_settings
from storage.db import Database, DatabaseUrlError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lisbot", description="lisbot: the information-security bot (LIS) for Slack "
                                     "and/or Microsoft Teams. Start with `lisbot demo`; serve with `lisbot run`.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_help = ("serve Slack and/or Microsoft Teams, as configured in .env: Slack over HTTP at /slack/events (or Socket "
                "Mode when SLACK_APP_TOKEN is set), Teams at /api/messages when CLIENT_ID is set")
    commands.add_parser("run", help=run_help, description=run_help)
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser("upgrade", help="apply pending migrations")
    demo = commands.add_parser("demo", help="show the product without Slack, on a sample organisation")
    demo.add_argument("--database", help="database URL for the demo (default: sqlite:///lisbot-demo.db)")
    imports = commands.add_parser("import", help="import data from a file")
    import_what = imports.add_subparsers(dest="import_what", required=True)
    people = import_what.add_parser(
        "people", help="import the staff list (the HR file: CSV saved from Excel, ';' or ',' separated)")
    people.add_argument("file", help="the CSV file")
    people.add_argument("--import-good-rows", action="store_true",
                        help="when some rows are wrong, import the correct ones anyway (default: import nothing)")
    people.add_argument("--team", help="the Slack workspace id (T…); default: SLACK_BOT_TOKEN's, or the only one")
    sync = commands.add_parser("sync", help="bring the directory up to date with the chat platform")
    sync.add_subparsers(dest="sync_what", required=True).add_parser(
        "slack", help="read every member from Slack (users.list) into the directory").add_argument(
        "--team", help="the Slack workspace id (T…); must be SLACK_BOT_TOKEN's")
    cli_classification.add_commands(commands, import_what)
    cli_training.add_commands(commands)
    cli_review.add_commands(commands)
    facts = commands.add_parser("facts", help="facts for the management review, as a YAML file (examples/README.md)")
    facts_what = facts.add_subparsers(dest="facts_command", required=True)
    facts_what.add_parser("import", help="read a facts file; with any problem nothing is stored").add_argument(
        "file", help="the YAML file")
    facts_export = facts_what.add_parser("export", help="write a year's facts in the same format")
    facts_export.add_argument("--year", type=int, required=True, help="the review year")
    facts_export.add_argument("--out", help="the file to write (default: standard output)")
    for sub in facts_what.choices.values():
        sub.add_argument("--team", help="the Slack workspace id (T…); default: SLACK_BOT_TOKEN's, or the only one")
    teams = commands.add_parser("teams", help="Microsoft Teams")
    package = teams.add_subparsers(dest="teams_command", required=True).add_parser(
        "package", help="write the Teams app package (manifest.json and icons, zipped) for the admin to upload")
    package.add_argument("--url", required=True, help="the https address where lisbot answers (Teams posts to "
                                                      "<url>/api/messages)")
    package.add_argument("--out", default="lisbot-teams.zip", help="the zip to write (default: lisbot-teams.zip)")
    package.add_argument("--version", default="1.0.0", help="the app version; raise it for every new upload")
    package.add_argument("--developer", default="lisbot", help="the developer name shown in Teams")
    package.add_argument("--privacy-url", help="the privacy statement (default: --url)")
    package.add_argument("--terms-url", help="the terms of use (default: --url)")
    args = parser.parse_args(argv)

    settings = None
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        if settings.log_level != "DEBUG":  # its retry notices are one line each per attempt, and say nothing new
            logging.getLogger("slack_sdk").setLevel(logging.WARNING)
        if args.command == "run":
            settings.require_slack()
            from bot.runtime import serve

            asyncio.run(serve(settings))
        elif args.command == "db":
            asyncio.run(_upgrade(settings.database_url))
            print(_texts(settings).t(settings.language, "cli.database.upgraded", url=hidden_password(settings.database_url)))
        elif args.command == "demo":
            from bot.demo import run_demo

            settings = settings.model_copy(update={"database_url": args.database or "sqlite:///lisbot-demo.db"})
            asyncio.run(run_demo(settings))
        elif args.command == "classification" or getattr(args, "import_what", None) == "assets":
            return cli_classification.run(settings, args)
        elif args.command == "import":
            return asyncio.run(_import_people(settings, args.file, good_rows=args.import_good_rows, team=args.team))
        elif args.command == "sync":
            return asyncio.run(_sync_slack(settings, team=args.team))
        elif args.command == "facts":
            return asyncio.run(_facts(settings, args))
        elif args.command == "training":
            return cli_training.run(settings, args)
        elif args.command == "review":
            return cli_review.run(settings, args)
        elif args.command == "teams":
            return _teams_package(settings, args)
    except (ConfigError, DatabaseUrlError) as exc:
        print(f"lisbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = database_problem(exc, settings) if settings is not None else None
        if problem is None:
            raise
        print(f"lisbot: {problem}", file=sys.stderr)
        return 2
    return 0


def _texts(settings):
    from bot.i18n import Texts

    return Texts(default_lang=settings.language)


def _teams_package(settings, args) -> int:
    """`lisbot teams package --url https://…`: 0 written, 2 a value is missing or malformed."""
    from bot.teams.package import PackageError, build

    try:
        path = build(Path(args.out), app_id=settings.teams_client_id or "", url=args.url, version=args.version,
                     developer=args.developer, privacy_url=args.privacy_url, terms_url=args.terms_url)
    except PackageError as exc:
        print(f"lisbot: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        texts = _texts(settings)
        print(f"lisbot: {texts.t(settings.language, 'cli.cannot_write', path=args.out, reason=os_reason(texts, settings.language, exc))}",
              file=sys.stderr)
        return 2
    print(_texts(settings).t(settings.language, "cli.teams_package_written", path=str(path)))
    return 0


async def _upgrade(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()


async def _import_people(settings, path: str, *, good_rows: bool, team: str | None) -> int:
    """`lisbot import people FILE`: 0 imported, 1 not imported (the report says why), 2 could not start."""
    from handlers.directory import import_people_file, report_message

    svc = services(settings)
    t = lambda key, **kw: svc.texts.t(settings.language, key, **kw)  # noqa: E731
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        print(f"lisbot: {t('cli.file_unreadable', path=path, reason=os_reason(svc.texts, settings.language, exc))}",
              file=sys.stderr)
        return 2
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, team)
        if org is None:
            return 2
        result = await import_people_file(svc, org.id, data, import_good_rows=good_rows)
        print(_report_text(report_message(svc, settings.language, result, filename=Path(path).name, cli=True)))
        return 0 if result.imported else 1
    finally:
        await svc.db.close()


async def _sync_slack(settings, *, team: str | None) -> int:
    """`lisbot sync slack`: users.list into the directory, paced by Slack's rate limits."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.directory import OrganisationNotFound, directory_client, resolve_organisation, sync_slack_directory
    from handlers.directory import sync_text

    svc = services(settings)
    t = lambda key, **kw: svc.texts.t(settings.language, key, **kw)  # noqa: E731
    if not settings.slack_bot_token:
        print(f"lisbot: {t('directory.cli.sync_needs_token')}", file=sys.stderr)
        return 2
    client = directory_client(settings)
    try:
        await svc.db.upgrade()
        try:
            token_team = (await client.auth_test())["team_id"]
            if team and team != token_team:
                print(f"lisbot: {t('directory.cli.team_mismatch', team=team, token_team=token_team)}", file=sys.stderr)
                return 2
            org = await resolve_organisation(svc, token_team, client)
        except SlackApiError as exc:
            print(f"lisbot: {t('directory.cli.slack_error', error=exc.response.get('error'))}", file=sys.stderr)
            return 2
        except OrganisationNotFound as exc:
            print(f"lisbot: {t(exc.key, **exc.params)}", file=sys.stderr)
            return 2
        try:
            counts = await sync_slack_directory(svc, client, team_id=org.external_id)
        except SlackApiError as exc:
            print(f"lisbot: {t('directory.cli.slack_error', error=exc.response.get('error'))}", file=sys.stderr)
            return 1
        print(sync_text(svc, settings.language, counts))
        return 0
    finally:
        await svc.db.close()


async def _facts(settings, args) -> int:
    """`lisbot facts import FILE` (0 stored, 1 not stored: the report lists every problem) and
    `lisbot facts export --year Y [--out FILE]`; 2 when it could not start."""
    from handlers.facts import export_facts, import_facts, import_report

    svc = services(settings)
    lang = settings.language
    t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
    try:
        data = Path(args.file).read_bytes() if args.facts_command == "import" else b""
    except OSError as exc:
        print(f"lisbot: {t('cli.file_unreadable', path=args.file, reason=os_reason(svc.texts, lang, exc))}",
              file=sys.stderr)
        return 2
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, args.team)
        if org is None:
            return 2
        if args.facts_command == "import":
            result = await import_facts(svc, org.id, data)
            print(import_report(svc, lang, result, filename=Path(args.file).name))
            return 0 if result.stored else 1
        text = await export_facts(svc, org.id, args.year, lang)
        if not args.out:
            sys.stdout.write(text)
            return 0
        try:
            Path(args.out).write_text(text, "utf-8")
        except OSError as exc:
            print(f"lisbot: {t('cli.cannot_write', path=args.out, reason=os_reason(svc.texts, lang, exc))}",
                  file=sys.stderr)
            return 2
        print(t("facts.cli.written", year=str(args.year), out=args.out))
        return 0
    finally:
        await svc.db.close()


def _report_text(message) -> str:
    """A report for the terminal: the chat message's blocks as plain lines."""
    from bot.console import plain
    from bot.model import Header

    lines: list[str] = []
    for block in message.blocks:
        text = plain(getattr(block, "text", "") or "")
        if isinstance(block, Header):
            lines += [text, "=" * len(text)]
        elif text:
            lines.append(text)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
