"""The year's mandatory training: a campaign asks everyone to confirm, reminds those who have not,
tells their managers, and lets managers approve exemptions, nudge or confirm on someone's behalf."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import language_of
from bot.model import (
    Actor, Button, Buttons, DateField, Form, FormErrors, Header, Message, Note, NumberField, Screen, Text, TextField,
)
from handlers import notify
from handlers.access import ADMIN, COORDINATOR, roles_of
from handlers.calendar import add_working_days, next_working_time
from handlers.directory import file_error_text, problem_text
from handlers.services import Services
from handlers.tabular import Column, parse_date, parse_email, read_table
from storage import training as store
from storage.directory import people_with_role
from storage.models import Person, TrainingAssignment, TrainingCampaign
from storage.outbox import enqueue_many
from storage.people import person_by_email

log = logging.getLogger(__name__)

DONE, NOT_YET, NOT_APPLICABLE = "training_done", "training_not_yet", "training_not_applicable"
APPROVE, REJECT = "training_exemption_approve", "training_exemption_reject"
NUDGE, CONFIRM_FOR = "training_nudge", "training_confirm_for"
START_FORM, DONE_FORM, EXEMPT_FORM, CONFIRM_FORM = ("training_start_form", "training_done_form",
                                                    "training_exempt_form", "training_confirm_form")
ANSWER_ACTIONS = (DONE, NOT_YET, NOT_APPLICABLE)
MANAGER_ACTIONS = (APPROVE, REJECT, NUDGE, CONFIRM_FOR)
MANAGER_LIST_MAX = 20  # people listed with buttons in one message; Slack allows 50 blocks


@dataclass(frozen=True)
class CampaignSettings:
    courses: tuple[str, ...]
    deadline: date
    joiner_days: int = 30
    remind_every_days: int = 7
    max_reminders: int = 3
    exempt_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Started:
    campaign: TrainingCampaign
    audience: int
    exempt: int
    created: bool  # False: this year's campaign was already running


def _year(svc: Services) -> int:
    return svc.clock.now().astimezone(svc.org_tz).year


def _today(svc: Services) -> date:
    return svc.clock.now().astimezone(svc.org_tz).date()


# ---- starting -------------------------------------------------------------------------


async def may_run_campaigns(svc: Services, actor: Actor) -> bool:
    async with svc.db.transaction() as session:
        return bool({COORDINATOR, ADMIN} & await roles_of(session, actor.person_id))


def start_form(svc: Services, actor: Actor) -> Form:
    t = lambda key, **kw: svc.texts.t(actor.lang, key, **kw)  # noqa: E731
    year = _year(svc)
    return Form(id=START_FORM, title=t("training.start.title"), submit=t("training.start.submit"),
                close=t("common.close"), intro=t("training.start.intro", year=year), fields=(
        TextField("courses", t("training.start.courses"), multiline=True, max_length=1000,
                  initial=t("training.start.default_courses")),
        DateField("deadline", t("training.start.deadline"), initial=date(year, 12, 31)),
        NumberField("joiner_days", t("training.start.joiner_days"), initial=30, minimum=1, maximum=365),
        NumberField("remind_every_days", t("training.start.remind_every_days"), initial=7, minimum=1, maximum=60),
        NumberField("max_reminders", t("training.start.max_reminders"), initial=3, minimum=0, maximum=10),
        TextField("exempt", t("training.start.exempt"), multiline=True, optional=True, max_length=3000,
                  hint=t("training.start.exempt_hint")),
    ))


def parse_start(svc: Services, lang: str, values: dict[str, Any]) -> CampaignSettings | FormErrors:
    errors: dict[str, str] = {}
    e = lambda field, key, **kw: errors.setdefault(field, svc.texts.t(lang, f"training.error.{key}", **kw))  # noqa: E731
    courses = tuple(c.strip(" •-\t") for c in (values.get("courses") or "").splitlines() if c.strip(" •-\t"))
    if not courses:
        e("courses", "courses_required")
    deadline = values.get("deadline")
    if deadline is None:
        e("deadline", "deadline_required")
    elif deadline < _today(svc):
        e("deadline", "deadline_past")
    numbers = {}
    for field, low, high in (("joiner_days", 1, 365), ("remind_every_days", 1, 60), ("max_reminders", 0, 10)):
        try:
            numbers[field] = int(str(values.get(field)).strip())
            if not low <= numbers[field] <= high:
                e(field, "between", low=low, high=high)
        except ValueError:
            e(field, "not_a_number")
    emails = tuple(w.strip().lower() for w in (values.get("exempt") or "").replace(",", "\n").splitlines() if w.strip())
    bad = [m for m in emails if "@" not in m]
    if bad:
        e("exempt", "bad_emails", emails=", ".join(bad))
    if errors:
        return FormErrors(errors)
    return CampaignSettings(courses, deadline, numbers["joiner_days"], numbers["remind_every_days"],
                            numbers["max_reminders"], emails)


async def start_campaign(svc: Services, org_id: int, settings: CampaignSettings, *,
                         started_by: int | None) -> Started | FormErrors:
    """Create this year's campaign and its audience. The prompts go out with the next tick."""
    now, year = svc.clock.now(), _year(svc)
    async with svc.db.transaction() as session:
        existing = await store.campaign_for(session, org_id, year)
        if existing is not None:
            return Started(existing, 0, 0, created=False)
        exempt: set[int] = set()
        unknown = []
        for email in settings.exempt_emails:
            person = await person_by_email(session, org_id, email)
            if person is None:
                unknown.append(email)
            else:
                exempt.add(person.id)
        if unknown:
            lang = svc.org_lang
            return FormErrors({"exempt": svc.texts.t(lang, "training.error.unknown_emails", emails=", ".join(unknown))})
        campaign = TrainingCampaign(org_id=org_id, year=year, courses=list(settings.courses), deadline=settings.deadline,
                                    joiner_days=settings.joiner_days, remind_every_days=settings.remind_every_days,
                                    max_reminders=settings.max_reminders, status="active", started_at=now,
                                    started_by=started_by)
        session.add(campaign)
        await session.flush()
        people = await store.audience(session, org_id)
        await store.add_assignments(session, campaign, people, deadline_for=lambda p: settings.deadline, now=now,
                                    exempt=exempt, exempt_reason=svc.texts.t(svc.org_lang, "training.exempt_at_start"))
    return Started(campaign, len(people), len(exempt), created=True)


# ---- the minute tick --------------------------------------------------------------------


async def tick(svc: Services) -> None:
    now = svc.clock.now()
    await _autostart(svc)
    async with svc.db.transaction() as session:
        campaigns = await store.active_campaigns(session)
    for campaign in campaigns:
        await _add_joiners(svc, campaign, now)
        await _send_due(svc, campaign, now)
    svc.wake_delivery()


async def _autostart(svc: Services) -> None:
    """LISBOT_TRAINING_AUTOSTART (MM-DD): from that date each year, the year's campaign starts itself, once. A
    campaign started by hand, by an earlier tick or by another replica wins; a bot that was down on the day
    starts it on its first tick after."""
    when = svc.settings.training_autostart
    today = _today(svc)
    if not when or (today.month, today.day) < tuple(int(part) for part in when.split("-")):
        return
    async with svc.db.transaction() as session:
        org_ids = await store.organisations_without_campaign(session, today.year)
    if not org_ids:
        return
    courses = svc.settings.training_autostart_courses or tuple(
        c.strip(" •-\t") for c in svc.texts.t(svc.org_lang, "training.start.default_courses").splitlines()
        if c.strip(" •-\t"))
    settings = CampaignSettings(courses, today + timedelta(days=svc.settings.training_deadline_days))
    for org_id in org_ids:
        try:
            started = await start_campaign(svc, org_id, settings, started_by=None)
        except IntegrityError:
            continue  # another replica started it in the same moment: one campaign a year
        if isinstance(started, Started) and started.created:
            log.info("training: the %s campaign started itself for organisation %s (%s people)", today.year,
                     org_id, started.audience)


async def _add_joiners(svc: Services, campaign: TrainingCampaign, now: datetime) -> None:
    """People who joined after the start get the prompt with their own deadline."""
    async with svc.db.transaction() as session:
        joiners = await store.people_without_assignment(session, campaign)
        if joiners:
            today = _today(svc)

            def deadline_for(person: Person) -> date:
                start = max(person.start_date or today, today)
                return max(campaign.deadline, start + timedelta(days=campaign.joiner_days))
            await store.add_assignments(session, campaign, joiners, deadline_for=deadline_for, now=now)


PROMPT_CHUNK = 500  # prompts queued per transaction: a campaign to 50,000 never holds the database for long


async def _send_due(svc: Services, campaign: TrainingCampaign, now: datetime) -> None:
    """Queue every due prompt and reminder, a chunk per transaction, waking the sender after each; then tell
    managers about those who never answered."""
    build = _PromptBuilder(svc, campaign, now)
    escalate: list[int] = []
    after = 0
    while True:
        async with svc.db.transaction() as session:
            due = await store.due_prompt_rows(session, campaign.id, now, after=after, limit=PROMPT_CHUNK)
            if not due:
                break
            after = due[-1].id
            messages, marks = [], []
            for row in due:
                if row.reminders_sent < 1 + campaign.max_reminders:
                    messages.append(build.outbox_row(row))
                    # One wait per prompt; after the last one, the same wait before the manager is told.
                    marks.append({"b_id": row.id, "b_sent": row.reminders_sent + 1, "b_now": now,
                                  "b_next": build.next_reminder(row)})
                else:
                    escalate.append(row.id)
            await enqueue_many(session, messages, now)
            await store.set_reminded(session, marks)
        svc.wake_delivery()
    if escalate:
        await _tell_managers(svc, campaign, escalate, now)


class _PromptBuilder:
    """Outbox rows for prompts: the message is built once per language, deadline and kind, and each row only
    gets its own button value (50,000 prompts would otherwise render 50,000 times)."""

    def __init__(self, svc: Services, campaign: TrainingCampaign, now: datetime) -> None:
        self.svc, self.campaign, self.now = svc, campaign, now
        self._messages: dict[tuple, dict] = {}
        self._not_before: dict[str, datetime] = {}

        self._next_reminder: dict[str, datetime] = {}

    def tz(self, row) -> str:
        return row.tz or self.svc.settings.timezone

    def next_reminder(self, row) -> datetime:
        tz = self.tz(row)
        if tz not in self._next_reminder:
            self._next_reminder[tz] = add_working_days(self.now, self.campaign.remind_every_days, tz)
        return self._next_reminder[tz]

    def outbox_row(self, row) -> dict:
        lang, tz, reminder = language_of(row.locale, self.svc.org_lang), self.tz(row), row.reminders_sent > 0
        key = (lang, row.deadline, reminder)
        template = self._messages.get(key)
        if template is None:
            template = self._messages[key] = _prompt(self.svc, lang, self.campaign, "", row.deadline,
                                                     reminder=reminder).to_dict()
        if tz not in self._not_before:
            self._not_before[tz] = next_working_time(self.now, tz)
        value = str(row.id)
        blocks = [{**b, "buttons": [{**button, "value": value} for button in b["buttons"]]} if b["type"] == "buttons"
                  else b for b in template["blocks"]]
        return {"org_id": row.org_id, "dedupe_key": f"training:{row.id}:prompt:{row.reminders_sent}",
                "recipient_kind": "person", "recipient": str(row.person_id),
                "payload": {"message": {"text": template["text"], "blocks": blocks}},
                "not_before": self._not_before[tz]}


async def _tell_managers(svc: Services, campaign: TrainingCampaign, assignment_ids: list[int], now: datetime) -> None:
    """People asked as many times as the campaign allows: their manager gets one list of them."""
    async with svc.db.transaction() as session:
        unanswered_by_manager: dict[int, list[TrainingAssignment]] = {}
        for assignment_id in assignment_ids:
            assignment = await session.get(TrainingAssignment, assignment_id)
            person = await session.get(Person, assignment.person_id)
            assignment.next_reminder_at = None
            assignment.manager_told_at = now
            assignment.updated_at = now
            if person.manager_id:
                unanswered_by_manager.setdefault(person.manager_id, []).append(assignment)
            # Without a manager the coordinators see them in the status views; nobody is dropped.
        for manager_id, assignments in unanswered_by_manager.items():
            manager = await session.get(Person, manager_id)
            people = {a.id: await session.get(Person, a.person_id) for a in assignments}
            await notify.to_person(session, svc, manager, f"training:{campaign.id}:manager:{manager_id}:{now.isoformat()}",
                                   lambda lang, tz: manager_message(svc, lang, campaign, assignments, people),
                                   working_hours=True, now=now)
    svc.wake_delivery()


# ---- messages -------------------------------------------------------------------------


def prompt_message(svc: Services, lang: str, campaign: TrainingCampaign, assignment: TrainingAssignment, *,
                   reminder: bool) -> Message:
    return _prompt(svc, lang, campaign, str(assignment.id), assignment.deadline, reminder=reminder)


def _prompt(svc: Services, lang: str, campaign: TrainingCampaign, value: str, deadline: date, *,
            reminder: bool) -> Message:
    t = svc.texts.t
    courses = "\n".join(f"• {c}" for c in campaign.courses)
    return Message(t(lang, "training.prompt.summary_reminder" if reminder else "training.prompt.summary",
                     year=campaign.year), (
        Header(t(lang, "training.prompt.header", year=campaign.year)),
        Text(t(lang, "training.prompt.reminder" if reminder else "training.prompt.text", courses=courses,
               deadline=deadline.isoformat())),
        Buttons((Button(DONE, t(lang, "training.prompt.done"), value, "primary"),
                 Button(NOT_YET, t(lang, "training.prompt.not_yet"), value),
                 Button(NOT_APPLICABLE, t(lang, "training.prompt.not_applicable"), value))),
    ))


def manager_message(svc: Services, lang: str, campaign: TrainingCampaign, assignments: list[TrainingAssignment],
                    people: dict[int, Person]) -> Message:
    t = svc.texts.t
    blocks: list = [Header(t(lang, "training.manager.header", year=campaign.year)),
                    Text(t(lang, "training.manager.text", count=len(assignments)))]
    for a in assignments[:MANAGER_LIST_MAX]:
        person = people[a.id]
        blocks.append(Text(t(lang, "training.manager.person", name=person.name or person.email or "–",
                             deadline=a.deadline.isoformat())))
        blocks.append(Buttons((Button(NUDGE, t(lang, "training.manager.nudge"), str(a.id)),
                               Button(CONFIRM_FOR, t(lang, "training.manager.confirm_for"), str(a.id)))))
    if len(assignments) > MANAGER_LIST_MAX:
        blocks.append(Note(t(lang, "training.manager.more", count=len(assignments) - MANAGER_LIST_MAX)))
    return Message(t(lang, "training.manager.summary", count=len(assignments), year=campaign.year), tuple(blocks))


def _answered(svc: Services, lang: str, key: str, **params) -> Message:
    return Message(svc.texts.t(lang, key, **params), (Text(svc.texts.t(lang, key, **params)),))


# ---- answers --------------------------------------------------------------------------


async def _own(session: AsyncSession, actor: Actor, assignment_id: int) -> tuple[TrainingAssignment, TrainingCampaign] | None:
    assignment = await store.get_assignment(session, assignment_id)
    if assignment is None or assignment.person_id != actor.person_id:
        return None
    return assignment, await session.get(TrainingCampaign, assignment.campaign_id)


async def answer(svc: Services, actor: Actor, action: str, assignment_id: int) -> Form | Message:
    """A button on the prompt: a form (done: when; not applicable: why) or, for not yet, the reply itself."""
    lang, t = actor.lang, lambda key, **kw: svc.texts.t(actor.lang, key, **kw)  # noqa: E731
    async with svc.db.transaction() as session:
        own = await _own(session, actor, assignment_id)
        if own is None:
            return _answered(svc, lang, "training.not_yours")
        assignment, campaign = own
        if assignment.status == store.DONE:
            return _answered(svc, lang, "training.answered.already_done", on=assignment.completed_on.isoformat())
        if action == NOT_YET:
            now = svc.clock.now()
            assignment.status = "not_yet"
            assignment.next_reminder_at = add_working_days(now, campaign.remind_every_days, actor.tz)
            assignment.updated_at = now
            return _answered(svc, lang, "training.answered.not_yet",
                             next=assignment.next_reminder_at.astimezone(svc.org_tz).date().isoformat())
    meta = {"assignment": assignment_id}
    if action == DONE:
        return Form(id=DONE_FORM, title=t("training.done_form.title"), submit=t("training.done_form.submit"),
                    close=t("common.close"), metadata=meta,
                    fields=(DateField("completed_on", t("training.done_form.completed_on"), initial=_today(svc)),))
    return Form(id=EXEMPT_FORM, title=t("training.exempt_form.title"), submit=t("training.exempt_form.submit"),
                close=t("common.close"), metadata=meta, intro=t("training.exempt_form.intro"),
                fields=(TextField("reason", t("training.exempt_form.reason"), multiline=True, max_length=1000),))


async def submit(svc: Services, actor: Actor, form_id: str, metadata: dict[str, Any],
                 values: dict[str, Any]) -> FormErrors | Screen:
    lang = actor.lang
    t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
    if form_id == START_FORM:
        return await _submit_start(svc, actor, values)
    errors: dict[str, str] = {}
    completed_on = values.get("completed_on")
    if form_id in (DONE_FORM, CONFIRM_FORM):
        if completed_on is None:
            errors["completed_on"] = t("training.error.date_required")
        elif completed_on > _today(svc):
            errors["completed_on"] = t("training.error.date_future")
        elif completed_on.year < _year(svc) - 1:
            errors["completed_on"] = t("training.error.date_old")
    if form_id == EXEMPT_FORM and not (values.get("reason") or "").strip():
        errors["reason"] = t("training.error.reason_required")
    if errors:
        return FormErrors(errors)
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        assignment = await store.get_assignment(session, int(metadata.get("assignment", 0)))
        if assignment is None:
            return _screen(svc, lang, "training.not_yours")
        person = await session.get(Person, assignment.person_id)
        if form_id == CONFIRM_FORM:
            if not await _is_manager_of(session, actor, person):
                return _screen(svc, lang, "training.manager.denied")
            await store.record_completion(session, assignment, completed_on=completed_on, source="manager",
                                          recorded_by=actor.person_id, now=now)
            await notify.to_person(session, svc, person, f"training:{assignment.id}:confirmed_by_manager",
                                   lambda lang_, tz: _answered(svc, lang_, "training.answered.confirmed_for_you",
                                                               on=completed_on.isoformat()))
            svc.wake_delivery()
            return _screen(svc, lang, "training.manager.confirmed", name=person.name or person.email or "")
        if assignment.person_id != actor.person_id:
            return _screen(svc, lang, "training.not_yours")
        if form_id == DONE_FORM:
            await store.record_completion(session, assignment, completed_on=completed_on, source="self",
                                          recorded_by=actor.person_id, now=now)
            return _screen(svc, lang, "training.answered.done", on=completed_on.isoformat())
        assignment.status = "exemption_requested"
        assignment.exemption_reason = values["reason"].strip()
        assignment.next_reminder_at = None
        assignment.updated_at = now
        manager = await session.get(Person, person.manager_id) if person.manager_id else None
        if manager is not None:
            await notify.to_person(session, svc, manager, f"training:{assignment.id}:exemption:{now.isoformat()}",
                                   lambda lang_, tz: _exemption_request(svc, lang_, assignment, person))
        else:
            for coordinator in await _coordinators(session, person.org_id):
                await notify.to_person(session, svc, coordinator,
                                       f"training:{assignment.id}:exemption:{now.isoformat()}:{coordinator.id}",
                                       lambda lang_, tz: _exemption_request(svc, lang_, assignment, person))
    svc.wake_delivery()
    return _screen(svc, lang, "training.answered.exemption_requested")


async def _submit_start(svc: Services, actor: Actor, values: dict[str, Any]) -> FormErrors | Screen:
    if not await may_run_campaigns(svc, actor):
        return _screen(svc, actor.lang, "training.start.denied")
    parsed = parse_start(svc, actor.lang, values)
    if isinstance(parsed, FormErrors):
        return parsed
    result = await start_campaign(svc, actor.org_id, parsed, started_by=actor.person_id)
    if isinstance(result, FormErrors):
        return result
    if not result.created:
        return _screen(svc, actor.lang, "training.start.already", year=result.campaign.year)
    await tick(svc)
    return _screen(svc, actor.lang, "training.start.started", year=result.campaign.year, count=result.audience,
                   exempt=result.exempt)


def _screen(svc: Services, lang: str, key: str, **params) -> Screen:
    return Screen(title=svc.texts.t(lang, "training.title"), close=svc.texts.t(lang, "common.close"),
                  blocks=(Text(svc.texts.t(lang, key, **params)),))


async def _coordinators(session: AsyncSession, org_id: int) -> list[Person]:
    return await people_with_role(session, org_id, COORDINATOR)


def _exemption_request(svc: Services, lang: str, assignment: TrainingAssignment, person: Person) -> Message:
    t = svc.texts.t
    text = t(lang, "training.exemption.request", name=person.name or person.email or "–",
             reason=assignment.exemption_reason or "")
    return Message(t(lang, "training.exemption.summary", name=person.name or ""), (
        Text(text),
        Buttons((Button(APPROVE, t(lang, "training.exemption.approve"), str(assignment.id), "primary"),
                 Button(REJECT, t(lang, "training.exemption.reject"), str(assignment.id), "danger"))),
    ))


# ---- managers -----------------------------------------------------------------------------


async def _is_manager_of(session: AsyncSession, actor: Actor, person: Person | None) -> bool:
    if person is None:
        return False
    if person.manager_id == actor.person_id:
        return True
    return COORDINATOR in await roles_of(session, actor.person_id)


async def manager_action(svc: Services, actor: Actor, action: str, assignment_id: int) -> Form | Message:
    lang, t = actor.lang, lambda key, **kw: svc.texts.t(actor.lang, key, **kw)  # noqa: E731
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        assignment = await store.get_assignment(session, assignment_id)
        person = await session.get(Person, assignment.person_id) if assignment else None
        if not await _is_manager_of(session, actor, person):
            return _answered(svc, lang, "training.manager.denied")
        name = person.name or person.email or "–"
        campaign = await session.get(TrainingCampaign, assignment.campaign_id)
        if action == CONFIRM_FOR:
            return Form(id=CONFIRM_FORM, title=t("training.confirm_form.title"), submit=t("training.done_form.submit"),
                        close=t("common.close"), metadata={"assignment": assignment.id},
                        intro=t("training.confirm_form.intro", name=name),
                        fields=(DateField("completed_on", t("training.done_form.completed_on"), initial=_today(svc)),))
        if action == NUDGE:
            await notify.to_person(session, svc, person, f"training:{assignment.id}:nudge:{now.isoformat()}",
                                   lambda lang_, tz: prompt_message(svc, lang_, campaign, assignment, reminder=True),
                                   working_hours=True, now=now)
            svc.wake_delivery()
            return _answered(svc, lang, "training.manager.nudged", name=name)
        if assignment.status != "exemption_requested":
            return _answered(svc, lang, "training.exemption.already", name=name)
        approved = action == APPROVE
        assignment.exemption_decided_by = actor.person_id
        assignment.status = store.EXEMPT if approved else "pending"
        assignment.exemption_rejected = not approved
        assignment.next_reminder_at = None if approved else add_working_days(now, campaign.remind_every_days,
                                                                              person.tz or svc.settings.timezone)
        assignment.updated_at = now
        key = "training.exemption.approved_you" if approved else "training.exemption.rejected_you"
        await notify.to_person(session, svc, person, f"training:{assignment.id}:exemption_decided:{now.isoformat()}",
                               lambda lang_, tz: _answered(svc, lang_, key))
    svc.wake_delivery()
    return _answered(svc, lang, "training.exemption.approved" if approved else "training.exemption.rejected",
                     name=name)


# ---- status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    audience: int = 0
    done: int = 0
    exempt: int = 0
    waiting: int = 0  # pending, not yet, exemption requested

    @property
    def share_done(self) -> float:
        """Completion among those who must do it: the exempt are out of the denominator."""
        required = self.audience - self.exempt
        return self.done / required if required else 0.0


def _tally(statuses: list[tuple[str, int]]) -> Tally:
    counts: dict[str, int] = {}
    for status, n in statuses:
        counts[status] = counts.get(status, 0) + n
    total = sum(counts.values())
    done, exempt = counts.get(store.DONE, 0), counts.get(store.EXEMPT, 0)
    return Tally(total, done, exempt, total - done - exempt)


async def department_tallies(session: AsyncSession, campaign_id: int) -> dict[str | None, Tally]:
    by_dept: dict[str | None, list[tuple[str, int]]] = {}
    for name, status, count in await store.department_summary(session, campaign_id):
        by_dept.setdefault(name, []).append((status, count))
    return {name: _tally(rows) for name, rows in sorted(by_dept.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))}


async def status_screen(svc: Services, actor: Actor) -> Screen:
    """A manager sees their people; a coordinator every department."""
    lang, t = actor.lang, lambda key, **kw: svc.texts.t(actor.lang, key, **kw)  # noqa: E731
    year = _year(svc)
    async with svc.db.transaction() as session:
        campaign = await store.campaign_for(session, actor.org_id, year)
        if campaign is None:
            return _screen(svc, lang, "training.status.no_campaign", year=year)
        blocks: list = [Header(t("training.status.header", year=year)),
                        Note(t("training.status.courses", courses=", ".join(campaign.courses),
                               deadline=campaign.deadline.isoformat()))]
        if COORDINATOR in await roles_of(session, actor.person_id):
            tallies = await department_tallies(session, campaign.id)
            total = _tally([(s, n) for name, s, n in await store.department_summary(session, campaign.id)])
            blocks.append(Text(tally_line(svc, lang, t("training.status.everyone"), total)))
            lines = [tally_line(svc, lang, name or t("training.status.no_department"), tally)
                     for name, tally in tallies.items()]
            blocks += [Text("\n".join(lines[i:i + 20])) for i in range(0, len(lines), 20)]
        team = await store.team_assignments(session, campaign.id, manager_id=actor.person_id)
        if team:
            blocks.append(Header(t("training.status.team")))
            blocks.append(Text(tally_line(svc, lang, t("training.status.your_people"),
                                          _tally([(a.status, 1) for a, _ in team]))))
            lines = [t("training.status.person", name=p.name or p.email or "–",
                       status=t(f"training.state.{a.status}"),
                       on=a.completed_on.isoformat() if a.completed_on else "") for a, p in team]
            blocks += [Text("\n".join(lines[i:i + 25])) for i in range(0, len(lines), 25)]
        if len(blocks) == 2:
            blocks.append(Text(t("training.status.nothing_to_show")))
    return Screen(title=t("training.title"), close=t("common.close"), blocks=tuple(blocks[:100]))


def tally_line(svc: Services, lang: str, label: str, tally: Tally) -> str:
    return svc.texts.t(lang, "training.status.line", label=label, done=tally.done,
                       required=tally.audience - tally.exempt, share=round(100 * tally.share_done),
                       exempt=tally.exempt, waiting=tally.waiting)


async def status_report(svc: Services, org_id: int, lang: str, year: int | None = None) -> str:
    """`lisbot training status`: the coordinator's view as plain text."""
    year = year or _year(svc)
    t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
    async with svc.db.transaction() as session:
        campaign = await store.campaign_for(session, org_id, year)
        if campaign is None:
            return t("training.status.no_campaign", year=year)
        rows = await store.department_summary(session, campaign.id)
        tallies = await department_tallies(session, campaign.id)
    lines = [t("training.status.header", year=year),
             t("training.status.courses", courses=", ".join(campaign.courses), deadline=campaign.deadline.isoformat()),
             tally_line(svc, lang, t("training.status.everyone"), _tally([(s, n) for _, s, n in rows]))]
    lines += ["  " + tally_line(svc, lang, name or t("training.status.no_department"), tally)
              for name, tally in tallies.items()]
    return "\n".join(lines)


async def state_message(svc: Services, lang: str, assignment_id: int) -> Message | None:
    """What the prompt a person answered should now say, in place of its buttons."""
    async with svc.db.transaction() as session:
        assignment = await store.get_assignment(session, assignment_id)
    if assignment is None:
        return None
    if assignment.status == store.DONE:
        return _answered(svc, lang, "training.answered.done", on=assignment.completed_on.isoformat())
    if assignment.status == "exemption_requested":
        return _answered(svc, lang, "training.answered.exemption_requested")
    return None


# ---- completions from the e-learning platform ------------------------------------------------

COMPLETION_COLUMNS = (
    Column("email", aliases=("e-post", "e-postadress", "epost", "mejl", "mail", "e-mail"), required=True,
           parse=parse_email),
    Column("completed_on", aliases=("datum", "slutförd", "slutfört", "genomförd", "genomfört", "klar", "completed",
                                    "completion date", "date"), required=True, parse=parse_date),
    Column("course", aliases=("kurs", "utbildning", "kursnamn", "course name")),
)


@dataclass(frozen=True)
class CompletionImport:
    imported: int
    unknown: int  # e-mail addresses not in this year's audience
    problems: tuple[str, ...]  # every bad row or file problem, in the reader's language
    stored: bool


async def import_completions(svc: Services, org_id: int, data: bytes, lang: str, *,
                             import_good_rows: bool = False) -> CompletionImport:
    """A file exported from the e-learning platform: stronger evidence than a person's own word. A file
    with problems imports nothing unless the good rows are asked for."""
    table = read_table(data, COMPLETION_COLUMNS)
    problems = tuple([file_error_text(svc, lang, e) for e in table.file_errors] +
                     [problem_text(svc, lang, e, table.headers) for e in table.errors])
    if table.file_errors or (table.errors and not import_good_rows):
        return CompletionImport(0, 0, problems, stored=False)
    now, year = svc.clock.now(), _year(svc)
    imported = unknown = 0
    async with svc.db.transaction() as session:
        campaign = await store.campaign_for(session, org_id, year)
        if campaign is None:
            return CompletionImport(0, 0, (svc.texts.t(lang, "training.import.no_campaign", year=year),), stored=False)
        for row in table.rows:
            person = await person_by_email(session, org_id, row["email"])
            assignment = await store.assignment_of(session, campaign.id, person.id) if person else None
            if assignment is None:
                unknown += 1
                continue
            await store.record_completion(session, assignment, completed_on=row["completed_on"], source="import",
                                          recorded_by=None, now=now, course=row.get("course"))
            imported += 1
    return CompletionImport(imported, unknown, problems, stored=True)
