"""Delivers outbox messages to Teams through the Bot Connector (the SDK's API client): Adaptive Card
activities to a person's 1:1 chat with the bot (proactive, from the stored conversation reference) or to a
channel. 429 waits as long as Retry-After says; 5xx and timeouts are retried; 403/404 and other refusals
that another try cannot fix fail the message. Documents (the review's PDF and Word files) go as a card in reply
to the message they belong to, with each file's name, size and a signed link to it (bot.teams.documents)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx
from microsoft_teams.api import Account, ApiClient, CreateConversationParams, MessageActivityInput
from microsoft_teams.cards import AdaptiveCard, OpenUrlAction, TextBlock
from microsoft_teams.common import Client, ClientOptions

from bot.clock import SystemClock
from bot.config import Settings
from bot.delivery import PermanentFailure, RetryLater, sent_before
from bot.i18n import Texts, format_datetime, language_of
from bot.model import Message
from bot.teams import cards
from bot.teams.auth import BotToken
from bot.teams.cards import mentions_in, message_card
from bot.teams.documents import DocumentLinks, size_text
from storage.db import Database
from storage.models import OutboxMessage, Person, Review
from storage.teams import conversation_of, names_by_slack_id, remember_personal_conversation

log = logging.getLogger(__name__)

PLATFORM = "teams"
TIMEOUT = 15.0
PERMANENT = {400, 403, 404, 405, 410, 413}


def is_teams_channel(channel: str) -> bool:
    """Teams conversation ids look like 19:…@thread.tacv2; Slack's like C0123ABC."""
    return channel.startswith(("19:", "a:", "8:", "29:"))


def api_client(settings: Settings, token: BotToken, http: httpx.AsyncClient) -> ApiClient:
    return ApiClient(settings.teams_service_url, Client(ClientOptions(timeout=TIMEOUT), _http=http),
                     token_provider=token)


class TeamsTransport:
    # No find_sent (bot/delivery.py): the Bot Connector has no way to list a bot's past messages, so a message
    # whose send may have happened before a crash or a timeout is sent again (at least once).
    def __init__(self, settings: Settings, db: Database, api: ApiClient, token: BotToken, *, svc=None) -> None:
        self.settings, self.db, self.api, self.token = settings, db, api, token
        self.clock = svc.clock if svc is not None else SystemClock()
        self.texts = svc.texts if svc is not None else Texts(default_lang=settings.language)
        self.links = DocumentLinks(settings)

    async def deliver(self, item: OutboxMessage) -> dict:
        if item.payload.get("files"):
            return await self._files(item)
        message = Message.from_dict(item.payload["message"])
        names = await self._names(message)
        activity = MessageActivityInput(summary=message.text[:250]).add_card(message_card(message, names))
        if item.payload.get("update_of"):
            return await self._update(item, activity)
        conversation_id, service_url = await self._destination(item)
        try:
            sent = await self.api.from_service_url(service_url).conversations.create_activity(conversation_id, activity)
        except httpx.HTTPError as exc:
            raise self._classified(exc) from exc
        return {"platform": PLATFORM, "conversation_id": conversation_id, "activity_id": sent.id,
                "service_url": service_url}

    async def _names(self, message: Message) -> dict[str, str]:
        texts = [message.text] + [getattr(b, "text", "") for b in message.blocks]
        texts += [f for b in message.blocks for f in getattr(b, "fields", ())]
        found = mentions_in(texts)
        if not found:
            return {}
        async with self.db.transaction() as session:
            return await names_by_slack_id(session, found)

    async def _destination(self, item: OutboxMessage) -> tuple[str, str]:
        if item.recipient_kind == "channel":
            async with self.db.transaction() as session:
                known = await conversation_of(session, item.recipient)
            return item.recipient, known.service_url if known else self.settings.teams_service_url
        async with self.db.transaction() as session:
            person = await session.get(Person, int(item.recipient))
        if person is None or not (person.teams_conversation_id or person.teams_user_id):
            raise PermanentFailure("the person has no Teams account")
        if person.teams_conversation_id:
            return person.teams_conversation_id, person.teams_service_url or self.settings.teams_service_url
        return await self._open_chat(person)

    async def _open_chat(self, person: Person) -> tuple[str, str]:
        """A person the bot knows by account but has no 1:1 chat with yet (e.g. from a channel): open it."""
        service_url = person.teams_service_url or self.settings.teams_service_url
        params = CreateConversationParams(members=[Account(id=person.teams_user_id)],
                                          tenant_id=person.teams_tenant_id or self.settings.teams_tenant_id,
                                          channel_data={"tenant": {"id": person.teams_tenant_id
                                                                   or self.settings.teams_tenant_id}})
        try:
            resource = await self.api.from_service_url(service_url).conversations.create(params)
        except httpx.HTTPError as exc:
            raise self._classified(exc) from exc
        async with self.db.transaction() as session:
            row = await session.get(Person, person.id)
            await remember_personal_conversation(session, row, resource.id, service_url=service_url,
                                                 tenant_id=person.teams_tenant_id or self.settings.teams_tenant_id)
        return resource.id, service_url

    async def _files(self, item: OutboxMessage) -> dict:
        """A bot cannot attach files in a Teams channel without SharePoint and Microsoft Graph: the documents
        are links to lisbot itself, in a card answering the message they belong to."""
        if not self.links.available:
            raise PermanentFailure("Teams: LISBOT_PUBLIC_URL is not set, so documents cannot be linked; "
                                   "see README, Connect to Teams")
        parent = await sent_before(self.db, item, "thread_of", "the message the files belong to")
        result: dict[str, Any] = parent.result or {}
        if result.get("platform") != PLATFORM:
            raise PermanentFailure("the message the files belong to was not sent to Teams")
        lang = await self._language(item)
        card = await self._documents_card(item, lang, self.clock.now())
        activity = MessageActivityInput(summary=cards.plain(item.payload.get("comment") or "")[:250]).add_card(card)
        conversation_id = result["conversation_id"]
        if item.recipient_kind == "channel":
            conversation_id = f"{conversation_id};messageid={result['activity_id']}"  # in the post's thread
        try:
            sent = await self.api.from_service_url(result["service_url"]).conversations.reply_to_activity(
                conversation_id, result["activity_id"], activity)
        except httpx.HTTPError as exc:
            raise self._classified(exc) from exc
        return {"platform": PLATFORM, "conversation_id": conversation_id, "activity_id": sent.id,
                "service_url": result["service_url"]}

    async def _documents_card(self, item: OutboxMessage, lang: str, now: datetime) -> AdaptiveCard:
        t = lambda key, **kw: self.texts.t(lang, key, **kw)  # noqa: E731
        body, actions, expires = [], [], None
        if item.payload.get("comment"):
            body.append(TextBlock(text=cards.markdown(item.payload["comment"]), wrap=True))
        async with self.db.transaction() as session:
            for spec in item.payload["files"]:
                review = await session.get(Review, spec["review_id"])
                content = getattr(review, spec["format"], None) if review else None
                if content is None:
                    raise PermanentFailure("the document to link does not exist")
                url, expires = self.links.review_link(review.id, spec["format"], spec["filename"], content, now)
                body.append(TextBlock(text=cards.markdown(t("teams.documents.file", name=spec["filename"],
                                                            size=size_text(self.texts, lang, len(content)))),
                                      wrap=True, spacing="Small"))
                actions.append(OpenUrlAction(title=cards.plain(t("teams.documents.open", name=spec["filename"]))[:60],
                                             url=url))
        if expires is not None:
            body.append(TextBlock(text=cards.markdown(t("teams.documents.valid_until", at=format_datetime(
                expires, self.settings.timezone))), size="Small", is_subtle=True, wrap=True))
        return cards.card(body, actions)

    async def _language(self, item: OutboxMessage) -> str:
        if item.recipient_kind != "person":
            return self.settings.language
        async with self.db.transaction() as session:
            person = await session.get(Person, int(item.recipient))
        return language_of(person.locale if person else None, self.settings.language)

    async def _update(self, item: OutboxMessage, activity: MessageActivityInput) -> dict:
        original = await sent_before(self.db, item, "update_of", "the message to update")
        result: dict[str, Any] = original.result or {}
        if result.get("platform") != PLATFORM:
            raise PermanentFailure("the message to update was not sent to Teams")
        try:
            await self.api.from_service_url(result["service_url"]).conversations.update_activity(
                result["conversation_id"], result["activity_id"], activity)
        except httpx.HTTPError as exc:
            raise self._classified(exc) from exc
        return result

    def _classified(self, exc: httpx.HTTPError) -> Exception:
        """The connector's answer as the outbox understands it: slow down, give up, or try again."""
        if not isinstance(exc, httpx.HTTPStatusError):
            return exc  # timeouts and connection errors: another try
        status = exc.response.status_code
        if status == 429:
            return RetryLater(retry_after(exc.response.headers), "Teams: rate limited (429)")
        if status == 401:
            self.token.forget()
            return exc
        if status in PERMANENT:
            return PermanentFailure(f"Teams: the Bot Connector refused the message ({status})")
        return exc


def retry_after(headers: httpx.Headers, default: float = 30.0) -> float:
    try:
        return max(float(headers.get("retry-after", default)), 1.0)
    except (TypeError, ValueError):
        return default
