"""Aggregates for the management review. Each is one query whatever the amount of data, and none
returns a person's name: the review is a public document."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Interval, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BreachRecord, Department, Incident, IncidentKind, PlanActivity, Review, ReviewDecision, TrainingAssignment,
    TrainingCampaign,
)


def month_starts(first_year: int, last_year: int, zone: ZoneInfo) -> list[datetime]:
    """The instants (UTC) at which each local calendar month from January of `first_year` begins, and the one
    after December of `last_year`: 12 × years + 1 bounds. Local, so a report at 00:30 on the 1st in Stockholm
    (22:30 or 23:30 UTC the day before, depending on summer time) counts in the month it was made in."""
    return [datetime(y, m, 1, tzinfo=zone).astimezone(timezone.utc)
            for y in range(first_year, last_year + 1) for m in range(1, 13)] + [
        datetime(last_year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc)]


def _bucket(column, bounds: list[datetime], low: int = 0, high: int | None = None):
    """The index i of the interval [bounds[i], bounds[i + 1]) the timestamp falls in (the caller filters out rows
    outside all of them), as CASEs nested by halves: 6 comparisons a row for 36 months, not up to 35. Plain
    comparisons, so SQLite and PostgreSQL count alike."""
    high = len(bounds) - 1 if high is None else high
    if high - low == 1:
        return literal(low)
    middle = (low + high) // 2
    return case((column < bounds[middle], _bucket(column, bounds, low, middle)),
                else_=_bucket(column, bounds, middle, high))


async def incidents_per_month_and_kind(session: AsyncSession, org_id: int,
                                       bounds: list[datetime]) -> list[tuple[int, str, int]]:
    """(month index into `bounds`, kind, incidents) for the incidents reported between the first and the last
    bound, except those that turned out not to be incidents. One statement for any number of months."""
    inner = (select(_bucket(Incident.reported_at, bounds).label("month"), IncidentKind.kind)
             .join(IncidentKind, IncidentKind.incident_id == Incident.id)
             .where(Incident.org_id == org_id, Incident.reported_at >= bounds[0], Incident.reported_at < bounds[-1],
                    Incident.status != "not_incident").subquery())
    # Grouped outside: PostgreSQL cannot tell that a CASE with bound parameters in GROUP BY is the selected one.
    rows = await session.execute(select(inner.c.month, inner.c.kind, func.count())
                                 .group_by(inner.c.month, inner.c.kind))
    return [(int(m), kind, n) for m, kind, n in rows]


async def incidents_by_status_and_severity(session: AsyncSession, org_id: int, since: datetime,
                                           until: datetime) -> list[tuple[str, int | None, int]]:
    rows = await session.execute(
        select(Incident.status, Incident.severity, func.count())
        .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until)
        .group_by(Incident.status, Incident.severity))
    return [(status, severity, n) for status, severity, n in rows]


def _within_hours(session: AsyncSession, later, earlier, hours: int):
    """later <= earlier + hours. SQLite keeps timestamps as text and compares them via julianday, to the
    millisecond (its own resolution); PostgreSQL adds an interval."""
    if session.bind.dialect.name == "sqlite":
        return func.julianday(later) <= func.julianday(earlier, f"+{int(hours)} hours")
    return later <= earlier + literal(timedelta(hours=hours), Interval())


async def personal_data_timeliness(session: AsyncSession, org_id: int, since: datetime, until: datetime,
                                   now: datetime, hours: int) -> dict[str, int]:
    """The personal-data incidents reported in the period, by where they stand against the `hours` clock (GDPR
    art. 33: 72 h from discovery to notifying IMY, or to deciding not to): on_time / late (settled), or, still
    unsettled, closed_undecided, overdue_open (the clock has run out) or running. One statement."""
    personal = select(IncidentKind.incident_id).where(IncidentKind.kind == "personal_data")
    settled = case((BreachRecord.notified_at.is_not(None), BreachRecord.notified_at),
                   (BreachRecord.notify_imy == "no", BreachRecord.decided_at))
    state = case((settled.is_(None) & (Incident.status == "closed"), "closed_undecided"),
                 (settled.is_(None) & (Incident.discovered_at < now - timedelta(hours=hours)), "overdue_open"),
                 (settled.is_(None), "running"),
                 (_within_hours(session, settled, Incident.discovered_at, hours), "on_time"),
                 else_="late")
    inner = (select(state.label("state")).outerjoin(BreachRecord, BreachRecord.incident_id == Incident.id)
             .where(Incident.org_id == org_id, Incident.reported_at >= since, Incident.reported_at < until,
                    Incident.status != "not_incident",
                    Incident.id.in_(personal) | Incident.personal_data.in_(("yes", "unknown"))).subquery())
    rows = await session.execute(select(inner.c.state, func.count()).group_by(inner.c.state))
    return {state: n for state, n in rows}


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


async def training_by_department(session: AsyncSession, org_id: int,
                                 years: tuple[int, ...]) -> list[tuple[int, str | None, str, int]]:
    """(campaign year, department, status, assignments) for the campaigns of `years`. One statement."""
    rows = await session.execute(
        select(TrainingCampaign.year, Department.name, TrainingAssignment.status, func.count())
        .select_from(TrainingAssignment)
        .join(TrainingCampaign, TrainingCampaign.id == TrainingAssignment.campaign_id)
        .outerjoin(Department, Department.id == TrainingAssignment.department_id)
        .where(TrainingCampaign.org_id == org_id, TrainingCampaign.year.in_(years))
        .group_by(TrainingCampaign.year, Department.name, TrainingAssignment.status))
    return [(year, name, status, n) for year, name, status, n in rows]


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
