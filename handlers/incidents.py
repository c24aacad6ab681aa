"""Reporting an incident: the form, its validation, storing it, the receipt and the coordinators' notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.model import (
    Actor, Button, Buttons, ChoiceField, DateTimeField, Divider, Form, FormErrors, Header, Message, Note,
    NumberField, Option, Screen, Text, TextField,
)
from handlers import notify
from handlers.access import is_personal_data
from handlers.incident_views import receipt, security_notice
from handlers.services import Services
from storage import incidents as store
from storage.incidents import NewIncident
from storage.models import Incident, Person
from storage.outbox import enqueue

FORM_ID = "incident_report"
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
    incident: Incident
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
            DateTimeField("discovered_at", t("incident.form.discovered_at"), initial=svc.clock.now()),
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
                        link: str | None = None) -> Submitted | FormErrors:
    now = svc.clock.now()
    parsed = parse_report(svc, actor.lang, values, now, link)
    if isinstance(parsed, FormErrors):
        return parsed
    try:
        return await _store(svc, actor, parsed, source_key, now)
    except IntegrityError:
        # The same submission raced itself (a double click, a retried request): the first one won.
        existing = await _find_existing(svc, actor, source_key)
        if existing is None:
            raise
        return Submitted(existing, created=False)


async def _find_existing(svc: Services, actor: Actor, source_key: str) -> Incident | None:
    async with svc.db.transaction() as session:
        return await store.find_by_source(session, actor.org_id, source_key)


async def _store(svc: Services, actor: Actor, data: NewIncident, source_key: str, now: datetime) -> Submitted:
    async with svc.db.transaction() as session:
        existing = await store.find_by_source(session, actor.org_id, source_key)
        if existing is not None:
            return Submitted(existing, created=False)
        year = now.astimezone(svc.org_tz).year
        reporter = await session.get(Person, actor.person_id)
        incident = await store.create_incident(session, org_id=actor.org_id, reporter_id=actor.person_id, data=data,
                                               source_key=source_key, reported_at=now, year=year,
                                               department_id=reporter.department_id if reporter else None)
        await store.add_event(session, incident, actor_id=actor.person_id, kind="reported", now=now)
        # Receipt and notice are queued in the same transaction: stored means announced, exactly once.
        await enqueue(session, org_id=actor.org_id, dedupe_key=f"incident:{incident.id}:receipt",
                      recipient_kind="person", recipient=str(actor.person_id),
                      payload={"message": receipt(svc, actor, incident).to_dict()}, now=now)
        await notify.to_channel(session, svc, actor.org_id, svc.settings.security_channel,
                                f"incident:{incident.id}:notice", security_notice(svc, incident, now=now))
        if is_personal_data(incident):
            await notify.inform_dpos(session, svc, incident)
    svc.wake_delivery()
    return Submitted(incident, created=True)
