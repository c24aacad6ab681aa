"""Delivers outbox messages through Slack's Web API."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import PermanentFailure, RetryLater
from bot.model import Message
from bot.slack.blocks import message_payload
from storage.db import Database
from storage.directory import remember_dm_channel
from storage.models import OutboxMessage

# Errors that another try cannot fix; anything else (ratelimited, internal_error, fatal_error…) is retried.
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "no_text", "user_not_found", "cannot_dm_bot", "account_inactive", "invalid_auth",
    "not_authed", "token_revoked", "missing_scope", "restricted_action", "user_disabled",
}


class SlackTransport:
    def __init__(self, client: AsyncWebClient, db: Database) -> None:
        self.client, self.db = client, db

    async def deliver(self, item: OutboxMessage) -> dict:
        payload = message_payload(Message.from_dict(item.payload["message"]))
        # A user id as channel posts into the app's DM with that person without a conversations.open
        # call (Tier 3); the DM's channel id comes back and is kept for later updates.
        try:
            response = await self.client.chat_postMessage(channel=item.recipient, unfurl_links=False, **payload)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status == 429:
                raise RetryLater(retry_after(exc.response.headers), "ratelimited") from exc
            if error in PERMANENT_ERRORS:
                raise PermanentFailure(error) from exc
            raise
        if item.recipient_kind == "user":
            async with self.db.transaction() as session:
                await remember_dm_channel(session, item.org_id, item.recipient, response["channel"])
        return {"channel": response["channel"], "ts": response["ts"]}


def retry_after(headers: dict, default: float = 30.0) -> float:
    """Seconds Slack asks us to wait; header names arrive in whatever case the HTTP stack kept."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(float(value if isinstance(value, str) else value[0]), 1.0)
            except (TypeError, ValueError, IndexError):
                break
    return default
