"""Slack's side of the directory: users.list sync, team_join / user_change, and the HR file sent to the bot.

An admin or information-security coordinator sends the staff list (CSV) to the bot in its DM. Slack
announces it as a `message` event with subtype `file_share`; the bot fetches the file from
`url_private_download` with its own token (asking `files.info` when the event does not carry the URL),
checks it and answers in the DM with the report. When rows are bad, the report carries two buttons; the
import button's value names the file and its checksum, so a restart between report and click loses
nothing: the file is fetched again and must be byte-identical to the one that was checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.i18n import language_of
from bot.model import Actor, Note
from bot.slack.blocks import block_kit
from bot.slack.sdk_logger import api_logger
from handlers.directory import (
    CANCEL_ACTION, IMPORT_ACTION, ReportTo, apply_chat_members, import_people_file, may_import_people, notice, tell,
)
from handlers.services import Services
from handlers.tabular import MAX_BYTES
from storage.directory import ensure_organisation, ensure_slack_person
from storage.models import Organisation
from storage.people import ChatMember, MemberCounts, apply_member, organisations, person_by_chat_id

log = logging.getLogger(__name__)

PLATFORM = "slack"
SLACKBOT = "USLACKBOT"
PAGE_SIZE = 200  # users.list: Slack recommends at most 200 a page
PROFILE_TIMEOUT = 2.0
DOWNLOAD_TIMEOUT = 30.0
# The bot token only ever travels to Slack's own file hosts (or to SLACK_API_URL's host: a proxy, the tests).
SLACK_FILE_DOMAINS = ("slack.com", "slack-gov.com")


def directory_client(settings: Settings) -> AsyncWebClient:
    """For background work nobody waits on: honours 429 Retry-After (users.list is Tier 2, ~20 a minute)."""
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=30,
                          retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                                          AsyncRateLimitErrorRetryHandler(max_retry_count=5),
                                          AsyncServerErrorRetryHandler(max_retry_count=2)],
                          logger=api_logger())


def member_of(user: dict[str, Any]) -> ChatMember | None:
    """A Slack user object as a directory member; None for bots, workflow bots and Slackbot."""
    if not isinstance(user, dict) or not user.get("id") or user["id"] == SLACKBOT or user.get("is_bot") or user.get("is_workflow_bot"):
        return None
    profile = user.get("profile") or {}
    return ChatMember(user_id=user["id"],
                      name=profile.get("real_name") or user.get("real_name") or user.get("name") or None,
                      email=(profile.get("email") or "").strip().lower() or None,
                      locale=user.get("locale") or None, tz=user.get("tz") or None,
                      deleted=bool(user.get("deleted")))


# ---- users.list -------------------------------------------------------------------------


async def sync_slack_directory(svc: Services, client: AsyncWebClient | None = None, *, team_id: str | None = None,
                               page_size: int = PAGE_SIZE) -> MemberCounts:
    """Page through users.list and upsert every human member; HR-file people are matched by e-mail.

    Each page is stored in its own transaction, so a sync cut short keeps what it has read and the next
    run simply goes over it again."""
    client = client or directory_client(svc.settings)
    if team_id is None:
        team_id = (await client.auth_test())["team_id"]
    async with svc.db.transaction() as session:
        org = await ensure_organisation(session, PLATFORM, team_id, svc.clock.now())
    counts = MemberCounts()
    cursor: str | None = None
    while True:
        response = await client.users_list(limit=page_size, include_locale=True, cursor=cursor)
        members: list[ChatMember] = []
        for user in response.get("members") or []:
            member = member_of(user)
            if member is None:
                counts.skipped += 1
            else:
                members.append(member)
        counts.add(await apply_chat_members(svc, org.id, members))
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return counts


async def sync_slack_directory_in_background(svc: Services) -> MemberCounts | None:
    """For the runtime to schedule at start (asyncio.create_task): never raises, logs what happened."""
    try:
        counts = await sync_slack_directory(svc)
    except asyncio.CancelledError:
        raise
    except SlackApiError as exc:  # a bad token, a missing scope: said in one line, the traceback tells nothing
        log.warning(svc.texts.t(svc.settings.language, "cli.run.sync_failed", error=exc.response.get("error")))
        return None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:  # Slack unreachable: it may come back
        log.warning(svc.texts.t(svc.settings.language, "cli.run.sync_failed", error=unreachable(exc)))
        return None
    except Exception:  # noqa: BLE001 — a failed sync must not take the bot down; the next one catches up
        log.exception("directory: the Slack sync failed")
        return None
    log.info("directory: Slack sync done: %s", counts)
    return counts


# ---- the command line: which organisation ---------------------------------------------


class OrganisationNotFound(Exception):
    """No unambiguous organisation; `key` and `params` name the text that says why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def unreachable(exc: BaseException) -> str:
    """A connection failure in one line: what failed, not a traceback."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def resolve_organisation(svc: Services, team: str | None = None, client: AsyncWebClient | None = None,
                               offline: Callable[[str], None] | None = None) -> Organisation:
    """--team T… if given; else the workspace of SLACK_BOT_TOKEN (auth.test); else the only organisation.
    With `offline`, Slack being unreachable is not an error: it is told why and the database decides."""
    settings = svc.settings
    async with svc.db.transaction() as session:
        known = await organisations(session)
    teams = ", ".join(o.external_id for o in known) or "–"
    if team:
        org = next((o for o in known if o.platform == PLATFORM and o.external_id == team), None)
        if org is not None:
            return org
    if settings.slack_bot_token:
        client = client or directory_client(settings)
        try:
            team_id = (await client.auth_test())["team_id"]
        except SlackApiError as exc:
            raise OrganisationNotFound("directory.cli.slack_error", error=exc.response.get("error")) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if offline is None:
                raise OrganisationNotFound("directory.cli.slack_error", error=unreachable(exc)) from exc
            offline(unreachable(exc))
            team_id = None
        if team_id is not None and (team is None or team == team_id):
            async with svc.db.transaction() as session:
                return await ensure_organisation(session, PLATFORM, team_id, svc.clock.now())
    if team:
        raise OrganisationNotFound("directory.cli.unknown_team", team=team, teams=teams)
    if len(known) == 1:
        return known[0]
    raise OrganisationNotFound("directory.cli.several_organisations" if known else "directory.cli.no_organisation",
                               teams=teams)


# ---- events and buttons -------------------------------------------------------------------


class FileProblem(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


class SlackDirectory:
    def __init__(self, adapter) -> None:
        self.adapter = adapter
        self.svc: Services = adapter.svc
        self.client: AsyncWebClient = adapter.client

    def register(self, app) -> None:
        app.event({"type": "message", "subtype": "file_share"})(self.on_file_shared)
        app.event("message")(self.on_other_message)  # without it, every other DM would be answered 404
        app.event("team_join")(self.on_member_event)
        app.event("user_change")(self.on_member_event)
        app.action(IMPORT_ACTION)(self.on_import_good_rows)
        app.action(CANCEL_ACTION)(self.on_cancel)

    # ---- who is acting ---------------------------------------------------------------

    async def actor(self, team_id: str, user_id: str) -> Actor:
        """Like the adapter's, but a person first seen here is matched to the HR file by e-mail at once."""
        now = self.svc.clock.now()
        async with self.svc.db.transaction() as session:
            org = await ensure_organisation(session, PLATFORM, team_id, now)
            person = await person_by_chat_id(session, org.id, user_id)
        if person is None or person.email is None or person.locale is None:
            member = await self._member(user_id)
            async with self.svc.db.transaction() as session:
                if member is not None:
                    person = (await apply_member(session, org.id, member, now))[1]
                if person is None:
                    person = await ensure_slack_person(session, org.id, user_id, now)
        settings = self.svc.settings
        return Actor(org_id=org.id, person_id=person.id, platform_user_id=user_id,
                     lang=language_of(person.locale, settings.language), tz=person.tz or settings.timezone)

    async def _member(self, user_id: str) -> ChatMember | None:
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id, include_locale=True),
                                              timeout=PROFILE_TIMEOUT)
        except (SlackApiError, asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("directory: could not read the profile of %s: %s", user_id, exc)
            return None
        return member_of(response["user"])

    # ---- members joining and changing ----------------------------------------------------

    async def on_member_event(self, body, event) -> None:
        if not await self.adapter.first_delivery(body.get("event_id")):
            return
        await self._safely(self._member_changed(body["team_id"], event.get("user") or {}))

    async def _member_changed(self, team_id: str, user: dict[str, Any]) -> None:
        member = member_of(user)
        if member is None:
            return
        async with self.svc.db.transaction() as session:
            org = await ensure_organisation(session, PLATFORM, team_id, self.svc.clock.now())
        await apply_chat_members(self.svc, org.id, [member])
        forget = getattr(self.adapter, "forget", None)  # the adapter remembers actors for a few minutes
        if forget is not None:
            forget(team_id, member.user_id)

    # ---- the HR file in the DM ----------------------------------------------------------

    async def on_other_message(self, event) -> None:
        return None

    async def on_file_shared(self, body, event) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or not event.get("user") or not event.get("files"):
            return
        if not await self.adapter.first_delivery(body.get("event_id")):
            return
        await self._safely(self._file_shared(body["team_id"], event))

    async def _file_shared(self, team_id: str, event: dict[str, Any]) -> None:
        actor = await self.actor(team_id, event["user"])
        stamp = event.get("ts") or event.get("event_ts") or ""
        if not await may_import_people(self.svc, actor):
            await tell(self.svc, actor, f"directory:{stamp}:refused", notice(self.svc, actor.lang, "directory.refused"))
            return
        for file in event["files"]:
            if file.get("id"):
                await self._import(actor, file, key=f"directory:{stamp}:{file['id']}")

    async def on_import_good_rows(self, ack, body) -> None:
        await ack()
        await self._safely(self._decided(body, import_rows=True))

    async def on_cancel(self, ack, body) -> None:
        await ack()
        await self._safely(self._decided(body, import_rows=False))

    async def _decided(self, body: dict[str, Any], *, import_rows: bool) -> None:
        actor = await self.actor(body["team"]["id"], body["user"]["id"])
        action = (body.get("actions") or [{}])[0]
        try:
            token = json.loads(action.get("value") or "")
            file_id, digest = str(token["file"]), str(token["sha"])
        except (ValueError, KeyError, TypeError):
            log.warning("directory: a %s click without a file", action.get("action_id"))
            return
        container = body.get("container") or {}
        stamp = container.get("message_ts") or action.get("action_ts") or ""
        if not await may_import_people(self.svc, actor):
            await tell(self.svc, actor, f"directory:{stamp}:refused", notice(self.svc, actor.lang, "directory.refused"))
            return
        key = "directory.decision.importing" if import_rows else "directory.decision.cancelled"
        closed = await self._close_buttons(body, self.svc.texts.t(actor.lang, key))
        if import_rows:
            await self._import(actor, {"id": file_id}, key=f"directory:{stamp}:{file_id}:good_rows",
                               import_good_rows=True, expected=digest)
        elif not closed:
            await tell(self.svc, actor, f"directory:{stamp}:{file_id}:cancelled", notice(self.svc, actor.lang, key))

    async def _close_buttons(self, body: dict[str, Any], text: str) -> bool:
        """Replace the report's buttons with what was chosen, so the choice is made once."""
        message, container = body.get("message") or {}, body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        ts = container.get("message_ts") or message.get("ts")
        if not (message.get("blocks") and channel and ts):
            return False
        ours = {IMPORT_ACTION, CANCEL_ACTION}
        blocks = [b for b in message["blocks"] if not (
            b.get("type") == "actions" and any(e.get("action_id") in ours for e in b.get("elements") or ()))]
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=message.get("text") or text,
                                          blocks=blocks + block_kit([Note(text)]))
        except (SlackApiError, asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("directory: could not update the report message: %s", exc)
            return False
        return True

    async def _import(self, actor: Actor, file: dict[str, Any], *, key: str, import_good_rows: bool = False,
                      expected: str | None = None) -> None:
        svc, lang = self.svc, actor.lang
        filename = file.get("name") or file.get("title") or file["id"]
        try:
            info, data = await self._download(file)
            filename = info.get("name") or filename
            digest = hashlib.sha256(data).hexdigest()[:16]
            if expected is not None and digest != expected:
                raise FileProblem("changed")
            token = json.dumps({"file": info.get("id") or file["id"], "sha": digest}, separators=(",", ":"))
            await import_people_file(svc, actor.org_id, data, import_good_rows=import_good_rows,
                                     report_to=ReportTo(actor, key, filename, token))
        except FileProblem as problem:
            await tell(svc, actor, f"{key}:{problem.code}",
                       notice(svc, lang, f"directory.upload.{problem.code}", filename=filename, **problem.params))
        except Exception:  # noqa: BLE001 — the person is told; the log has the rest
            log.exception("directory: importing %s failed", filename)
            await tell(svc, actor, f"{key}:failed", notice(svc, lang, "directory.upload.failed"))

    # ---- fetching the file ----------------------------------------------------------------

    async def _download(self, file: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        info = file
        # Files in events may come without URLs (Slack Connect: "file_access": "check_file_info").
        if not file.get("url_private_download") or file.get("file_access") == "check_file_info":
            try:
                info = (await self.client.files_info(file=file["id"]))["file"]
            except SlackApiError as exc:
                error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
                raise FileProblem("file_gone" if error in ("file_not_found", "file_deleted") else "download_failed") \
                    from exc
        size = info.get("size")
        if isinstance(size, int) and size > MAX_BYTES:
            raise FileProblem("too_large", max_bytes=MAX_BYTES)
        url = info.get("url_private_download") or info.get("url_private")
        if not url or not self._trusted(url):
            log.warning("directory: refusing to send the bot token to %r", url)
            raise FileProblem("download_failed")
        data = await self._fetch(url)
        if isinstance(size, int) and size != len(data):
            log.warning("directory: %s: expected %d bytes, got %d", info.get("id"), size, len(data))
            raise FileProblem("download_failed")
        return info, data

    def _trusted(self, url: str) -> bool:
        parts, api = urlsplit(url), urlsplit(self.svc.settings.slack_api_url)
        host = (parts.hostname or "").lower()
        if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
            return True
        return parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in SLACK_FILE_DOMAINS)

    async def _fetch(self, url: str) -> bytes:
        headers = {"Authorization": f"Bearer {self.svc.settings.slack_bot_token}"}
        chunks: list[bytes] = []
        size = 0
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)) as http:
                async with http.get(url, headers=headers) as response:
                    # Without a valid token Slack answers with its login page, not with an error status.
                    if response.status != 200 or response.content_type == "text/html":
                        log.warning("directory: download answered %s %s", response.status, response.content_type)
                        raise FileProblem("download_failed")
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        size += len(chunk)
                        if size > MAX_BYTES:
                            raise FileProblem("too_large", max_bytes=MAX_BYTES)
                        chunks.append(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("directory: download failed: %s", exc)
            raise FileProblem("download_failed") from exc
        return b"".join(chunks)

    async def _safely(self, work) -> None:
        """After the ack, in the background (an import may take longer than Slack waits for the answer)."""
        await self.adapter._safely(work)


def register_directory(adapter) -> SlackDirectory:
    """Called at the end of SlackAdapter._register: adds the directory's listeners to the adapter's app."""
    directory = SlackDirectory(adapter)
    directory.register(adapter.app)
    adapter.directory = directory
    return directory
