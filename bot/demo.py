"""`lisbot demo`: the product on a fresh machine, no Slack needed. A sample organisation is reported into
through the real handlers and database; what the bot would show in Slack is printed as text."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

from bot.clock import FrozenClock, SystemClock
from bot.config import Settings
from bot.console import form_text, message_text, screen_text
from bot.i18n import Texts
from bot.model import Actor
from handlers import home, incident_views, incidents
from handlers.services import Services
from storage.db import Database
from storage.directory import ensure_organisation, ensure_slack_person, update_slack_profile
from storage.outbox import pending_count

DEMO_TEAM = "T0DEMO"
DEMO_CHANNEL = "C0SECURITY"


async def run_demo(settings: Settings, out=print) -> None:
    lang = settings.language
    settings = settings.model_copy(update={"security_channel": settings.security_channel or DEMO_CHANNEL})
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        now = SystemClock().now().replace(second=0, microsecond=0)
        clock = FrozenClock(now)
        svc = Services(db=db, texts=Texts(default_lang=lang), clock=clock, settings=settings)
        t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
        actor = await _demo_person(svc, lang)

        samples = [
            {"kinds": ("personal_data",), "description": "Ett mejl med deltagarlistan för sommarkursen skickades "
             "till fel mottagare.", "discovered_at": now - timedelta(hours=3), "personal_data": "yes",
             "people_affected": "40", "asset": "E-post"},
            {"kinds": ("infosec",), "description": "Misstänkt nätfiskemejl som ser ut att komma från IT-avdelningen.",
             "discovered_at": now - timedelta(days=2), "occurred_at": now - timedelta(days=2, hours=1)},
            {"kinds": ("work_env",), "description": "En kulisshiss stannade mellan två våningar under en föreställning.",
             "discovered_at": now - timedelta(days=9), "injury": "near_miss"},
        ]
        results = []
        for n, values in enumerate(reversed(samples), 1):
            clock.set(values["discovered_at"] + timedelta(minutes=25))  # reported soon after it was noticed
            results.append(await incidents.submit_report(svc, actor, values, source_key=f"demo:{n}"))
        first = results[-1].incident

        out(t("demo.title"))
        out("=" * len(t("demo.title")))
        out(t("demo.database", url=settings.database_url))
        out("")
        out(t("demo.form"))
        out(form_text(incidents.report_form(svc, actor), t("common.optional")))
        out("")
        out(t("demo.receipt"))
        out(message_text(incident_views.receipt(svc, actor, first)))
        out("")
        out(t("demo.notice"))
        out(message_text(incident_views.security_notice(svc, first)))
        out("")
        out(t("demo.home"))
        out(screen_text(await home.home_screen(svc, actor)))
        out("")
        async with db.transaction() as session:
            out(t("demo.queued", count=await pending_count(session)))
        out("")
        out(t("cli.demo.next", env=f"DATABASE_URL={settings.database_url}", lisbot=invocation(),
              year=now.year, team=DEMO_TEAM))
        out("")
        out(t("demo.connect"))
    finally:
        await db.close()


async def _demo_person(svc: Services, lang: str) -> Actor:
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        org = await ensure_organisation(session, "slack", DEMO_TEAM, now)
        person = await ensure_slack_person(session, org.id, "U0ANNA", now)
        await update_slack_profile(session, person.id, name="Anna Andersson", email="anna@example.se",
                                   locale="sv-SE" if lang == "sv" else "en-GB", tz=svc.settings.timezone, now=now)
    return Actor(org_id=org.id, person_id=person.id, platform_user_id="U0ANNA", lang=lang, tz=svc.settings.timezone)


def invocation() -> str:
    """`lisbot` as the person can type it again: `lisbot` when it is on PATH, else the path they used
    (`.venv/bin/lisbot` after the README's first command)."""
    used = Path(sys.argv[0])
    if used.name != "lisbot":
        return "lisbot"
    found = shutil.which("lisbot")
    if found and Path(found).resolve() == used.resolve():
        return "lisbot"
    try:
        relative = os.path.relpath(used)
    except ValueError:  # another drive (Windows)
        return str(used.resolve())
    return relative if not relative.startswith("..") else str(used.resolve())
