"""Delivers outbox messages through Slack's Web API."""

from __future__ import annotations

import time
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import bindparam, select, update

from bot.delivery import VERIFY_LANE, PermanentFailure, RetryLater, sent_before
from bot.model import Message
from bot.slack.blocks import message_payload
from storage.db import Database
from storage.models import OutboxMessage, Person, Review

LEARNED_BATCH, LEARNED_SECONDS = 500, 5.0  # DM channels learned are stored this many at a time, or this often
# Every post carries this message metadata, so that a message whose send was not recorded (a crash, a timeout)
# can be found in the conversation's history instead of being posted twice.
EVENT_TYPE = "lisbot_outbox"
LOOK_BACK = timedelta(minutes=10)  # history read from this long before the first attempt (clocks differ)
HISTORY_PAGE, HISTORY_PAGES = 200, 10  # messages a page; pages read before giving up for now

# Errors that another try cannot fix; anything else (ratelimited, internal_error, fatal_error…) is retried.
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "no_text", "user_not_found", "cannot_dm_bot", "account_inactive", "invalid_auth",
    "not_authed", "token_revoked", "missing_scope", "restricted_action", "user_disabled", "message_not_found",
    "cant_update_message", "edit_window_closed",
}


class SlackTransport:
    # Sends a second per lane where Slack publishes a tier (Tier 3: 50 a minute; a file takes two Tier 4 calls).
    # chat.postMessage has no published workspace figure: its rate is learned from 429s. Look-ups (find_sent)
    # use conversations.history, Tier 3 for an app internal to its workspace, and at most one
    # conversations.open (Tier 3 too) each.
    rates = {"chat.update": 50 / 60, "files": 50 / 60, VERIFY_LANE: 50 / 60}

    def __init__(self, client: AsyncWebClient, db: Database) -> None:
        self.client, self.db = client, db
        # A retry inside the client (after a reset connection, say) could post a message twice without the
        # outbox knowing; the outbox retries itself, and looks in Slack first.
        self.client.retry_handlers = []
        self._targets: dict[int, tuple[str | None, str | None]] = {}  # person id -> (user id, DM channel)
        self._learned: dict[int, str] = {}  # person id -> DM channel id learned from a post, not yet stored
        self._stored_at = float("-inf")

    @staticmethod
    def lane(item: OutboxMessage) -> str:
        """Messages in one lane share a rate limit: Slack's are per method."""
        if item.payload.get("files"):
            return "files"
        return "chat.update" if item.payload.get("update_of") else "chat.postMessage"

    async def prepare(self, items: list[OutboxMessage]) -> None:
        """The recipients of a batch in one query, instead of one transaction per message."""
        ids = {int(i.recipient) for i in items if i.recipient_kind == "person"}
        if not ids:
            return
        if len(self._targets) > 20_000:
            self._targets.clear()  # a cache, not a copy of the directory
        async with self.db.transaction() as session:
            rows = await session.execute(select(Person.id, Person.slack_user_id, Person.dm_channel_id)
                                         .where(Person.id.in_(ids)))
            self._targets.update({pid: (user, dm) for pid, user, dm in rows})

    async def record(self, session) -> None:
        """DM channels learned from posts, stored a few hundred at a time with the sends that taught them: a
        cache (posts go to the user id anyway), so a crash that loses the last few costs nothing."""
        if len(self._learned) < LEARNED_BATCH and time.monotonic() - self._stored_at < LEARNED_SECONDS:
            return
        learned, self._learned, self._stored_at = self._learned, {}, time.monotonic()
        if not learned:
            return
        table = Person.__table__
        await session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            dm_channel_id=bindparam("b_channel")), [{"b_id": p, "b_channel": c} for p, c in learned.items()])
        for person_id, channel in learned.items():
            if person_id in self._targets:
                self._targets[person_id] = (self._targets[person_id][0], channel)

    async def close(self) -> None:
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()
        self.client.session = None

    def _share_connections(self) -> None:
        # slack_sdk opens a new HTTP session (and TCP connection) per call unless given one to keep.
        if self.client.session is None or self.client.session.closed:
            # The client's timeout only applies to sessions it makes itself: a hung call must end well
            # within the lease (bot.delivery.LEASE_MARGIN).
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))

    async def deliver(self, item: OutboxMessage) -> dict:
        self._share_connections()
        if item.payload.get("files"):
            return await self._files(item)
        payload = message_payload(Message.from_dict(item.payload["message"]))
        if item.payload.get("update_of"):
            return await self._update(item, payload)
        channel = await self._channel_for(item)
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": item.dedupe_key, "org": item.org_id}}
        try:
            response = await self.client.chat_postMessage(channel=channel, unfurl_links=False, metadata=metadata,
                                                          **payload)
        except SlackApiError as exc:
            raise _classified(exc) from exc
        if item.recipient_kind == "person" and channel != response["channel"]:
            self._learned[int(item.recipient)] = response["channel"]
        return {"channel": response["channel"], "ts": response["ts"]}

    async def find_sent(self, item: OutboxMessage) -> dict | None:
        """The post of an earlier attempt of `item`, found by its metadata in the conversation's history since
        shortly before the first attempt; None when Slack does not have it. An update (chat.update) is simply
        made again, which changes nothing; files are uploaded again (Slack's uploads carry no metadata to
        find them by), so a crash during an upload may show a document twice."""
        if item.payload.get("files") or item.payload.get("update_of"):
            return None
        self._share_connections()
        channel = await self._history_channel(item)
        oldest = (item.attempted_at or item.created_at) - LOOK_BACK
        cursor = None
        for _ in range(HISTORY_PAGES):
            try:
                page = await self.client.conversations_history(
                    channel=channel, oldest=f"{oldest.timestamp():.6f}", limit=HISTORY_PAGE,
                    include_all_metadata=True, cursor=cursor)
            except SlackApiError as exc:
                raise _classified(exc) from exc
            for message in page.get("messages") or []:
                if _is_post_of(message, item):
                    return {"channel": channel, "ts": message["ts"]}
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
        # Not a PermanentFailure: sending blind could post it twice. Looked up again after a backoff.
        raise RuntimeError(f"no post of {item.dedupe_key} in {HISTORY_PAGES} pages of {channel}'s history")

    async def _history_channel(self, item: OutboxMessage) -> str:
        """The conversation a post of `item` went to: a channel, or the person's DM channel (opened when not
        known: conversations.history takes no user id)."""
        channel = await self._channel_for(item)
        if not channel.startswith(("U", "W")):
            return channel
        try:
            response = await self.client.conversations_open(users=channel)
        except SlackApiError as exc:
            raise _classified(exc) from exc
        if item.recipient_kind == "person":
            self._learned[int(item.recipient)] = response["channel"]["id"]
        return response["channel"]["id"]

    async def _channel_for(self, item: OutboxMessage) -> str:
        if item.recipient_kind == "channel":
            return item.recipient
        person_id = int(item.recipient)
        target = self._targets.get(person_id)
        if target is None:
            async with self.db.transaction() as session:
                person = await session.get(Person, person_id)
            target = (person.slack_user_id, person.dm_channel_id) if person else (None, None)
        user, dm = target
        if not user:
            raise PermanentFailure("the person has no Slack account")
        # A user id as channel posts into the app's DM with that person without a conversations.open
        # call (Tier 3); the DM's channel id comes back and is kept for next time.
        return dm or self._learned.get(person_id) or user

    async def _files(self, item: OutboxMessage) -> dict:
        """Documents, uploaded in the thread of the message they belong to (so they follow it)."""
        parent = await sent_before(self.db, item, "thread_of", "the message the files belong to")
        files = await _files_of(self.db, item.payload["files"])
        try:
            response = await self.client.files_upload_v2(
                channel=parent.result["channel"], thread_ts=parent.result["ts"], file_uploads=files,
                initial_comment=item.payload.get("comment"))
        except SlackApiError as exc:
            raise _classified(exc) from exc
        return {"channel": parent.result["channel"], "files": [f["id"] for f in response.get("files", [])]}

    async def _update(self, item: OutboxMessage, payload: dict) -> dict:
        original = await sent_before(self.db, item, "update_of", "the message to update")
        try:
            await self.client.chat_update(channel=original.result["channel"], ts=original.result["ts"], **payload)
        except SlackApiError as exc:
            raise _classified(exc) from exc
        return original.result


def _is_post_of(message: dict, item: OutboxMessage) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (metadata.get("event_type") == EVENT_TYPE and payload.get("key") == item.dedupe_key
            and payload.get("org") == item.org_id)


async def _files_of(db: Database, specs: list[dict]) -> list[dict]:
    files = []
    async with db.transaction() as session:
        for spec in specs:
            review = await session.get(Review, spec["review_id"])
            content = getattr(review, spec["format"]) if review else None
            if content is None:
                raise PermanentFailure("the document to upload does not exist")
            files.append({"content": content, "filename": spec["filename"], "title": spec["filename"]})
    return files


def _classified(exc: SlackApiError) -> Exception:
    """Slack's error as the outbox understands it: slow down, give up, or (the error itself) try again."""
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    if exc.response.status_code == 429:
        return RetryLater(retry_after(exc.response.headers), "ratelimited")
    if error in PERMANENT_ERRORS:
        return PermanentFailure(error)
    return exc


def retry_after(headers: dict, default: float = 30.0) -> float:
    """Seconds Slack asks us to wait; header names arrive in whatever case the HTTP stack kept."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(float(value if isinstance(value, str) else value[0]), 1.0)
            except (TypeError, ValueError, IndexError):
                break
    return default
