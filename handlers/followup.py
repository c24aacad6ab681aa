"""Following a case through: take it, assess it, record the GDPR and work-environment facts, add notes,
move the status to closure. Every change is a timeline entry; the reporter hears when the case is taken
and when it is closed, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import (
    Actor, Button, Buttons, ChoiceField, DateTimeField, Form, FormErrors, Message, NumberField, Option, PersonField,
    Screen, Text, TextField,
)
from handlers import casefile, notify
from handlers.access import COORDINATOR, DPO, CaseAccess, case_access, is_personal_data
from handlers.casefile import ASSESS, GDPR, NOTE, STATUS, TAKE, WORKENV
from handlers.incident_views import SHOW_ACTION, gdpr_deadline, kinds_label, message_screen, security_notice
from handlers.incidents import CLOCK_SKEW, KINDS
from handlers.services import Services
from storage.directory import get_person, people_with_role
from storage.incidents import CLOSED_STATUSES, add_event, breach_of, events_of, get_incident
from storage.models import BreachRecord, Incident, IncidentKind, Person, ProcessedEvent
from storage.upsert import insert_ignore

FORMS = {ASSESS: "incident_assess_form", NOTE: "incident_note_form", STATUS: "incident_status_form",
         GDPR: "incident_gdpr_form", WORKENV: "incident_workenv_form"}
FORM_ACTION = {form: action for action, form in FORMS.items()}
SEVERITIES = ("1", "2", "3", "4")
STATUS_CHOICES = ("triage", "investigating", "resolved", "closed")
NATURE = ("confidentiality", "integrity", "availability")
TEXT_MAX = 3000


@dataclass
class Case:
    incident: Incident
    access: CaseAccess
    breach: BreachRecord | None


async def _case(session: AsyncSession, actor: Actor, incident_id: int) -> Case | None:
    incident = await get_incident(session, actor.org_id, incident_id)
    if incident is None:
        return None
    return Case(incident, await case_access(session, actor, incident), await breach_of(session, incident.id))


async def show(svc: Services, actor: Actor, incident_id: int) -> Screen:
    async with svc.db.transaction() as session:
        case = await _case(session, actor, incident_id)
        if case is None:
            return message_screen(svc, actor, "incident.details.not_found")
        if not case.access.see:
            return message_screen(svc, actor, "incident.details.denied")
        return await _screen(session, svc, actor, case)


async def _screen(session: AsyncSession, svc: Services, actor: Actor, case: Case) -> Screen:
    events = await events_of(session, case.incident.id) if case.access.internal else []
    ids = {e.actor_id for e in events if e.actor_id} | {case.incident.handler_id} - {None}
    people = {pid: p for pid in ids if (p := await session.get(Person, pid))}
    return casefile.case_screen(svc, actor, case.incident, case.access, breach=case.breach, events=events,
                                people=people, now=svc.clock.now())


def _allowed(case: Case, action: str) -> bool:
    return case.access.triage if action in (TAKE, ASSESS) else case.access.act


async def open_action(svc: Services, actor: Actor, action: str, incident_id: int) -> Form | Screen:
    """A button on a case: a form to fill in, or (take) the case at once."""
    async with svc.db.transaction() as session:
        case = await _case(session, actor, incident_id)
        if case is None:
            return message_screen(svc, actor, "incident.details.not_found")
        if not _allowed(case, action):
            return message_screen(svc, actor, "followup.denied")
        if action == TAKE:
            await _take(session, svc, actor, case.incident)
            screen = await _screen(session, svc, actor, case)
        else:
            return await _form(session, svc, actor, action, case)
    svc.wake_delivery()
    return screen


async def _take(session: AsyncSession, svc: Services, actor: Actor, incident: Incident) -> None:
    if incident.handler_id is not None:
        return  # someone was quicker; the screen shows who
    now = svc.clock.now()
    incident.handler_id = actor.person_id
    if incident.status == "new":
        incident.status = "triage"
    await add_event(session, incident, actor_id=actor.person_id, kind="taken", now=now)
    await _tell_reporter(session, svc, incident, "taken")
    await refresh_notice(session, svc, incident, now)


# ---- forms -----------------------------------------------------------------


def _t(svc: Services, actor: Actor):
    return lambda key, **kw: svc.texts.t(actor.lang, key, **kw)


def _opts(svc: Services, actor: Actor, prefix: str, codes) -> tuple[Option, ...]:
    return tuple(Option(c, svc.texts.t(actor.lang, f"{prefix}.{c}")) for c in codes)


async def _form(session: AsyncSession, svc: Services, actor: Actor, action: str, case: Case) -> Form:
    t, incident, breach = _t(svc, actor), case.incident, case.breach
    meta = {"incident": incident.id}
    title = t(f"followup.form.{action}.title")
    common = dict(id=FORMS[action], title=title, submit=t("followup.form.save"), close=t("common.close"),
                  metadata=meta, intro=t("followup.form.intro", reference=incident.reference))
    if action == ASSESS:
        handler = incident.handler_id or await _default_handler(session, actor, incident)
        return Form(**common, fields=(
            ChoiceField("is_incident", t("followup.form.incident_assess.is_incident"),
                        _opts(svc, actor, "incident.answer", ("yes", "no")), initial=("yes",)),
            TextField("not_reason", t("followup.form.incident_assess.not_reason"), multiline=True, optional=True,
                      max_length=TEXT_MAX),
            ChoiceField("kinds", t("incident.form.kinds"), _opts(svc, actor, "incident.kind", KINDS), multi=True,
                        optional=True, initial=tuple(incident.kind_codes)),
            ChoiceField("severity", t("followup.form.incident_assess.severity"),
                        _opts(svc, actor, "followup.severity", SEVERITIES), optional=True,
                        initial=(str(incident.severity),) if incident.severity else ()),
            PersonField("handler", t("followup.form.incident_assess.handler"), optional=True, initial=handler,
                        hint=t("followup.form.incident_assess.handler_hint")),
        ))
    if action == NOTE:
        return Form(**common, fields=(TextField("note", t("followup.form.incident_note.note"), multiline=True,
                                                max_length=TEXT_MAX),))
    if action == STATUS:
        return Form(**common, fields=(
            ChoiceField("status", t("followup.form.incident_status.status"),
                        _opts(svc, actor, "incident.status", STATUS_CHOICES),
                        initial=(incident.status,) if incident.status in STATUS_CHOICES else ()),
            TextField("cause", t("followup.form.incident_status.cause"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=incident.cause),
            TextField("measures", t("followup.form.incident_status.measures"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=incident.measures),
            TextField("lessons", t("followup.form.incident_status.lessons"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=incident.lessons),
        ))
    if action == GDPR:
        b = breach or BreachRecord(nature=[])
        answer = lambda v: (v,) if v else ()  # noqa: E731
        return Form(**common, fields=(
            ChoiceField("nature", t("followup.form.incident_gdpr.nature"), _opts(svc, actor, "followup.nature", NATURE),
                        multi=True, optional=True, initial=tuple(b.nature or ())),
            TextField("subject_categories", t("followup.form.incident_gdpr.subject_categories"), optional=True,
                      max_length=500, initial=b.subject_categories,
                      placeholder=t("followup.form.incident_gdpr.subject_categories_placeholder")),
            NumberField("subjects_approx", t("followup.form.incident_gdpr.subjects_approx"), optional=True,
                        initial=b.subjects_approx if b.subjects_approx is not None else incident.people_affected),
            NumberField("records_approx", t("followup.form.incident_gdpr.records_approx"), optional=True,
                        maximum=1_000_000_000, initial=b.records_approx),
            ChoiceField("special_categories", t("followup.form.incident_gdpr.special_categories"),
                        _opts(svc, actor, "incident.answer", ("yes", "no", "unknown")), optional=True,
                        initial=answer(b.special_categories or incident.sensitive_data)),
            TextField("consequences", t("followup.form.incident_gdpr.consequences"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=b.consequences),
            TextField("measures", t("followup.form.incident_gdpr.measures"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=b.measures),
            ChoiceField("notify_imy", t("followup.form.incident_gdpr.notify_imy"),
                        _opts(svc, actor, "followup.notify", ("yes", "no")), optional=True,
                        initial=answer(b.notify_imy)),
            TextField("notify_reason", t("followup.form.incident_gdpr.notify_reason"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=b.notify_reason),
            DateTimeField("notified_at", t("followup.form.incident_gdpr.notified_at"), optional=True,
                          initial=b.notified_at),
            TextField("imy_reference", t("followup.form.incident_gdpr.imy_reference"), optional=True, max_length=100,
                      initial=b.imy_reference),
            ChoiceField("inform_subjects", t("followup.form.incident_gdpr.inform_subjects"),
                        _opts(svc, actor, "incident.answer", ("yes", "no")), optional=True,
                        initial=answer(b.inform_subjects)),
            TextField("inform_reason", t("followup.form.incident_gdpr.inform_reason"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=b.inform_reason),
        ))
    serious = incident.serious_work_env
    return Form(**common, fields=(
        ChoiceField("serious", t("followup.form.incident_workenv.serious"),
                    _opts(svc, actor, "incident.answer", ("yes", "no")),
                    initial=(("yes",) if serious else ("no",)) if serious is not None else ()),
        DateTimeField("awv_reported_at", t("followup.form.incident_workenv.awv_reported_at"), optional=True,
                      initial=incident.awv_reported_at),
    ))


async def _default_handler(session: AsyncSession, actor: Actor, incident: Incident) -> int | None:
    """Work environment: the reporter's manager. Otherwise the coordinator assessing, or the first one."""
    if "work_env" in incident.kind_codes:
        reporter = await session.get(Person, incident.reporter_id)
        if reporter and reporter.manager_id:
            return reporter.manager_id
    coordinators = await people_with_role(session, actor.org_id, COORDINATOR)
    if any(p.id == actor.person_id for p in coordinators):
        return actor.person_id
    return coordinators[0].id if coordinators else None


# ---- submissions --------------------------------------------------------------


async def submit(svc: Services, actor: Actor, form_id: str, metadata: dict[str, Any], values: dict[str, Any], *,
                 submission_key: str) -> FormErrors | Screen:
    """Apply a filled-in form once: `submission_key` identifies the submission, so a repeat changes nothing."""
    action = FORM_ACTION[form_id]
    errors = _validate(svc, actor, action, values)
    if errors:
        return FormErrors(errors)
    async with svc.db.transaction() as session:
        case = await _case(session, actor, int(metadata.get("incident", 0)))
        if case is None or not _allowed(case, action):
            return message_screen(svc, actor, "followup.denied")
        if not await insert_ignore(session, ProcessedEvent, {"event_id": submission_key,
                                                             "received_at": svc.clock.now()}, ["event_id"]):
            return await _screen(session, svc, actor, case)
        if action == ASSESS and values.get("handler") is not None:
            handler = await get_person(session, actor.org_id, values["handler"])
            if handler is None or not handler.active:
                return FormErrors({"handler": svc.texts.t(actor.lang, "followup.error.unknown_person")})
        await _APPLY[action](session, svc, actor, case, values)
        await refresh_notice(session, svc, case.incident, svc.clock.now())
        case.breach = await breach_of(session, case.incident.id)
        screen = await _screen(session, svc, actor, case)
    svc.wake_delivery()
    return screen


def _validate(svc: Services, actor: Actor, action: str, v: dict[str, Any]) -> dict[str, str]:
    err: dict[str, str] = {}
    e = lambda field, key, **kw: err.setdefault(field, svc.texts.t(actor.lang, f"followup.error.{key}", **kw))  # noqa: E731
    for field, value in v.items():
        if isinstance(value, str) and len(value) > TEXT_MAX:
            e(field, "too_long", max=TEXT_MAX)
    now = svc.clock.now()
    for field in ("notified_at", "awv_reported_at"):
        if v.get(field) and v[field] > now + CLOCK_SKEW:
            e(field, "in_future")
    if action == ASSESS:
        if v.get("is_incident") == "no" and not (v.get("not_reason") or "").strip():
            e("not_reason", "reason_required")
        if v.get("is_incident") == "yes":
            if not v.get("kinds"):
                e("kinds", "kinds_required")
            if v.get("severity") not in SEVERITIES:
                e("severity", "severity_required")
        if v.get("is_incident") not in ("yes", "no"):
            e("is_incident", "choose")
    elif action == NOTE and not (v.get("note") or "").strip():
        e("note", "note_required")
    elif action == STATUS:
        if v.get("status") not in STATUS_CHOICES:
            e("status", "choose")
        elif v["status"] == "closed":
            for field in ("cause", "measures", "lessons"):
                if not (v.get(field) or "").strip():
                    e(field, "closing_requires")
    elif action == GDPR:
        for field in ("subjects_approx", "records_approx"):
            raw = v.get(field)
            if raw not in (None, ""):
                try:
                    if int(str(raw)) < 0:
                        e(field, "negative")
                except ValueError:
                    e(field, "not_a_number")
        if v.get("notify_imy") == "no" and not (v.get("notify_reason") or "").strip():
            e("notify_reason", "reason_required")
        if v.get("notified_at") and v.get("notify_imy") != "yes":
            e("notify_imy", "notified_means_yes")
        if (v.get("imy_reference") or "").strip() and not v.get("notified_at"):
            e("notified_at", "reference_needs_time")
        if v.get("inform_subjects") == "no" and not (v.get("inform_reason") or "").strip():
            e("inform_reason", "reason_required")
    elif action == WORKENV and v.get("serious") not in ("yes", "no"):
        e("serious", "choose")
    return err


async def _apply_assess(session, svc: Services, actor: Actor, case: Case, v: dict[str, Any]) -> None:
    incident, now = case.incident, svc.clock.now()
    if v["is_incident"] == "no":
        reason = v["not_reason"].strip()
        incident.status, incident.closed_at, incident.close_reason = "not_incident", now, reason
        await add_event(session, incident, actor_id=actor.person_id, kind="not_incident", now=now, reason=reason)
        await _tell_reporter(session, svc, incident, "closed")
        return
    was_personal = is_personal_data(incident)
    kinds = [k for k in KINDS if k in v["kinds"]]
    if kinds != incident.kind_codes:
        await session.execute(delete(IncidentKind).where(IncidentKind.incident_id == incident.id))
        incident.kinds = [IncidentKind(incident_id=incident.id, kind=k) for k in kinds]
    incident.severity = int(v["severity"])
    if incident.status in ("new", "triage"):
        incident.status = "investigating"
    await add_event(session, incident, actor_id=actor.person_id, kind="assessed", now=now, severity=incident.severity,
                    kinds=kinds)
    handler_id = v.get("handler")
    if handler_id and handler_id != incident.handler_id:
        incident.handler_id = handler_id
        handler = await session.get(Person, handler_id)
        await add_event(session, incident, actor_id=actor.person_id, kind="handler", now=now,
                        name=handler.name or "")
        if handler_id != actor.person_id:
            await notify.to_person(session, svc, handler, f"incident:{incident.id}:handler:{handler_id}:{now.isoformat()}",
                                   lambda lang, tz: _handler_message(svc, lang, incident))
    if is_personal_data(incident) and not was_personal:
        await notify.inform_dpos(session, svc, incident)


async def _apply_note(session, svc: Services, actor: Actor, case: Case, v: dict[str, Any]) -> None:
    await add_event(session, case.incident, actor_id=actor.person_id, kind="note", now=svc.clock.now(),
                    text=v["note"].strip())


async def _apply_status(session, svc: Services, actor: Actor, case: Case, v: dict[str, Any]) -> None:
    incident, now, status = case.incident, svc.clock.now(), v["status"]
    for field in ("cause", "measures", "lessons"):
        text = (v.get(field) or "").strip()
        if text:
            setattr(incident, field, text)
    if status == incident.status:
        await add_event(session, incident, actor_id=actor.person_id, kind="status", now=now, status=status)
        return
    incident.status = status
    incident.closed_at = now if status == "closed" else None
    await add_event(session, incident, actor_id=actor.person_id, kind="status", now=now, status=status)
    if status == "closed":
        await _tell_reporter(session, svc, incident, "closed")


async def _apply_gdpr(session, svc: Services, actor: Actor, case: Case, v: dict[str, Any]) -> None:
    incident, now = case.incident, svc.clock.now()
    breach = case.breach or BreachRecord(incident_id=incident.id, nature=[], updated_at=now)
    if case.breach is None:
        session.add(breach)
    decision_before = breach.notify_imy
    number = lambda raw: int(str(raw)) if raw not in (None, "") else None  # noqa: E731
    text = lambda raw: (raw or "").strip() or None  # noqa: E731
    breach.nature = [n for n in NATURE if n in (v.get("nature") or ())]
    breach.subject_categories = text(v.get("subject_categories"))
    breach.subjects_approx = number(v.get("subjects_approx"))
    breach.records_approx = number(v.get("records_approx"))
    breach.special_categories = v.get("special_categories")
    breach.consequences = text(v.get("consequences"))
    breach.measures = text(v.get("measures"))
    breach.notify_imy = v.get("notify_imy")
    breach.notify_reason = text(v.get("notify_reason"))
    breach.notified_at = v.get("notified_at")
    breach.imy_reference = text(v.get("imy_reference"))
    breach.inform_subjects = v.get("inform_subjects")
    breach.inform_reason = text(v.get("inform_reason"))
    if breach.notify_imy and breach.notify_imy != decision_before:
        breach.decided_at = now
    breach.updated_at = now
    await add_event(session, incident, actor_id=actor.person_id, kind="gdpr", now=now,
                    decision=breach.notify_imy or "", notified=bool(breach.notified_at))


async def _apply_workenv(session, svc: Services, actor: Actor, case: Case, v: dict[str, Any]) -> None:
    incident, now = case.incident, svc.clock.now()
    incident.serious_work_env = v["serious"] == "yes"
    incident.awv_reported_at = v.get("awv_reported_at")
    await add_event(session, incident, actor_id=actor.person_id, kind="workenv", now=now,
                    serious=incident.serious_work_env, reported=incident.awv_reported_at is not None)


_APPLY = {ASSESS: _apply_assess, NOTE: _apply_note, STATUS: _apply_status, GDPR: _apply_gdpr, WORKENV: _apply_workenv}


# ---- messages --------------------------------------------------------------------


async def _tell_reporter(session, svc: Services, incident: Incident, what: str) -> None:
    """Taken / closed, once each, without internal details."""
    reporter = await session.get(Person, incident.reporter_id)
    if reporter is None:
        return
    await notify.to_person(session, svc, reporter, f"incident:{incident.id}:reporter:{what}",
                           lambda lang, tz: Message(svc.texts.t(lang, f"followup.reporter.{what}",
                                                                reference=incident.reference)))


def _handler_message(svc: Services, lang: str, incident: Incident) -> Message:
    t = svc.texts.t
    return Message(t(lang, "followup.handler.summary", reference=incident.reference),
                   (Text(t(lang, "followup.handler.text", reference=incident.reference,
                           kinds=kinds_label(svc, lang, incident))),
                    Buttons((Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(incident.id), "primary"),))))


async def refresh_notice(session, svc: Services, incident: Incident, now: datetime) -> None:
    """The coordinators' notice shows the case as it stands now. Each refresh is its own queued update."""
    handler = await session.get(Person, incident.handler_id) if incident.handler_id else None
    breach = await breach_of(session, incident.id)
    await notify.to_channel(session, svc, incident.org_id, svc.settings.security_channel,
                            f"incident:{incident.id}:notice:update:{uuid4().hex}",
                            security_notice(svc, incident, handler=handler, breach=breach, now=now),
                            update_of=f"incident:{incident.id}:notice")
