"""The persistent queue of messages to deliver. Rows are written with the facts they announce, so a
crash, a restart or Slack being down loses nothing; the dedupe key means a retry adds nothing."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage
from storage.upsert import insert_ignore

LEASE = timedelta(seconds=60)


async def enqueue(session: AsyncSession, *, org_id: int, dedupe_key: str, recipient_kind: str, recipient: str,
                  payload: dict[str, Any], now: datetime, not_before: datetime | None = None) -> bool:
    """Queue a message unless one with this key was queued before. True when queued now."""
    return await insert_ignore(session, OutboxMessage, {
        "org_id": org_id, "dedupe_key": dedupe_key, "recipient_kind": recipient_kind, "recipient": recipient,
        "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": not_before or now,
        "created_at": now,
    }, ["org_id", "dedupe_key"])


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """Lease due messages to this process. A lease that expires (a crashed sender) frees the row again."""
    free = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
    candidates = (await session.execute(
        select(OutboxMessage.id).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now, free)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    )).scalars().all()
    if not candidates:
        return []
    # Compare-and-set with a token only this claim uses: with several replicas each row goes to one.
    token = now + LEASE + timedelta(microseconds=secrets.randbelow(1_000_000))
    await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(candidates), OutboxMessage.status == "pending",
                                                      free).values(lease_until=token))
    return list((await session.execute(
        select(OutboxMessage).where(OutboxMessage.id.in_(candidates), OutboxMessage.lease_until == token)
        .order_by(OutboxMessage.id)
    )).scalars())


async def mark_sent(session: AsyncSession, message_id: int, now: datetime, result: dict[str, Any]) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status="sent", sent_at=now, result=result, lease_until=None, attempts=OutboxMessage.attempts + 1))


async def reschedule(session: AsyncSession, message_id: int, at: datetime, error: str, *, count_attempt: bool) -> None:
    values: dict[str, Any] = {"next_attempt_at": at, "lease_until": None, "last_error": error[:500]}
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))


async def mark_failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status="failed", lease_until=None, last_error=error[:500], attempts=OutboxMessage.attempts + 1))


async def pending_count(session: AsyncSession) -> int:
    return (await session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending"))).scalar_one()


async def sent_message(session: AsyncSession, org_id: int, dedupe_key: str) -> OutboxMessage | None:
    return (await session.execute(select(OutboxMessage).where(
        OutboxMessage.org_id == org_id, OutboxMessage.dedupe_key == dedupe_key))).scalar_one_or_none()
