"""What the CLI's commands share: services without Slack, and finding the organisation."""

from __future__ import annotations

import sys

from bot.clock import SystemClock
from bot.i18n import Texts
from handlers.services import Services
from storage.db import Database


def services(settings) -> Services:
    return Services(db=Database(settings.database_url), texts=Texts(default_lang=settings.language),
                    clock=SystemClock(), settings=settings)


async def organisation_or_exit(svc: Services, team: str | None):
    """The organisation to work on, or None after saying why on stderr."""
    from bot.slack.directory import OrganisationNotFound, resolve_organisation

    try:
        return await resolve_organisation(svc, team)
    except OrganisationNotFound as exc:
        print(f"lisbot: {svc.texts.t(svc.settings.language, exc.key, **exc.params)}", file=sys.stderr)
        return None
