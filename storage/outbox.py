"""The persistent queue of messages to deliver. Rows are written with the facts they announce, so a
crash, a restart or Slack being down loses nothing; the dedupe key means a retry adds nothing."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage
from storage.upsert import insert_ignore, insert_ignore_many

# Long enough to send a claimed batch (about a second's worth) through a short rate-limit pause; short, so
# the rows a killed process held come free soon after it died.
LEASE = timedelta(seconds=30)


async def enqueue(session: AsyncSession, *, org_id: int, dedupe_key: str, recipient_kind: str, recipient: str,
                  payload: dict[str, Any], now: datetime, not_before: datetime | None = None) -> bool:
    """Queue a message unless one with this key was queued before. True when queued now."""
    return await insert_ignore(session, OutboxMessage, {
        "org_id": org_id, "dedupe_key": dedupe_key, "recipient_kind": recipient_kind, "recipient": recipient,
        "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": not_before or now,
        "created_at": now,
    }, ["org_id", "dedupe_key"])


async def enqueue_many(session: AsyncSession, messages: list[dict[str, Any]], now: datetime) -> None:
    """`enqueue` for many messages — a report's receipt and notice, or a campaign's thousands — in one
    executemany; each dict has org_id, dedupe_key, recipient_kind, recipient and payload (and may have
    not_before)."""
    await insert_ignore_many(session, OutboxMessage, [_row(m, now) for m in messages], ["org_id", "dedupe_key"])


def _row(message: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"org_id": message["org_id"], "dedupe_key": message["dedupe_key"],
            "recipient_kind": message["recipient_kind"], "recipient": message["recipient"],
            "payload": message["payload"], "status": "pending", "attempts": 0,
            "next_attempt_at": message.get("not_before") or now, "created_at": now}


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


async def mark_attempted(session: AsyncSession, message_ids: list[int], now: datetime) -> None:
    """Say, before sending, that these messages may be sent from now on: a claim that finds the mark set
    asks the platform whether the message got there before sending it again. An earlier mark is kept, so
    the look-up starts from the first attempt."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                      OutboxMessage.attempted_at.is_(None)).values(attempted_at=now))


async def mark_sent(session: AsyncSession, message_id: int, now: datetime, result: dict[str, Any]) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status="sent", sent_at=now, result=result, lease_until=None, attempted_at=None,
        attempts=OutboxMessage.attempts + 1))


async def reschedule(session: AsyncSession, message_id: int, at: datetime, error: str, *, count_attempt: bool,
                     clear_attempt: bool = False) -> None:
    """Due again at `at`. `clear_attempt`: the platform certainly did not get it (a 429, or never sent)."""
    values: dict[str, Any] = {"next_attempt_at": at, "lease_until": None, "last_error": error[:500]}
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    if clear_attempt:
        values["attempted_at"] = None
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))


async def mark_failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status="failed", lease_until=None, attempted_at=None, last_error=error[:500],
        attempts=OutboxMessage.attempts + 1))


async def pending_count(session: AsyncSession) -> int:
    return (await session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending"))).scalar_one()


async def sent_message(session: AsyncSession, org_id: int, dedupe_key: str) -> OutboxMessage | None:
    return (await session.execute(select(OutboxMessage).where(
        OutboxMessage.org_id == org_id, OutboxMessage.dedupe_key == dedupe_key))).scalar_one_or_none()


async def release(session: AsyncSession, message_id: int, *, clear_attempt: bool = False) -> None:
    """Give a leased message back: due as before, free for any sender now. `clear_attempt`: it was never
    handed to the platform since it was marked attempted."""
    values: dict[str, Any] = {"lease_until": None}
    if clear_attempt:
        values["attempted_at"] = None
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))


async def record(session: AsyncSession, outcomes: list[tuple[Any, tuple, dict]]) -> None:
    """Write a sender's outcomes, each (function of this module, args, kwargs), in one transaction; messages
    marked sent go in one executemany, since a campaign marks thousands."""
    sent = [args for update_, args, _ in outcomes if update_ is mark_sent]
    if sent:
        table = OutboxMessage.__table__
        await session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                status="sent", sent_at=bindparam("b_sent_at", type_=table.c.sent_at.type),
                result=bindparam("b_result", type_=table.c.result.type), lease_until=None, attempted_at=None,
                attempts=table.c.attempts + 1),
            [{"b_id": message_id, "b_sent_at": now, "b_result": result} for message_id, now, result in sent])
    for update_, args, kwargs in outcomes:
        if update_ is not mark_sent:
            await update_(session, *args, **kwargs)
