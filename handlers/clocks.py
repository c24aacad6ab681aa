"""What is due now: the legal clocks and the reminders of open cases. Run every minute by the scheduler;
the database decides what was already sent (each reminder has its own outbox key), so a second run, a
restart or a second replica sends nothing twice, and after downtime only the latest reminder goes out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import Button, Buttons, Message, Text
from handlers import notify
from handlers.access import COORDINATOR, DPO, is_personal_data
from handlers.calendar import add_working_days

from handlers.followup import refresh_notice
from handlers.incident_views import SHOW_ACTION, gdpr_deadline, gdpr_settled
from handlers.services import Services
from storage.directory import people_with_role
from storage.incidents import add_event, all_open_incidents, breach_of
from storage.models import Incident, Person, ProcessedEvent
from storage.upsert import insert_ignore

GDPR_REMINDERS = (66, 48, 24)  # hours after discovery, latest first

async def tick(svc: Services) -> None:
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        for incident in await all_open_incidents(session):
            await _gdpr_clock(session, svc, incident, now)
            await _work_env_clock(session, svc, incident)
            await _stale_clock(session, svc, incident, now)
    svc.wake_delivery()

def _case_message(svc: Services, lang: str, incident: Incident, key: str, **params) -> Message:
    t = svc.texts.t
    return Message(t(lang, f"followup.reminder.{key}_summary", reference=incident.reference),
                   (Text(t(lang, f"followup.reminder.{key}", reference=incident.reference, **params)),
                    Buttons((Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(incident.id), "primary"),))))

async def _recipients(session: AsyncSession, incident: Incident, *roles: str) -> list[Person]:
    people = {p.id: p for role in roles for p in await people_with_role(session, incident.org_id, role)}
    if incident.handler_id and incident.handler_id not in people:
        handler = await session.get(Person, incident.handler_id)
        if handler:
            people[handler.id] = handler
    return list(people.values())

async def _gdpr_clock(session: AsyncSession, svc: Services, incident: Incident, now: datetime) -> None:
    if not is_personal_data(incident) or gdpr_settled(await breach_of(session, incident.id)):
        return
    deadline = gdpr_deadline(incident)
    if now >= deadline:
        for person in await _recipients(session, incident, DPO, COORDINATOR):
            await notify.to_person(session, svc, person, f"incident:{incident.id}:gdpr:overdue:{person.id}",
                                   lambda lang, tz: _case_message(svc, lang, incident, "overdue", deadline=deadline, tz=tz))
        if await _first_time(session, incident, "gdpr:overdue", now):
            await add_event(session, incident, actor_id=None, kind="gdpr_overdue", now=now)
            await refresh_notice(session, svc, incident, now)
        return
    due = next((h for h in GDPR_REMINDERS if now >= incident.discovered_at + timedelta(hours=h)), None)
    if due is None:
        return
    hours_left = int((deadline - now) / timedelta(hours=1))
    for person in await _recipients(session, incident, DPO):
        # One key per mark: catching up after downtime sends the latest mark only, once.
        await notify.to_person(session, svc, person, f"incident:{incident.id}:gdpr:{due}h:{person.id}",
                               lambda lang, tz: _case_message(svc, lang, incident, "gdpr", hours=hours_left,
                                                              deadline=deadline, tz=tz))

async def _work_env_clock(session: AsyncSession, svc: Services, incident: Incident) -> None:
    """A serious work-environment case is reported to Arbetsmiljöverket without delay: tell the handling
    side once, right away, until the report is recorded."""
    if "work_env" not in incident.kind_codes or incident.awv_reported_at:
        return
    if not (incident.serious_work_env or (incident.serious_work_env is None and incident.injury == "injured")):
        return
    for person in await _recipients(session, incident, COORDINATOR):
        await notify.to_person(session, svc, person, f"incident:{incident.id}:awv:{person.id}",
                               lambda lang, tz: _case_message(svc, lang, incident, "awv"))

async def _stale_clock(session: AsyncSession, svc: Services, incident: Incident, now: datetime) -> None:
    days = svc.settings.stale_working_days
    last = incident.last_activity_at or incident.reported_at
    tz = svc.settings.timezone
    if now < add_working_days(last, days, tz):
        return
    since = last.isoformat()
    handler = await session.get(Person, incident.handler_id) if incident.handler_id else None
    if handler is not None:
        await notify.to_person(session, svc, handler, f"incident:{incident.id}:stale:{since}:handler",
                               lambda lang, tz: _case_message(svc, lang, incident, "stale", days=days),
                               working_hours=True, now=now)
        if now < add_working_days(last, 2 * days, tz):
            return
    waited = days * (2 if handler else 1)
    for person in await people_with_role(session, incident.org_id, COORDINATOR):
        await notify.to_person(session, svc, person, f"incident:{incident.id}:stale:{since}:escalated:{person.id}",
                               lambda lang, tz: _case_message(svc, lang, incident, "escalated", days=waited),
                               working_hours=True, now=now)
    if await _first_time(session, incident, f"stale:{since}:escalated", now):
        await add_event(session, incident, actor_id=None, kind="stale_escalated", now=now)

async def _first_time(session: AsyncSession, incident: Incident, what: str, now: datetime) -> bool:
    """A one-time mark per case, so a timeline entry for something the bot noticed is written once."""
    return await insert_ignore(session, ProcessedEvent, {"event_id": f"incident:{incident.id}:{what}"[:64],
                                                         "received_at": now}, ["event_id"])
