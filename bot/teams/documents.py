"""Documents for Teams, served by lisbot itself behind signed, expiring links.

A bot cannot attach a file to a Teams channel without SharePoint and Microsoft Graph (and Graph permissions a
municipal tenant rarely grants a bot). So lisbot posts a card with the file's name and size and an
Action.OpenUrl button to GET /documents/<token> on its own address (LISBOT_PUBLIC_URL), where the document is
served. The token is a JWT (PyJWT, HS256) signed with a key derived from CLIENT_SECRET, so every replica checks
it and nobody can forge or guess one. It names exactly one document and carries its expiry:

- a review document: the review, the format, and a hash of the bytes, so a link serves only the document it
  was made for (a regenerated draft is another document: the old link answers 410);
- an export (incident log, breach log): made when the link is followed, for the person it was made for and with
  their rights at that moment; such links live a few minutes.

A bad token is 404 and an expired or replaced document 410, each a short page in the organisation's language;
neither says which documents exist.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import jwt
from aiohttp import web

from bot.config import Settings
from bot.i18n import Texts
from bot.model import Actor
from handlers import exports
from handlers.services import Services
from storage.models import Person, Review

log = logging.getLogger(__name__)

PATH = "/documents/{token}"
AUDIENCE = "lisbot-document"
EXPORT_LINK_MINUTES = 15  # exports hold case data: the link is followed right away or made anew
CONTENT_TYPES = {"pdf": "application/pdf",
                 "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 "csv": "text/csv; charset=utf-8"}
EXPORTS = {"incidents": exports.incident_log, "breaches": exports.breach_log}


class LinkError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class DocumentLinks:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = (settings.teams_client_secret or "").encode()
        # Its own key, derived from the bot's secret: a link's signature reveals nothing about CLIENT_SECRET.
        self._key = hmac.new(secret, b"lisbot document links v1", hashlib.sha256).digest()

    @property
    def available(self) -> bool:
        return bool(self.settings.public_url and self.settings.teams_client_secret)

    def review_link(self, review_id: int, fmt: str, filename: str, content: bytes, now: datetime) -> tuple[str, datetime]:
        expires = now + timedelta(days=self.settings.document_link_days)
        claims = {"kind": "review", "review": review_id, "format": fmt, "sha": digest(content)}
        return self._url(claims, filename, now, expires), expires

    def export_link(self, which: str, actor: Actor, filename: str, now: datetime) -> tuple[str, datetime]:
        expires = now + timedelta(minutes=EXPORT_LINK_MINUTES)
        claims = {"kind": "export", "export": which, "org": actor.org_id, "person": actor.person_id,
                  "lang": actor.lang}
        return self._url(claims, filename, now, expires), expires

    def _url(self, claims: dict, filename: str, now: datetime, expires: datetime) -> str:
        token = jwt.encode({**claims, "name": filename, "aud": AUDIENCE, "iat": int(now.timestamp()),
                            "exp": int(expires.timestamp()), "jti": secrets.token_urlsafe(12)},
                           self._key, algorithm="HS256")
        return f"{self.settings.public_url.rstrip('/')}/documents/{token}"

    def read(self, token: str, now: datetime) -> dict:
        """The claims of a valid token; LinkError(404) for anything forged or malformed, (410) when expired."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=AUDIENCE,
                                options={"require": ["exp", "aud", "kind", "name"], "verify_exp": False})
        except jwt.PyJWTError as exc:
            raise LinkError(404, f"bad document token: {exc}") from None
        # Expiry against the bot's clock (tests move it), not the machine's.
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= int(now.timestamp()):
            raise LinkError(410, "document link expired")
        return claims


class DocumentRoute:
    """GET /documents/{token} on the same web server as /api/messages."""

    def __init__(self, svc: Services, links: DocumentLinks) -> None:
        self.svc, self.links = svc, links

    async def serve(self, request: web.Request) -> web.Response:
        lang = self.svc.settings.language  # the organisation's language: the link names nobody
        try:
            claims = self.links.read(request.match_info["token"], self.svc.clock.now())
            document = await self._document(claims)
        except LinkError as exc:
            log.info("document link refused (%s): %s", exc.status, exc)
            return page(self.svc.texts, lang, exc.status)
        return web.Response(body=document.content, headers={
            "Content-Type": document.content_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.filename)}",
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
            "X-Robots-Tag": "noindex"})

    async def _document(self, claims: dict) -> Document:
        if claims.get("kind") == "review" and claims.get("format") in ("pdf", "docx"):
            async with self.svc.db.transaction() as session:
                review = await session.get(Review, int(claims.get("review") or 0))
                content = getattr(review, claims["format"]) if review is not None else None
            if content is None:
                raise LinkError(410, "the review is gone")
            if not hmac.compare_digest(digest(content), str(claims.get("sha"))):
                raise LinkError(410, "the review's document was replaced")
            return Document(str(claims["name"]), content)
        if claims.get("kind") == "export" and claims.get("export") in EXPORTS:
            return await self._export(claims)
        raise LinkError(404, "unknown document kind")

    async def _export(self, claims: dict) -> Document:
        """Made now, with the rights the person has now."""
        async with self.svc.db.transaction() as session:
            person = await session.get(Person, int(claims.get("person") or 0))
        if person is None or person.org_id != claims.get("org"):
            raise LinkError(404, "the export's person is unknown")
        actor = Actor(org_id=person.org_id, person_id=person.id, platform_user_id=person.teams_user_id or "",
                      lang=str(claims.get("lang") or self.svc.settings.language),
                      tz=person.tz or self.svc.settings.timezone)
        export = await export_for(self.svc, actor, str(claims["export"]))
        if export is None:
            raise LinkError(404, "no longer allowed to export")
        return Document(export.filename, export.content)


async def export_for(svc: Services, actor: Actor, which: str) -> exports.Export | None:
    """The export as the person may have it; None when they may not."""
    if which == "breaches":
        if not await exports.may_export_breaches(svc, actor):
            return None
        return await exports.breach_log(svc, actor.org_id, actor.lang)
    return await exports.incident_log(svc, actor.org_id, actor.lang, actor)


def size_text(texts: Texts, lang: str, size: int) -> str:
    if size < 1024 * 1024:
        return texts.t(lang, "teams.documents.size_kb", value=str(max(1, round(size / 1024))))
    return texts.t(lang, "teams.documents.size_mb", value=f"{size / (1024 * 1024):.1f}")  # sv: decimal comma


def page(texts: Texts, lang: str, status: int) -> web.Response:
    """A short page for a link that does not work (404) or no longer works (410)."""
    kind = "expired" if status == 410 else "not_found"
    title = html.escape(texts.t(lang, f"teams.documents.page.{kind}.title"))
    text = html.escape(texts.t(lang, f"teams.documents.page.{kind}.text"))
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
            f'<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">'
            f'<h1>{title}</h1><p>{text}</p></body></html>')
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
