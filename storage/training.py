"""Training campaigns: the year's audience, each person's answer, and the evidence of completion."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Department, Organisation, Person, TrainingAssignment, TrainingCampaign, TrainingCompletion

OPEN = ("pending", "not_yet")  # still to answer
DONE = "done"
EXEMPT = "exempt"


async def campaign_for(session: AsyncSession, org_id: int, year: int) -> TrainingCampaign | None:
    return (await session.execute(select(TrainingCampaign).where(
        TrainingCampaign.org_id == org_id, TrainingCampaign.year == year))).scalar_one_or_none()


async def organisations_without_campaign(session: AsyncSession, year: int) -> list[int]:
    started = select(TrainingCampaign.org_id).where(TrainingCampaign.year == year)
    return list((await session.execute(select(Organisation.id).where(Organisation.id.not_in(started))
                                       .order_by(Organisation.id))).scalars())


async def active_campaigns(session: AsyncSession) -> list[TrainingCampaign]:
    return list((await session.execute(select(TrainingCampaign).where(TrainingCampaign.status == "active")
                                       .order_by(TrainingCampaign.id))).scalars())


async def _audience_query(session: AsyncSession, org_id: int):
    """Every active employee and consultant. Once an HR file is in, it decides who they are; before
    that, every active person the chat platform knows."""
    hr_known = (await session.execute(select(Person.id).where(
        Person.org_id == org_id, Person.in_hr_file.is_(True)).limit(1))).first() is not None
    query = select(Person).where(Person.org_id == org_id, Person.active.is_(True))
    on_chat = or_(Person.slack_user_id.is_not(None), Person.teams_user_id.is_not(None))
    return query.where(Person.in_hr_file.is_(True)) if hr_known else query.where(on_chat)


async def audience(session: AsyncSession, org_id: int) -> list:
    """(id, department_id, start_date) of each audience member: a city's 50,000 people load in a moment as
    rows, where whole Person objects take seconds."""
    query = (await _audience_query(session, org_id)).with_only_columns(Person.id, Person.department_id,
                                                                        Person.start_date)
    return list(await session.execute(query.order_by(Person.id)))


async def add_assignments(session: AsyncSession, campaign: TrainingCampaign, people: Iterable[Person], *,
                          deadline_for, now: datetime, exempt: set[int] = frozenset(),
                          exempt_reason: str | None = None) -> int:
    """Put people in the audience once; a second call (a restart, another replica) adds nobody twice.
    Their first prompt is due now: the tick sends it, in their working hours. Returns how many were offered."""
    rows = [{"campaign_id": campaign.id, "person_id": p.id, "department_id": p.department_id,
             "deadline": deadline_for(p), "status": EXEMPT if p.id in exempt else "pending", "reminders_sent": 0,
             "next_reminder_at": None if p.id in exempt else now, "updated_at": now, "exemption_rejected": False,
             "exemption_reason": exempt_reason if p.id in exempt else None} for p in people]
    if not rows:
        return 0
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    # One statement executed for many rows: SQLAlchemy batches it ("insertmanyvalues") without compiling a
    # statement with thousands of parameters per chunk, which took seconds for a city.
    stmt = insert(TrainingAssignment.__table__).on_conflict_do_nothing(index_elements=["campaign_id", "person_id"])
    await session.execute(stmt, rows)
    return len(rows)


async def people_without_assignment(session: AsyncSession, campaign: TrainingCampaign) -> list:
    """Audience members who joined after the campaign started (rows as `audience` gives): asked every minute,
    so only they are loaded."""
    assigned = select(TrainingAssignment.person_id).where(TrainingAssignment.campaign_id == campaign.id)
    query = (await _audience_query(session, campaign.org_id)).where(Person.id.not_in(assigned)).with_only_columns(
        Person.id, Person.department_id, Person.start_date)
    return list(await session.execute(query.order_by(Person.id)))


async def due_prompts(session: AsyncSession, campaign_id: int, now: datetime, limit: int = 5000) -> list[TrainingAssignment]:
    return list((await session.execute(select(TrainingAssignment).where(
        TrainingAssignment.campaign_id == campaign_id, TrainingAssignment.status.in_(OPEN),
        TrainingAssignment.next_reminder_at.is_not(None), TrainingAssignment.next_reminder_at <= now,
    ).order_by(TrainingAssignment.id).limit(limit))).scalars())


async def due_prompt_rows(session: AsyncSession, campaign_id: int, now: datetime, *, after: int = 0,
                          limit: int = 500) -> list:
    """The next due prompts after assignment id `after`, with what a message to the person needs, in one query:
    (id, reminders_sent, deadline, person_id, org_id, locale, tz, manager_id)."""
    return list(await session.execute(
        select(TrainingAssignment.id, TrainingAssignment.reminders_sent, TrainingAssignment.deadline,
               Person.id.label("person_id"),
               Person.org_id, Person.locale, Person.tz, Person.manager_id)
        .join(Person, Person.id == TrainingAssignment.person_id)
        .where(TrainingAssignment.campaign_id == campaign_id, TrainingAssignment.status.in_(OPEN),
               TrainingAssignment.next_reminder_at.is_not(None), TrainingAssignment.next_reminder_at <= now,
               TrainingAssignment.id > after)
        .order_by(TrainingAssignment.id).limit(limit)))


async def set_reminded(session: AsyncSession, rows: list[dict]) -> None:
    """Many assignments' prompt bookkeeping in one executemany: dicts of b_id, b_sent, b_next, b_now."""
    if not rows:
        return
    table = TrainingAssignment.__table__
    await session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
        reminders_sent=bindparam("b_sent"), next_reminder_at=bindparam("b_next", type_=table.c.next_reminder_at.type),
        updated_at=bindparam("b_now", type_=table.c.updated_at.type)), rows)


async def assignment_of(session: AsyncSession, campaign_id: int, person_id: int) -> TrainingAssignment | None:
    return (await session.execute(select(TrainingAssignment).where(
        TrainingAssignment.campaign_id == campaign_id, TrainingAssignment.person_id == person_id))).scalar_one_or_none()


async def get_assignment(session: AsyncSession, assignment_id: int) -> TrainingAssignment | None:
    return await session.get(TrainingAssignment, assignment_id)


async def record_completion(session: AsyncSession, assignment: TrainingAssignment, *, completed_on: date, source: str,
                            recorded_by: int | None, now: datetime, course: str | None = None) -> None:
    session.add(TrainingCompletion(assignment_id=assignment.id, completed_on=completed_on, source=source,
                                   recorded_by=recorded_by, recorded_at=now, course=course))
    assignment.status = DONE
    if assignment.completed_on is None or completed_on > assignment.completed_on:
        assignment.completed_on = completed_on
    assignment.next_reminder_at = None
    assignment.updated_at = now


async def completion_sources(session: AsyncSession, assignment_id: int) -> list[TrainingCompletion]:
    return list((await session.execute(select(TrainingCompletion).where(
        TrainingCompletion.assignment_id == assignment_id).order_by(TrainingCompletion.id))).scalars())


async def team_assignments(session: AsyncSession, campaign_id: int, *, manager_id: int | None = None,
                           department_id: int | None = None) -> list[tuple[TrainingAssignment, Person]]:
    query = select(TrainingAssignment, Person).join(Person, Person.id == TrainingAssignment.person_id).where(
        TrainingAssignment.campaign_id == campaign_id)
    if manager_id is not None:
        query = query.where(Person.manager_id == manager_id)
    if department_id is not None:
        query = query.where(TrainingAssignment.department_id == department_id)
    return [(a, p) for a, p in await session.execute(query.order_by(Person.name, Person.id))]


async def department_summary(session: AsyncSession, campaign_id: int) -> list[tuple[str | None, str, int]]:
    """(department name, status, count) for a campaign: one query, whatever the size."""
    rows = await session.execute(
        select(Department.name, TrainingAssignment.status, func.count())
        .select_from(TrainingAssignment).outerjoin(Department, Department.id == TrainingAssignment.department_id)
        .where(TrainingAssignment.campaign_id == campaign_id)
        .group_by(Department.name, TrainingAssignment.status))
    return [(name, status, count) for name, status, count in rows]
