"""The asset register as columns for `handlers.coverage.coverage`: a fixed number of statements whatever the
size of the register (no id lists, no ORM objects), the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Row, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.assets import OPEN_ACTION_STATUSES
from storage.models import (
    ActionItem, Asset, Classification, ClassificationRound, ContinuityPlan, Person, RoundRequest,
)


def _active(org_id: int):
    return Asset.org_id == org_id, Asset.active.is_(True)


async def register(session: AsyncSession, org_id: int) -> list[Row]:
    """One row per active asset: its own columns, its latest classification (`classified` false and the levels
    None when it has none), its continuity plan (`has_plan` None without one) and whether its owner can be
    reached (`owner_found`, `active`, `slack_user_id`, `teams_user_id`). One statement."""
    newest_first = func.row_number().over(partition_by=Classification.asset_id,
                                          order_by=(Classification.classified_on.desc(), Classification.id.desc()))
    ranked = (select(Classification.asset_id, Classification.confidentiality, Classification.integrity,
                     Classification.availability, Classification.next_review, newest_first.label("rn"))
              .join(Asset, Asset.id == Classification.asset_id).where(*_active(org_id)).subquery())
    latest = select(ranked).where(ranked.c.rn == 1).subquery()
    rows = await (await session.connection()).execute(  # Core rows: the ORM's per-row work is a third of the time
        select(Asset.id, Asset.department_id, Asset.owner_id, Asset.personal_data, Asset.special_categories,
               Asset.ropa_reference, Asset.continuity_relevant,
               latest.c.asset_id.is_not(None).label("classified"), latest.c.confidentiality, latest.c.integrity,
               latest.c.availability, latest.c.next_review,
               ContinuityPlan.has_plan, ContinuityPlan.last_exercised,
               Person.id.is_not(None).label("owner_found"), Person.active, Person.slack_user_id, Person.teams_user_id)
        .outerjoin(latest, latest.c.asset_id == Asset.id)
        .outerjoin(ContinuityPlan, ContinuityPlan.asset_id == Asset.id)
        .outerjoin(Person, Person.id == Asset.owner_id)
        .where(*_active(org_id)))
    return list(rows)


async def action_counts(session: AsyncSession, org_id: int, today: date) -> list[tuple[str, int, int]]:
    """(status, action items of active assets, of which open and past their due date). One statement."""
    late = case((and_(ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.due < today), 1), else_=0)
    rows = await session.execute(
        select(ActionItem.status, func.count(), func.coalesce(func.sum(late), 0))
        .join(Asset, Asset.id == ActionItem.asset_id).where(*_active(org_id)).group_by(ActionItem.status))
    return [(status, n, int(overdue)) for status, n, overdue in rows]


async def round_count(session: AsyncSession, org_id: int, since: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(ClassificationRound).where(
        ClassificationRound.org_id == org_id, ClassificationRound.started_at >= since))).scalar_one()


async def round_answers(session: AsyncSession, org_id: int, since: datetime) -> list[tuple[datetime | None, date]]:
    """(answered at, the round's due date) for every request in the rounds started since `since`."""
    rows = await (await session.connection()).execute(
        select(RoundRequest.answered_at, ClassificationRound.due)
        .join(ClassificationRound, ClassificationRound.id == RoundRequest.round_id)
        .where(ClassificationRound.org_id == org_id, ClassificationRound.started_at >= since))
    return [(answered_at, due) for answered_at, due in rows]
