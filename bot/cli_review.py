"""`lisbot review --year Y --out DIR`: Ledningens genomgång without Slack, as Markdown, PDF and Word."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.cli_support import organisation_or_exit, services


def add_commands(commands) -> None:
    review = commands.add_parser("review", help="write the management review (Markdown, PDF, Word) without Slack")
    review.add_argument("--year", type=int, required=True, help="the review year")
    review.add_argument("--out", default=".", help="the folder to write to (default: the current folder)")
    review.add_argument("--team", help="the Slack workspace id (T…); default: SLACK_BOT_TOKEN's, or the only one")


def run(settings, args) -> int:
    return asyncio.run(_review(settings, args))


async def _review(settings, args) -> int:
    from handlers.review import chart_file, documents, standalone_markdown
    from handlers.review_data import gather

    svc = services(settings)
    t = lambda key, **kw: svc.texts.t(settings.language, key, **kw)  # noqa: E731
    try:
        await svc.db.upgrade()
        org = await organisation_or_exit(svc, args.team)
        if org is None:
            return 2
        inputs = await gather(svc, org.id, args.year)
        docs = await asyncio.to_thread(documents, svc, settings.language, inputs)
    finally:
        await svc.db.close()
    out = Path(args.out)
    name = t("review.filename", year=args.year)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(standalone_markdown(docs, name), "utf-8")
        (out / f"{name}.pdf").write_bytes(docs.pdf)
        (out / f"{name}.docx").write_bytes(docs.docx)
        for key, png in docs.charts.items():
            (out / chart_file(name, key)).write_bytes(png)
    except OSError as exc:
        print(f"lisbot: {exc}", file=sys.stderr)
        return 2
    print(t("review.cli.written", files=f"{name}.md, {name}.pdf, {name}.docx", out=out))
    return 0
