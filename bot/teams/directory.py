"""The HR file (the staff list) sent to lisbot in a Teams 1:1 chat, as in Slack's DM.

With `supportsFiles` in the app package, a file attached in the personal chat arrives as an attachment of type
file.download.info whose downloadUrl is short-lived and pre-authorised: a plain GET, no Microsoft Graph. Only
admins and coordinators may import (handlers.directory); the report, and its "import the good rows" button, come
back through the outbox. The button carries the download address and the file's hash, so the rows imported are
those of the file that was checked; a changed or expired file is asked for again.

The download address comes from the activity (token-checked) or a button press, so it is fetched only from
SharePoint's hosts over https (or this machine, when the connector itself is on this machine: the tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Awaitable
from urllib.parse import urlsplit

import httpx
from microsoft_teams.api.models.file import FILE_DOWNLOAD_INFO_CONTENT_TYPE

from bot.model import Actor
from handlers.directory import ReportTo, import_people_file, may_import_people, notice, tell
from handlers.services import Services
from handlers.tabular import MAX_BYTES

log = logging.getLogger(__name__)

SHAREPOINT_DOMAINS = ("sharepoint.com", "sharepoint.us", "sharepoint-mil.us", "sharepoint.cn", "sharepoint.de")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DOWNLOAD_TIMEOUT = 30.0


class FileProblem(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def files_in(activity) -> list[dict[str, str]]:
    """The files attached to a message: name, download address and id."""
    found = []
    for attachment in getattr(activity, "attachments", None) or []:
        if attachment.content_type != FILE_DOWNLOAD_INFO_CONTENT_TYPE:
            continue
        content = attachment.content if isinstance(attachment.content, dict) else (
            attachment.content.model_dump(by_alias=True) if hasattr(attachment.content, "model_dump") else {})
        url = content.get("downloadUrl") or content.get("download_url")
        if url:
            found.append({"name": attachment.name or "", "url": str(url),
                          "id": str(content.get("uniqueId") or content.get("unique_id") or "")})
    return found


class TeamsDirectory:
    def __init__(self, svc: Services, http: httpx.AsyncClient) -> None:
        self.svc, self.http = svc, http

    async def files_sent(self, actor: Actor, activity_id: str, files: list[dict[str, str]]) -> None:
        if not await may_import_people(self.svc, actor):
            await tell(self.svc, actor, f"teams-directory:{activity_id}:refused",
                       notice(self.svc, actor.lang, "directory.refused"))
            return
        for number, file in enumerate(files):
            await self._import(actor, file["url"], file["name"], key=f"teams-directory:{activity_id}:{number}")

    async def decided(self, actor: Actor, value: str, *, import_rows: bool) -> tuple[str, Awaitable | None]:
        """The report's buttons: the text that replaces them (the choice is made once), and the import to run
        after the answer (a download and an import may take longer than Teams waits)."""
        t = lambda key: self.svc.texts.t(actor.lang, key)  # noqa: E731
        if not await may_import_people(self.svc, actor):
            return t("directory.refused"), None
        try:
            token = json.loads(value)
            url, digest, name = str(token["file"]), str(token["sha"]), str(token.get("name") or "")
        except (ValueError, KeyError, TypeError):
            return t("teams.unsupported"), None
        if not import_rows:
            return t("directory.decision.cancelled"), None
        # Keyed by the file's hash: pressing twice reports once.
        return t("directory.decision.importing"), self._import(
            actor, url, name, key=f"teams-directory:{digest}:good_rows", import_good_rows=True, expected=digest)

    async def _import(self, actor: Actor, url: str, filename: str, *, key: str, import_good_rows: bool = False,
                      expected: str | None = None) -> None:
        svc, lang = self.svc, actor.lang
        try:
            data = await self._download(url)
            digest = hashlib.sha256(data).hexdigest()[:16]
            if expected is not None and digest != expected:
                raise FileProblem("directory.upload.changed")
            token = json.dumps({"file": url, "sha": digest, "name": filename[:100]}, separators=(",", ":"))
            await import_people_file(svc, actor.org_id, data, import_good_rows=import_good_rows,
                                     report_to=ReportTo(actor, key, filename, token))
        except FileProblem as problem:
            await tell(svc, actor, f"{key}:{problem.key}",
                       notice(svc, lang, problem.key, filename=filename, **problem.params))
        except Exception:  # noqa: BLE001 — the person is told; the log has the rest
            log.exception("Teams directory: importing %s failed", filename)
            await tell(svc, actor, f"{key}:failed", notice(svc, lang, "directory.upload.failed"))

    def trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in SHAREPOINT_DOMAINS):
            return True
        connector = urlsplit(self.svc.settings.teams_service_url).hostname
        return host in LOOPBACK and connector in LOOPBACK

    async def _download(self, url: str) -> bytes:
        if not self.trusted(url):
            log.warning("Teams directory: refusing to fetch a file from %r", urlsplit(url).hostname)
            raise FileProblem("teams.directory.download_failed")
        chunks, size = [], 0
        try:
            async with self.http.stream("GET", url, timeout=DOWNLOAD_TIMEOUT) as response:
                if response.status_code in (401, 403, 404, 410):
                    raise FileProblem("teams.directory.expired")
                if response.status_code != 200:
                    raise FileProblem("teams.directory.download_failed")
                async for chunk in response.aiter_bytes(64 * 1024):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise FileProblem("directory.upload.too_large", max_bytes=MAX_BYTES)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            log.warning("Teams directory: download failed: %s", exc)
            raise FileProblem("teams.directory.download_failed") from exc
        return b"".join(chunks)
