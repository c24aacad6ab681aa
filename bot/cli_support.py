"""What the CLI's commands share: services without Slack, finding the organisation, and saying in one line,
in the organisation's language, why something could not be done."""

from __future__ import annotations

import socket
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.clock import SystemClock
from bot.i18n import Texts
from handlers.services import Services
from storage.db import Database

# OS errors a person can act on, as texts under cli.os_reason
_OS_REASONS = ((FileNotFoundError, "not_found"), (PermissionError, "permission"), (IsADirectoryError, "is_directory"),
               (NotADirectoryError, "not_directory"), (ConnectionRefusedError, "refused"),
               (socket.gaierror, "unknown_host"), (TimeoutError, "timeout"))


def services(settings) -> Services:
    return Services(db=Database(settings.database_url), texts=Texts(default_lang=settings.language),
                    clock=SystemClock(), settings=settings)


def os_reason(texts: Texts, lang: str, exc: BaseException) -> str:
    """Why a file could not be read or a host reached, in the person's language where we know the reason."""
    for kind, key in _OS_REASONS:
        if isinstance(exc, kind):
            return texts.t(lang, f"cli.os_reason.{key}")
    return getattr(exc, "strerror", None) or str(exc)


def database_problem(exc: BaseException, settings, texts: Texts | None = None) -> str | None:
    """One line naming DATABASE_URL and where it points (never its password) when `exc` says the database could not
    be reached; None for anything else (a bug must still show its traceback)."""
    if isinstance(exc, DBAPIError):
        if not isinstance(exc, OperationalError) and exc.statement is not None:
            return None  # a failing statement, not a failed connection
        cause = exc.orig if exc.orig is not None else exc
    elif isinstance(exc, (ConnectionError, socket.gaierror, TimeoutError)) and not type(exc).__module__.startswith(
            "aiohttp"):
        cause = exc
    else:
        return None
    url = make_url(settings.database_url)
    where = f"{url.host}:{url.port or 5432}" if url.host else (url.database or settings.database_url)
    texts = texts or Texts(default_lang=settings.language)
    reason = os_reason(texts, settings.language, cause) if isinstance(cause, OSError) else str(cause).splitlines()[0]
    return texts.t(settings.language, "cli.database.unreachable", where=where, reason=reason)


def hidden_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def organisation_or_exit(svc: Services, team: str | None):
    """The organisation to work on, or None after saying why on stderr. Slack being unreachable (offline work on the
    review, say) is one line on stderr and the database's organisation."""
    from bot.slack.directory import OrganisationNotFound, resolve_organisation

    lang = svc.settings.language

    def offline(error: str) -> None:
        print(f"lisbot: {svc.texts.t(lang, 'cli.offline', error=error)}", file=sys.stderr)

    try:
        return await resolve_organisation(svc, team, offline=offline)
    except OrganisationNotFound as exc:
        print(f"lisbot: {svc.texts.t(lang, exc.key, **exc.params)}", file=sys.stderr)
        return None
