"""Delivers outbox messages through Slack's Web API."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import NotYet, PermanentFailure, RetryLater
from bot.model import Message
from bot.slack.blocks import message_payload
from storage.db import Database
from storage.directory import remember_dm_channel
from storage.models import OutboxMessage, Person, Review
from storage.outbox import sent_message

# Errors that another try cannot fix; anything else (ratelimited, internal_error, fatal_error…) is retried.
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "no_text", "user_not_found", "cannot_dm_bot", "account_inactive", "invalid_auth",
    "not_authed", "token_revoked", "missing_scope", "restricted_action", "user_disabled", "message_not_found",
    "cant_update_message", "edit_window_closed",
}


class SlackTransport:
    def __init__(self, client: AsyncWebClient, db: Database) -> None:
        self.client, self.db = client, db

    async def deliver(self, item: OutboxMessage) -> dict:
        if item.payload.get("files"):
            return await self._files(item)
        payload = message_payload(Message.from_dict(item.payload["message"]))
        if item.payload.get("update_of"):
            return await self._update(item, payload)
        channel = await self._channel_for(item)
        try:
            response = await self.client.chat_postMessage(channel=channel, unfurl_links=False, **payload)
        except SlackApiError as exc:
            raise _classified(exc) from exc
        if item.recipient_kind == "person" and channel != response["channel"]:
            async with self.db.transaction() as session:
                await remember_dm_channel(session, int(item.recipient), response["channel"])
        return {"channel": response["channel"], "ts": response["ts"]}

    async def _channel_for(self, item: OutboxMessage) -> str:
        if item.recipient_kind == "channel":
            return item.recipient
        async with self.db.transaction() as session:
            person = await session.get(Person, int(item.recipient))
        if person is None or not person.slack_user_id:
            raise PermanentFailure("the person has no Slack account")
        # A user id as channel posts into the app's DM with that person without a conversations.open
        # call (Tier 3); the DM's channel id comes back and is kept for next time.
        return person.dm_channel_id or person.slack_user_id

    async def _files(self, item: OutboxMessage) -> dict:
        """Documents, uploaded in the thread of the message they belong to (so they follow it)."""
        async with self.db.transaction() as session:
            parent = await sent_message(session, item.org_id, item.payload["thread_of"])
        if parent is None or parent.status == "failed":
            raise PermanentFailure("the message the files belong to was never sent")
        if parent.status != "sent":
            raise NotYet(5, "the message the files belong to is not sent yet")
        files = await _files_of(self.db, item.payload["files"])
        try:
            response = await self.client.files_upload_v2(
                channel=parent.result["channel"], thread_ts=parent.result["ts"], file_uploads=files,
                initial_comment=item.payload.get("comment"))
        except SlackApiError as exc:
            raise _classified(exc) from exc
        return {"channel": parent.result["channel"], "files": [f["id"] for f in response.get("files", [])]}

    async def _update(self, item: OutboxMessage, payload: dict) -> dict:
        async with self.db.transaction() as session:
            original = await sent_message(session, item.org_id, item.payload["update_of"])
        if original is None:
            raise PermanentFailure("the message to update was never queued")
        if original.status != "sent":
            raise NotYet(5, "the message to update is not sent yet")
        try:
            await self.client.chat_update(channel=original.result["channel"], ts=original.result["ts"], **payload)
        except SlackApiError as exc:
            raise _classified(exc) from exc
        return original.result


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
