"""Aggregates for the management review. Each is one query whatever the amount of data, and none
returns a person's name: the review is a public document."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BreachRecord, Department, Incident, IncidentKind, PlanActivity, Review, ReviewDecision, TrainingAssignment,
    TrainingCampaign,
)


def _year_of(session: AsyncSession, column):
    """The calendar year of a UTC timestamp (SQLite answers with text; callers convert)."""
    if session.bind.dialect.name == "sqlite":
        return func.strftime("%Y", column)
    return func.extract("year", column)


def _month_of(session: AsyncSession, column):
    if session.bind.dialect.name == "sqlite":
        return func.strftime("%m", column)
    return func.extract("month", column)


async def incidents_per_year_and_kind(session: AsyncSession, org_id: int, since: datetime,
                                      until: datetime) -> list[tuple[int, str, int]]:
    year = _year_of(session, Incident.reported_at)
    rows = await session.execute(
        select(year, IncidentKind.kind, func.count()).join(IncidentKind, IncidentKind.incident_id == Incident.id)
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until,
               Incident.status != "not_incident")
        .group_by(year, IncidentKind.kind))
    return [(int(y), kind, n) for y, kind, n in rows]


async def incidents_per_month_and_kind(session: AsyncSession, org_id: int, since: datetime,
                                       until: datetime) -> list[tuple[int, str, int]]:
    month = _month_of(session, Incident.reported_at)
    rows = await session.execute(
        select(month, IncidentKind.kind, func.count()).join(IncidentKind, IncidentKind.incident_id == Incident.id)
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until,
               Incident.status != "not_incident")
        .group_by(month, IncidentKind.kind))
    return [(int(m), kind, n) for m, kind, n in rows]


async def incidents_by_status_and_severity(session: AsyncSession, org_id: int, since: datetime,
                                           until: datetime) -> list[tuple[str, int | None, int]]:
    rows = await session.execute(
        select(Incident.status, Incident.severity, func.count())
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until)
        .group_by(Incident.status, Incident.severity))
    return [(status, severity, n) for status, severity, n in rows]


async def personal_data_clocks(session: AsyncSession, org_id: int, since: datetime,
                               until: datetime) -> list[tuple[datetime, str | None, datetime | None, datetime | None, str]]:
    """For each personal-data incident: discovered, IMY decision, decided, notified, status. One query."""
    personal = select(IncidentKind.incident_id).where(IncidentKind.kind == "personal_data")
    rows = await session.execute(
        select(Incident.discovered_at, BreachRecord.notify_imy, BreachRecord.decided_at, BreachRecord.notified_at,
               Incident.status)
        .outerjoin(BreachRecord, BreachRecord.incident_id == Incident.id)
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until,
               Incident.status != "not_incident",
               (Incident.id.in_(personal)) | (Incident.personal_data.in_(("yes", "unknown")))))
    return [tuple(r) for r in rows]


async def work_environment_serious(session: AsyncSession, org_id: int, since: datetime,
                                   until: datetime) -> tuple[int, int]:
    """(serious work-environment cases, of which reported to Arbetsmiljöverket)."""
    serious = (Incident.serious_work_env.is_(True)) | (Incident.serious_work_env.is_(None) & (Incident.injury == "injured"))
    work = select(IncidentKind.incident_id).where(IncidentKind.kind == "work_env")
    row = (await session.execute(
        select(func.count(), func.count(Incident.awv_reported_at))
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until,
               Incident.id.in_(work), serious))).one()
    return row[0], row[1]


async def lessons_learned(session: AsyncSession, org_id: int, since: datetime, until: datetime,
                          limit: int = 30) -> list[str]:
    rows = await session.execute(
        select(Incident.lessons).where(Incident.org_id == org_id, Incident.closed_at >= since,
                                       Incident.closed_at < until, Incident.lessons.is_not(None))
        .order_by(Incident.closed_at).limit(limit))
    return [text for (text,) in rows if text and text.strip()]


async def training_by_department(session: AsyncSession, org_id: int, year: int) -> list[tuple[str | None, str, int]]:
    rows = await session.execute(
        select(Department.name, TrainingAssignment.status, func.count())
        .select_from(TrainingAssignment)
        .join(TrainingCampaign, TrainingCampaign.id == TrainingAssignment.campaign_id)
        .outerjoin(Department, Department.id == TrainingAssignment.department_id)
        .where(TrainingCampaign.org_id == org_id, TrainingCampaign.year == year)
        .group_by(Department.name, TrainingAssignment.status))
    return [(name, status, n) for name, status, n in rows]


async def training_campaign(session: AsyncSession, org_id: int, year: int) -> TrainingCampaign | None:
    return (await session.execute(select(TrainingCampaign).where(
        TrainingCampaign.org_id == org_id, TrainingCampaign.year == year))).scalar_one_or_none()


async def earlier_decisions(session: AsyncSession, org_id: int, year: int) -> list[tuple[str, str | None, object, str | None]]:
    """Decisions recorded on earlier published reviews, with the status of the activity each became."""
    rows = await session.execute(
        select(ReviewDecision.decision, ReviewDecision.owner, ReviewDecision.due, PlanActivity.status)
        .join(Review, Review.id == ReviewDecision.review_id)
        .outerjoin(PlanActivity, PlanActivity.decision_id == ReviewDecision.id)
        .where(ReviewDecision.org_id == org_id, Review.year < year, Review.status == "published")
        .order_by(ReviewDecision.id))
    return [tuple(r) for r in rows]
