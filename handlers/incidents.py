"""Reporting an incident: the form, its validation, storing it, the receipt and the coordinators' notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bot.model import (
    Actor, Button, Buttons, ChoiceField, DateTimeField, Divider, Form, FormErrors, Header, Message, Note,
    NumberField, Option, Screen, Text, TextField,
)
from handlers import notify
from handlers.access import is_personal_data
from handlers.group_commit import GroupCommit
from handlers.incident_views import receipt, security_notice
from handlers.services import Services
from storage import incidents as store
from storage.incidents import IncidentToStore, NewIncident, StoredIncident
from storage.models import Incident, IncidentEvent, Person
from storage.outbox import enqueue_many

FORM_ID = "incident_report"
DISCOVERED_AT = "discovered_at"  # the one field whose start value changes with every form opened: now
KINDS = ("infosec", "personal_data", "work_env", "other")
ANSWERS = ("yes", "no", "unknown")
INJURIES = ("injured", "near_miss", "none")
DESCRIPTION_MAX = 3000
ASSET_MAX = 200
PEOPLE_MAX = 10_000_000
# Clocks on phones drift; a few minutes ahead is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


class NotSaved(Exception):
    """The database could not take the report; the person is told to try again."""


@dataclass(frozen=True)
class Submitted:
    incident: Incident | StoredIncident  # StoredIncident when stored now, the Incident when stored before
    created: bool  # False when this was a repeat of a submission already stored


def _options(svc: Services, lang: str, prefix: str, codes: tuple[str, ...]) -> tuple[Option, ...]:
    return tuple(Option(code, svc.texts.t(lang, f"{prefix}.{code}")) for code in codes)


def report_form(svc: Services, actor: Actor, *, prefill: str | None = None, link: str | None = None) -> Form:
    t = lambda key, **kw: svc.texts.t(actor.lang, key, **kw)  # noqa: E731
    initial_text = prefill
    if link:
        initial_text = f"{prefill or ''}\n\n{t('incident.form.prefill_from_message', link=link)}".strip()
    return Form(
        id=FORM_ID,
        title=t("incident.form.title"),
        submit=t("incident.form.submit"),
        close=t("common.close"),
        intro=t("incident.form.intro"),
        metadata={"link": link} if link else {},
        fields=(
            ChoiceField("kinds", t("incident.form.kinds"), _options(svc, actor.lang, "incident.kind", KINDS),
                        multi=True, hint=t("incident.form.kinds_hint")),
            TextField("description", t("incident.form.description"), multiline=True,
                      initial=initial_text[:DESCRIPTION_MAX] if initial_text else None,
                      max_length=DESCRIPTION_MAX, placeholder=t("incident.form.description_placeholder")),
            DateTimeField("occurred_at", t("incident.form.occurred_at"), optional=True,
                          hint=t("incident.form.occurred_at_hint")),
            DateTimeField(DISCOVERED_AT, t("incident.form.discovered_at"), initial=svc.clock.now()),
            TextField("asset", t("incident.form.asset"), optional=True, max_length=ASSET_MAX,
                      placeholder=t("incident.form.asset_placeholder")),
            ChoiceField("personal_data", t("incident.form.personal_data"),
                        _options(svc, actor.lang, "incident.answer", ANSWERS), optional=True),
            ChoiceField("sensitive_data", t("incident.form.sensitive_data"),
                        _options(svc, actor.lang, "incident.answer", ANSWERS), optional=True),
            NumberField("people_affected", t("incident.form.people_affected"), optional=True, maximum=PEOPLE_MAX),
            ChoiceField("injury", t("incident.form.injury"),
                        _options(svc, actor.lang, "incident.injury", INJURIES), optional=True),
        ),
    )


def parse_report(svc: Services, lang: str, values: dict[str, Any], now: datetime,
                 link: str | None = None) -> NewIncident | FormErrors:
    """Check everything a person can get wrong; errors are keyed by field so they show beside it."""
    errors: dict[str, str] = {}
    err = lambda field, key, **kw: errors.setdefault(field, svc.texts.t(lang, f"incident.error.{key}", **kw))  # noqa: E731

    kinds = tuple(k for k in KINDS if k in set(values.get("kinds") or ()))
    if not kinds or set(values.get("kinds") or ()) - set(KINDS):
        err("kinds", "kinds_required")

    description = (values.get("description") or "").strip()
    if not description:
        err("description", "description_required")
    elif len(description) > DESCRIPTION_MAX:
        err("description", "too_long", max=DESCRIPTION_MAX)

    occurred_at, discovered_at = values.get("occurred_at"), values.get("discovered_at")
    for field, moment in (("occurred_at", occurred_at), ("discovered_at", discovered_at)):
        if moment is not None and moment > now + CLOCK_SKEW:
            err(field, "in_future")
        elif moment is not None and moment < EARLIEST:
            err(field, "too_old")
    if discovered_at is None:
        err("discovered_at", "discovered_required")
    elif occurred_at is not None and discovered_at < occurred_at and not errors.keys() & {"occurred_at", "discovered_at"}:
        err("discovered_at", "discovered_before_occurred")

    asset = (values.get("asset") or "").strip() or None
    if asset and len(asset) > ASSET_MAX:
        err("asset", "too_long", max=ASSET_MAX)

    personal = _choice(values.get("personal_data"), ANSWERS, "personal_data", errors, svc, lang)
    sensitive = _choice(values.get("sensitive_data"), ANSWERS, "sensitive_data", errors, svc, lang)
    injury = _choice(values.get("injury"), INJURIES, "injury", errors, svc, lang)
    if "personal_data" in kinds:
        if personal == "no":
            err("personal_data", "personal_data_contradiction")
        personal = personal or "yes"
    if sensitive == "yes" and personal == "no":
        err("sensitive_data", "sensitive_without_personal_data")

    count = _count(values.get("people_affected"), errors, svc, lang)
    if count and personal == "no":
        err("people_affected", "count_without_personal_data")

    if errors:
        return FormErrors(errors)
    return NewIncident(kinds=kinds, description=description, occurred_at=occurred_at, discovered_at=discovered_at,
                       asset_text=asset, personal_data=personal, sensitive_data=sensitive, people_affected=count,
                       injury=injury, source_link=link)


def _choice(value: Any, allowed: tuple[str, ...], field: str, errors: dict, svc: Services, lang: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        errors.setdefault(field, svc.texts.t(lang, "incident.error.kinds_required"))
        return None
    return value


def _count(raw: Any, errors: dict, svc: Services, lang: str) -> int | None:
    if raw in (None, ""):
        return None
    try:
        count = int(str(raw).strip())
    except ValueError:
        errors.setdefault("people_affected", svc.texts.t(lang, "incident.error.not_a_number"))
        return None
    if count < 0:
        errors.setdefault("people_affected", svc.texts.t(lang, "incident.error.negative"))
    elif count > PEOPLE_MAX:
        errors.setdefault("people_affected", svc.texts.t(lang, "incident.error.absurd_count", max=f"{PEOPLE_MAX:,}".replace(",", " ")))
    return count


async def submit_report(svc: Services, actor: Actor, values: dict[str, Any], *, source_key: str,
                        link: str | None = None, within: float | None = None) -> Submitted | FormErrors:
    """Validate and store a report. With `within` seconds, a report that could not be stored in time is not
    stored at all (TimeoutError), so "not saved, try again" is true when the person reads it."""
    now = svc.clock.now()
    parsed = parse_report(svc, actor.lang, values, now, link)
    if isinstance(parsed, FormErrors):
        return parsed
    try:
        return await _writer(svc).submit(_Report(actor, parsed, source_key, now), within=within)
    except IntegrityError:
        # The same submission raced itself on another replica (a double click, a retried request): the first won.
        existing = await _find_existing(svc, actor, source_key)
        if existing is None:
            raise
        return Submitted(existing, created=False)


@dataclass(frozen=True)
class _Report:
    actor: Actor
    data: NewIncident
    source_key: str
    reported_at: datetime


def _writer(svc: Services) -> GroupCommit[_Report, Submitted]:
    if svc.report_writer is None:
        svc.report_writer = GroupCommit(lambda reports: _store(svc, reports), ingress=svc.ingress)
    return svc.report_writer


async def _find_existing(svc: Services, actor: Actor, source_key: str) -> Incident | None:
    async with svc.db.transaction() as session:
        return await store.find_by_source(session, actor.org_id, source_key)


async def _store(svc: Services, reports: list[_Report]) -> list[Submitted]:
    """Store reports that arrived together in one transaction, with their receipts and notices: stored means
    announced, exactly once. A report stored before (same source key: Slack retried, a double click) breaks
    the unique index, and the batch is written again one report at a time, where submit_report finds it;
    looking for such repeats first would cost every batch a query for what seldom happens."""
    keys = [(r.actor.org_id, r.source_key) for r in reports]
    fresh = {}
    for key, report in zip(keys, reports):
        fresh.setdefault(key, report)  # the same submission twice in one batch: stored once
    async with svc.db.transaction() as session:
        reporters = {r.actor.person_id for r in fresh.values()}
        departments = dict((await session.execute(
            select(Person.id, Person.department_id).where(Person.id.in_(reporters)))).all())
        created = dict(zip(fresh, await store.create_incidents(session, [
            IncidentToStore(org_id=r.actor.org_id, reporter_id=r.actor.person_id, data=r.data, source_key=r.source_key,
                            reported_at=r.reported_at, year=r.reported_at.astimezone(svc.org_tz).year,
                            department_id=departments.get(r.actor.person_id))
            for r in fresh.values()])))
        messages, events = [], []
        for key, incident in created.items():
            report = fresh[key]
            events.append({"incident_id": incident.id, "at": report.reported_at, "actor_id": report.actor.person_id,
                           "kind": "reported", "data": {}})
            messages.append(notify.person_message(incident.org_id, report.actor.person_id,
                                                  f"incident:{incident.id}:receipt", receipt(svc, report.actor, incident)))
            notice = notify.channel_message(incident.org_id, svc.settings.security_channel,
                                            f"incident:{incident.id}:notice",
                                            security_notice(svc, incident, now=report.reported_at))
            if notice:
                messages.append(notice)
        await session.execute(insert(IncidentEvent.__table__), events)
        await enqueue_many(session, messages, svc.clock.now())
        for incident in created.values():
            if is_personal_data(incident):
                await notify.inform_dpos(session, svc, incident)
    svc.wake_delivery()
    results, answered = [], set()
    for key in keys:
        results.append(Submitted(created[key], created=key not in answered))
        answered.add(key)
    return results
