"""Information assets, their KLASSA classifications (history: rows are only ever added), action plans,
continuity plans, and the rounds that ask object owners about them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ActionItem, Asset, Classification, ClassificationRound, ContinuityPlan, Department, OutboxMessage, Person,
    RoundRequest,
)

# pg_advisory_xact_lock(class, org id): imports, round starts and the scheduled round of one organisation take
# turns, so an asset is never asked about in two rounds at once.
ASSET_LOCK_CLASS = 0x11590B09 & 0x7FFFFFFF
OPEN_ACTION_STATUSES = ("not_started", "in_progress")
ACTION_STATUSES = ("not_started", "in_progress", "done", "risk_accepted")
CHUNK = 500


async def lock_assets(session: AsyncSession, org_id: int) -> None:
    """Serialise writers of one organisation's register (PostgreSQL; SQLite serialises writers anyway)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": ASSET_LOCK_CLASS, "o": org_id})


# ---- assets -----------------------------------------------------------------------------------


async def org_ids_with_assets(session: AsyncSession) -> list[int]:
    return list((await session.execute(
        select(Asset.org_id).where(Asset.active.is_(True)).distinct().order_by(Asset.org_id))).scalars())


async def assets_of(session: AsyncSession, org_id: int, *, active: bool | None = True,
                    owner_id: int | None = None) -> list[Asset]:
    query = select(Asset).where(Asset.org_id == org_id)
    if active is not None:
        query = query.where(Asset.active.is_(active))
    if owner_id is not None:
        query = query.where(Asset.owner_id == owner_id)
    return list((await session.execute(query.order_by(func.lower(Asset.name), Asset.id))).scalars())


async def assets_with_ids(session: AsyncSession, org_id: int, ids: Iterable[int], *, active: bool | None = True
                          ) -> list[Asset]:
    found: list[Asset] = []
    for chunk in _chunks(ids):
        query = select(Asset).where(Asset.org_id == org_id, Asset.id.in_(chunk))
        if active is not None:
            query = query.where(Asset.active.is_(active))
        found += (await session.execute(query)).scalars()
    return found


async def get_asset(session: AsyncSession, org_id: int, asset_id: int) -> Asset | None:
    return (await session.execute(select(Asset).where(Asset.org_id == org_id, Asset.id == asset_id))
            ).scalar_one_or_none()


async def asset_named(session: AsyncSession, org_id: int, name: str) -> Asset | None:
    """Names are unique per organisation, compared without regard to case."""
    return (await session.execute(select(Asset).where(
        Asset.org_id == org_id, func.lower(Asset.name) == name.strip().lower()))).scalars().first()


async def search_assets(session: AsyncSession, org_id: int, words: str, *, owner_id: int | None = None,
                        limit: int = 30) -> list[Asset]:
    query = select(Asset).where(Asset.org_id == org_id)
    for word in words.split():
        query = query.where(func.lower(Asset.name).contains(word.lower(), autoescape=True))
    if owner_id is not None:
        query = query.where(Asset.owner_id == owner_id)
    return list((await session.execute(query.order_by(Asset.active.desc(), func.lower(Asset.name)).limit(limit)))
                .scalars())


async def people_by_ids(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Person]:
    found: dict[int, Person] = {}
    for chunk in _chunks(i for i in ids if i is not None):
        for person in (await session.execute(select(Person).where(Person.id.in_(chunk)))).scalars():
            found[person.id] = person
    return found


async def department_names(session: AsyncSession, org_id: int) -> dict[int, str]:
    rows = await session.execute(select(Department.id, Department.name).where(Department.org_id == org_id))
    return {dep_id: name for dep_id, name in rows}


# ---- classifications, action plans, continuity ---------------------------------------------------


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


async def classifications_of(session: AsyncSession, asset_ids: Iterable[int]) -> dict[int, list[Classification]]:
    """Every classification per asset, oldest first (by date, then by when it was recorded)."""
    found: dict[int, list[Classification]] = defaultdict(list)
    for chunk in _chunks(asset_ids):
        rows = await session.execute(select(Classification).where(Classification.asset_id.in_(chunk))
                                     .order_by(Classification.asset_id, Classification.classified_on, Classification.id))
        for row in rows.scalars():
            found[row.asset_id].append(row)
    return found


async def latest_classifications(session: AsyncSession, asset_ids: Iterable[int]) -> dict[int, Classification]:
    return {asset_id: rows[-1] for asset_id, rows in (await classifications_of(session, asset_ids)).items()}


async def history(session: AsyncSession, asset_id: int) -> list[Classification]:
    """Newest first."""
    return list(reversed((await classifications_of(session, [asset_id])).get(asset_id, [])))


async def add_classification(session: AsyncSession, asset: Asset, *, confidentiality: int, integrity: int,
                             availability: int, classified_on: date, next_review: date, classified_by: int | None,
                             method: str | None, method_version: str | None, source: str, round_id: int | None,
                             now: datetime) -> Classification:
    """A new row; the earlier ones stay as they are. The asset's next review follows its latest classification."""
    row = Classification(asset_id=asset.id, confidentiality=confidentiality, integrity=integrity,
                         availability=availability, classified_on=classified_on, classified_by=classified_by,
                         method=method, method_version=method_version, next_review=next_review, source=source,
                         round_id=round_id, created_at=now)
    session.add(row)
    await session.flush()
    latest = (await latest_classifications(session, [asset.id]))[asset.id]
    asset.next_review = latest.next_review
    asset.updated_at = now
    return row


async def action_items_of(session: AsyncSession, asset_ids: Iterable[int]) -> dict[int, list[ActionItem]]:
    found: dict[int, list[ActionItem]] = defaultdict(list)
    for chunk in _chunks(asset_ids):
        rows = await session.execute(select(ActionItem).where(ActionItem.asset_id.in_(chunk))
                                     .order_by(ActionItem.asset_id, ActionItem.id))
        for row in rows.scalars():
            found[row.asset_id].append(row)
    return found


async def continuity_plans_of(session: AsyncSession, asset_ids: Iterable[int]) -> dict[int, ContinuityPlan]:
    found: dict[int, ContinuityPlan] = {}
    for chunk in _chunks(asset_ids):
        for row in (await session.execute(select(ContinuityPlan).where(ContinuityPlan.asset_id.in_(chunk)))).scalars():
            found[row.asset_id] = row
    return found


async def set_continuity(session: AsyncSession, asset_id: int, *, has_plan: bool, last_exercised: date | None,
                         next_exercise_due: date | None, now: datetime) -> ContinuityPlan:
    plan = await session.get(ContinuityPlan, asset_id)
    if plan is None:
        plan = ContinuityPlan(asset_id=asset_id, has_plan=has_plan, last_exercised=last_exercised,
                              next_exercise_due=next_exercise_due, updated_at=now)
        session.add(plan)
    else:
        plan.has_plan, plan.last_exercised, plan.next_exercise_due = has_plan, last_exercised, next_exercise_due
        plan.updated_at = now
    return plan


# ---- rounds ---------------------------------------------------------------------------------------


async def create_round(session: AsyncSession, org_id: int, *, kind: str, due: date, started_by: int | None,
                       now: datetime) -> ClassificationRound:
    row = ClassificationRound(org_id=org_id, kind=kind, due=due, started_at=now, started_by=started_by)
    session.add(row)
    await session.flush()
    return row


async def open_requests(session: AsyncSession, org_id: int, asset_ids: Iterable[int] | None = None
                        ) -> list[RoundRequest]:
    """Requests not yet answered, oldest round first."""
    query = (select(RoundRequest).join(ClassificationRound, ClassificationRound.id == RoundRequest.round_id)
             .where(ClassificationRound.org_id == org_id, RoundRequest.answered_at.is_(None)))
    if asset_ids is not None:
        ids = sorted(set(asset_ids))
        if not ids:
            return []
        query = query.where(RoundRequest.asset_id.in_(ids))
    return list((await session.execute(query.order_by(RoundRequest.round_id, RoundRequest.id))).scalars())


async def requests_of(session: AsyncSession, round_id: int, owner_id: int | None = None) -> list[RoundRequest]:
    query = select(RoundRequest).where(RoundRequest.round_id == round_id)
    if owner_id is not None:
        query = query.where(RoundRequest.owner_id == owner_id)
    return list((await session.execute(query.order_by(RoundRequest.id))).scalars())


async def due_requests(session: AsyncSession, now: datetime) -> list[RoundRequest]:
    """Unanswered requests whose next reminder (or escalation) is due, by round and owner."""
    return list((await session.execute(select(RoundRequest).where(
        RoundRequest.answered_at.is_(None), RoundRequest.next_reminder_at.is_not(None),
        RoundRequest.next_reminder_at <= now).order_by(RoundRequest.round_id, RoundRequest.owner_id,
                                                       RoundRequest.id))).scalars())


async def rounds_of(session: AsyncSession, org_id: int, *, since: datetime | None = None) -> list[ClassificationRound]:
    query = select(ClassificationRound).where(ClassificationRound.org_id == org_id)
    if since is not None:
        query = query.where(ClassificationRound.started_at >= since)
    return list((await session.execute(query.order_by(ClassificationRound.id))).scalars())


async def rounds_with_ids(session: AsyncSession, ids: Iterable[int]) -> list[ClassificationRound]:
    found: list[ClassificationRound] = []
    for chunk in _chunks(ids):
        found += (await session.execute(select(ClassificationRound).where(ClassificationRound.id.in_(chunk)))).scalars()
    return found


async def requests_of_rounds(session: AsyncSession, round_ids: Iterable[int]) -> list[RoundRequest]:
    found: list[RoundRequest] = []
    for chunk in _chunks(round_ids):
        found += (await session.execute(select(RoundRequest).where(RoundRequest.round_id.in_(chunk))
                                        .order_by(RoundRequest.id))).scalars()
    return found


async def outbox_status(session: AsyncSession, org_id: int, dedupe_key: str) -> str | None:
    return (await session.execute(select(OutboxMessage.status).where(
        OutboxMessage.org_id == org_id, OutboxMessage.dedupe_key == dedupe_key))).scalar_one_or_none()
