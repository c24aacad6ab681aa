"""Queueing messages to people and channels through the outbox, in the recipient's language."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import language_of
from bot.model import Button, Buttons, Message, Text
from handlers.access import DPO
from handlers.calendar import next_working_time
from handlers.incident_views import SHOW_ACTION, gdpr_deadline
from handlers.services import Services
from storage.directory import people_with_role
from storage.models import Incident, Person
from storage.outbox import enqueue


async def to_person(session: AsyncSession, svc: Services, person: Person, key: str,
                    build: Callable[[str, str], Message], *, working_hours: bool = False,
                    now: datetime | None = None) -> bool:
    """Queue `build(lang, tz)` for `person` once per `key`. With working_hours, it waits for their working day."""
    now = now or svc.clock.now()
    lang = language_of(person.locale, svc.org_lang)
    tz = person.tz or svc.settings.timezone
    not_before = next_working_time(now, tz) if working_hours else now
    return await enqueue(session, org_id=person.org_id, dedupe_key=key, recipient_kind="person",
                         recipient=str(person.id), payload={"message": build(lang, tz).to_dict()}, now=now,
                         not_before=not_before)


async def to_channel(session: AsyncSession, svc: Services, org_id: int, channel: str | None, key: str,
                     message: Message, *, update_of: str | None = None) -> bool:
    """Queue a channel message; with `update_of`, it replaces the message sent under that key instead."""
    queued = channel_message(org_id, channel, key, message, update_of=update_of)
    if queued is None:
        return False
    return await enqueue(session, **queued, now=svc.clock.now())


def channel_message(org_id: int, channel: str | None, key: str, message: Message, *,
                    update_of: str | None = None) -> dict | None:
    """An outbox row for a channel (for `enqueue`/`enqueue_many`); None when no channel is configured."""
    if not channel:
        return None
    payload = {"message": message.to_dict()}
    if update_of:
        payload["update_of"] = update_of
    return {"org_id": org_id, "dedupe_key": key, "recipient_kind": "channel", "recipient": channel, "payload": payload}


def person_message(org_id: int, person_id: int, key: str, message: Message) -> dict:
    """An outbox row for one person, to be delivered at once (for `enqueue`/`enqueue_many`)."""
    return {"org_id": org_id, "dedupe_key": key, "recipient_kind": "person", "recipient": str(person_id),
            "payload": {"message": message.to_dict()}}


async def inform_dpos(session, svc: Services, incident: Incident) -> None:
    """The data-protection officer hears of every personal-data incident, whoever handles it."""
    for dpo in await people_with_role(session, incident.org_id, DPO):
        def build(lang: str, tz: str) -> Message:
            t = svc.texts.t
            return Message(t(lang, "followup.dpo.summary", reference=incident.reference),
                           (Text(t(lang, "followup.dpo.text", reference=incident.reference,
                                   deadline=gdpr_deadline(incident), tz=tz)),
                            Buttons((Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(incident.id),
                                            "primary"),))))
        await to_person(session, svc, dpo, f"incident:{incident.id}:dpo:{dpo.id}", build)
