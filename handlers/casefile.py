"""How a case reads: its details for those entitled, the state of its legal clocks, its timeline."""

from __future__ import annotations

from datetime import datetime

from bot.model import Actor, Button, Buttons, Divider, Header, Note, Screen, Text
from handlers.access import CaseAccess
from handlers.incident_views import details_screen, gdpr_clock, gdpr_deadline, work_env_flag
from handlers.services import Services
from storage.incidents import CLOSED_STATUSES
from storage.models import BreachRecord, Incident, IncidentEvent, Person

TAKE = "incident_take"
ASSESS = "incident_assess"
NOTE = "incident_note"
STATUS = "incident_status"
GDPR = "incident_gdpr"
WORKENV = "incident_workenv"
TIMELINE_SHOWN = 15


def case_screen(svc: Services, actor: Actor, incident: Incident, access: CaseAccess, *,
                breach: BreachRecord | None, events: list[IncidentEvent], people: dict[int, Person],
                now: datetime) -> Screen:
    """The reporter sees their report; entitled roles also see the handling, the clocks and the timeline."""
    if not access.internal:
        return details_screen(svc, actor, incident)
    base = details_screen(svc, actor, incident, with_deadline=False)  # the clock line below says more
    lang, tz, t = actor.lang, actor.tz, svc.texts.t
    blocks = list(base.blocks)
    handler = people.get(incident.handler_id) if incident.handler_id else None
    severity = t(lang, f"followup.severity.{incident.severity}") if incident.severity else t(lang, "common.unknown")
    blocks.append(Text(t(lang, "followup.case.handling", handler=_name(svc, lang, handler), severity=severity)))
    for line in (gdpr_clock(svc, lang, tz, incident, breach, now), work_env_flag(svc, lang, tz, incident)):
        if line:
            blocks.append(Text(line))
    if incident.status in CLOSED_STATUSES and (incident.cause or incident.close_reason):
        blocks.append(Text(t(lang, "followup.case.closed", cause=incident.cause or incident.close_reason or "",
                             measures=incident.measures or "–", lessons=incident.lessons or "–")))
    buttons = _buttons(svc, lang, incident, access)
    if buttons:
        blocks.append(Buttons(tuple(buttons)))
    blocks += [Divider(), Header(t(lang, "followup.case.timeline"))]
    shown = events[-TIMELINE_SHOWN:]
    for event in shown:
        blocks.append(Note(timeline_line(svc, lang, tz, event, people)))
    if len(events) > len(shown):
        blocks.append(Note(t(lang, "followup.case.timeline_more", count=len(events) - len(shown))))
    return Screen(title=base.title, close=base.close, blocks=tuple(blocks))


def _buttons(svc: Services, lang: str, incident: Incident, access: CaseAccess) -> list[Button]:
    t = svc.texts.t
    value = str(incident.id)
    if incident.status in CLOSED_STATUSES:
        return [Button(NOTE, t(lang, "followup.button.note"), value)] if access.act else []
    buttons = []
    if access.triage:
        if incident.handler_id is None:
            buttons.append(Button(TAKE, t(lang, "followup.button.take"), value, "primary"))
        buttons.append(Button(ASSESS, t(lang, "followup.button.assess"), value))
    if access.act:
        buttons.append(Button(NOTE, t(lang, "followup.button.note"), value))
        buttons.append(Button(STATUS, t(lang, "followup.button.status"), value))
        if gdpr_deadline(incident) is not None:
            buttons.append(Button(GDPR, t(lang, "followup.button.gdpr"), value))
        if "work_env" in incident.kind_codes:
            buttons.append(Button(WORKENV, t(lang, "followup.button.workenv"), value))
    return buttons


def _name(svc: Services, lang: str, person: Person | None) -> str:
    if person is None:
        return svc.texts.t(lang, "followup.case.no_handler")
    return person.name or svc.texts.t(lang, "followup.case.someone")


def timeline_line(svc: Services, lang: str, tz: str, event: IncidentEvent, people: dict[int, Person]) -> str:
    who = _name(svc, lang, people.get(event.actor_id)) if event.actor_id else svc.texts.t(lang, "followup.case.bot")
    data = dict(event.data or {})
    if "status" in data:
        data["status"] = svc.texts.t(lang, f"incident.status.{data['status']}")
    what = svc.texts.t(lang, f"followup.event.{event.kind}", **data)
    return svc.texts.t(lang, "followup.case.timeline_line", at=event.at, who=who, what=what, tz=tz)
