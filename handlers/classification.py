"""Rounds of information classification: object owners are asked, one message each, to review their assets'
KLASSA classification, action plan and continuity plan. Platform-neutral.

A round starts when a coordinator starts one (chat or command line), or on the schedule: every day the tick
looks for active assets whose next review falls within the notice period (or has passed, or that were never
classified) and that no running round asks about, and starts one round for them (at most one a day per
organisation, so after downtime it catches up once). A request left unanswered after its round's due date and
its reminders does not keep the asset out of later rounds (see _still_asked). Each reachable owner gets one message listing their
assets in the round; reminders follow in their working hours, at most the configured number, and then one
escalation to the coordinators lists what is still unanswered. Assets without an owner, and owners who have
left or are not on the chat platform, are listed for the coordinators when the round starts.

A review stores a NEW classification (the old ones stay as history), updates the action plan and the
continuity plan, and answers every open request for the asset (on time when before the round's due date).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import (
    Actor, Block, Button, Buttons, ChoiceField, DateField, Divider, Form, FormErrors, Header, Message, Note, Option,
    PersonField, Screen, Text, TextField,
)
from handlers import notify
from handlers.access import COORDINATOR
from handlers.assets import (
    EDIT_ACTION, NEW_ASSET_ACTION, OPEN_ACTION, REVIEW_ACTION, REVIEW_FORM, START_ACTION, START_FORM, AssetFacts,
    asset_text, facts_of, levels_text, may_edit, may_manage, next_exercise, notice_screen, today_of,
)
from handlers.calendar import add_working_days, next_working_time
from handlers.coverage import ASPECTS, Coverage, Gap, Rules, coverage, gaps, reachable, state_of
from handlers.services import Services
from handlers.tabular import InvalidValue, parse_date
from storage import assets as store
from storage.directory import people_with_role
from storage.models import ActionItem, Asset, ClassificationRound, Person, ProcessedEvent, RoundRequest
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

LEVELS = ("0", "1", "2", "3", "4")
STATUSES = store.ACTION_STATUSES
IN_MESSAGE = 22  # assets listed in one message: two blocks each, under Slack's 50
IN_SCREEN = 40  # two blocks each, under a modal's 100
IN_LIST = 15  # assets with a button in each of the coordinators' lists
ACTIONS_IN_FORM = 30
REQUIREMENT_MAX = 1000


def _t(svc: Services, lang: str) -> Callable[..., str]:
    return lambda key, **kw: svc.texts.t(lang, f"classification.{key}", **kw)


def button_target(value: str) -> tuple[int, int]:
    """A review button's value: "asset" or "asset:round"."""
    asset, _, round_id = (value or "").partition(":")
    try:
        return int(asset), int(round_id or 0)
    except ValueError:
        return 0, 0


# ---- starting a round -------------------------------------------------------------------------


@dataclass
class RoundStarted:
    round_id: int | None = None
    due: date | None = None
    asked: int = 0  # assets in the new round
    owners: int = 0  # owners sent a message
    already_open: int = 0  # assets left out: an earlier round still asks about them
    gaps: list[Gap] = field(default_factory=list)  # assets in the round that nobody can be asked about


async def start_round(svc: Services, org_id: int, *, kind: str = "manual", started_by: int | None = None,
                      due: date | None = None, asset_ids: set[int] | None = None) -> RoundStarted:
    async with svc.db.transaction() as session:
        result = await _start(session, svc, org_id, kind=kind, started_by=started_by, due=due, asset_ids=asset_ids)
    svc.wake_delivery()
    return result


async def _start(session: AsyncSession, svc: Services, org_id: int, *, kind: str, started_by: int | None,
                 due: date | None, asset_ids: set[int] | None) -> RoundStarted:
    now, today = svc.clock.now(), today_of(svc)
    await store.lock_assets(session, org_id)
    assets = [a for a in await store.assets_of(session, org_id) if asset_ids is None or a.id in asset_ids]
    asked = await _still_asked(session, svc, org_id, [a.id for a in assets], today, scheduled=kind == "scheduled")
    todo = [a for a in assets if a.id not in asked]
    result = RoundStarted(already_open=len(assets) - len(todo))
    if not todo:
        return result
    due = due or today + timedelta(days=svc.settings.classification_answer_days)
    round_ = await store.create_round(session, org_id, kind=kind, due=due, started_by=started_by, now=now)
    owners = await store.people_by_ids(session, (a.owner_id for a in todo))
    reached: dict[int, Person] = {}
    for asset in todo:
        owner = owners.get(asset.owner_id) if asset.owner_id else None
        first_reminder = None
        if reachable(owner):
            reached[owner.id] = owner
            first_reminder = _next_reminder(svc, owner, now)
        else:
            result.gaps.append(_gap(asset, owner))
        session.add(RoundRequest(round_id=round_.id, asset_id=asset.id, owner_id=asset.owner_id, reminders_sent=0,
                                 next_reminder_at=first_reminder))
    await session.flush()
    for owner in reached.values():
        await _prompt(session, svc, round_, owner, key=_prompt_key(round_.id, owner.id), reminder=False, now=now)
    if result.gaps:
        await _tell_coordinators(session, svc, org_id, f"round:{round_.id}:unreachable",
                                 lambda lang: gaps_message(svc, lang, round_, result.gaps))
    result.round_id, result.due, result.asked, result.owners = round_.id, due, len(todo), len(reached)
    return result


async def hand_over(session: AsyncSession, svc: Services, asset: Asset, now: datetime) -> None:
    """The asset has a new owner: open requests follow it, and the new owner is asked at once. Without anyone
    to ask, the next tick tells the coordinators."""
    owner = await session.get(Person, asset.owner_id) if asset.owner_id else None
    for request in await store.open_requests(session, asset.org_id, [asset.id]):
        request.owner_id, request.reminders_sent = asset.owner_id, 0
        if reachable(owner):
            round_ = await session.get(ClassificationRound, request.round_id)
            await session.flush()
            await _prompt(session, svc, round_, owner, key=f"{_prompt_key(round_.id, owner.id)}:asset:{asset.id}",
                          reminder=False, now=now)
            request.next_reminder_at = _next_reminder(svc, owner, now)
        else:
            request.next_reminder_at = now


async def _still_asked(session: AsyncSession, svc: Services, org_id: int, asset_ids: list[int], today: date, *,
                       scheduled: bool) -> set[int]:
    """Assets an earlier round still asks about: reminders are running, or its due date has not passed. A request
    that lapsed (past due, reminders over, escalated) does not keep the asset out of a new round for ever: a
    coordinator's round asks again at once, the schedule once a notice period has gone by after the due date
    (so an asset nobody can answer for is listed for the coordinators again every few weeks, not every day)."""
    grace = timedelta(days=svc.settings.classification_notice_days if scheduled else 0)
    requests = await store.open_requests(session, org_id, asset_ids)
    rounds = {r.id: r for r in await store.rounds_with_ids(session, {r.round_id for r in requests})}
    return {r.asset_id for r in requests if r.next_reminder_at is not None or rounds[r.round_id].due + grace >= today}


def _gap(asset: Asset, owner: Person | None) -> Gap:
    if owner is None:
        return Gap(asset.id, asset.name, "no_owner")
    return Gap(asset.id, asset.name, "left" if not owner.active else "not_in_chat", owner.name, owner.email)


def _prompt_key(round_id: int, owner_id: int) -> str:
    return f"round:{round_id}:owner:{owner_id}"


def _next_reminder(svc: Services, owner: Person, now: datetime) -> datetime:
    tz = owner.tz or svc.settings.timezone
    return add_working_days(next_working_time(now, tz), svc.settings.classification_remind_working_days, tz)


# ---- the minute tick ---------------------------------------------------------------------------


async def tick(svc: Services) -> None:
    today = today_of(svc)
    async with svc.db.transaction() as session:
        orgs = await store.org_ids_with_assets(session)
    for org_id in orgs:
        await _scheduled_round(svc, org_id, today)
    await _remind(svc, svc.clock.now())
    svc.wake_delivery()


async def _scheduled_round(svc: Services, org_id: int, today: date) -> None:
    horizon = today + timedelta(days=svc.settings.classification_notice_days)
    async with svc.db.transaction() as session:
        due = {a.id for a in await store.assets_of(session, org_id)
               if a.next_review is None or a.next_review <= horizon}
        if not due or due <= await _still_asked(session, svc, org_id, list(due), today, scheduled=True):
            return
        # One scheduled round a day at most: after downtime the bot catches up once.
        if not await insert_ignore(session, ProcessedEvent, {"event_id": f"classification:scheduled:{org_id}:{today}",
                                                             "received_at": svc.clock.now()}, ["event_id"]):
            return
        started = await _start(session, svc, org_id, kind="scheduled", started_by=None, due=None, asset_ids=due)
    log.info("classification: scheduled round %s for %d assets", started.round_id, started.asked)


async def _remind(svc: Services, now: datetime) -> None:
    settings = svc.settings
    async with svc.db.transaction() as session:
        groups: dict[tuple[int, int | None], list[RoundRequest]] = defaultdict(list)
        for request in await store.due_requests(session, now):
            groups[(request.round_id, request.owner_id)].append(request)
        rounds: dict[int, ClassificationRound] = {}
        escalate: dict[int, list[tuple[RoundRequest, str]]] = defaultdict(list)
        for (round_id, owner_id), requests in groups.items():
            round_ = rounds.setdefault(round_id, await session.get(ClassificationRound, round_id))
            owner = await session.get(Person, owner_id) if owner_id else None
            key = _prompt_key(round_id, owner_id or 0)
            status = await store.outbox_status(session, round_.org_id, key)
            sent = max(r.reminders_sent for r in requests)
            if reachable(owner) and status is None:
                # Handed over to them during the round: their first message, not a reminder.
                await _prompt(session, svc, round_, owner, key=key, reminder=False, now=now)
                next_at = _next_reminder(svc, owner, now)
                for r in requests:
                    r.next_reminder_at = next_at
            elif reachable(owner) and status != "failed" and sent < settings.classification_max_reminders:
                await _prompt(session, svc, round_, owner, key=f"{key}:reminder:{sent + 1}", reminder=True, now=now)
                next_at = _next_reminder(svc, owner, now)
                for r in requests:
                    r.reminders_sent, r.next_reminder_at = sent + 1, next_at
            else:
                reason = "no_answer" if reachable(owner) and status != "failed" else "unreachable"
                for r in requests:
                    r.next_reminder_at = None
                    escalate[round_id].append((r, reason))
        for round_id, entries in escalate.items():
            await _escalate(session, svc, rounds[round_id], entries)


async def _escalate(session: AsyncSession, svc: Services, round_: ClassificationRound,
                    entries: list[tuple[RoundRequest, str]]) -> None:
    """One message per batch: each request escalates once, so the first request names the batch."""
    assets = {a.id: a for a in await store.assets_with_ids(session, round_.org_id, [r.asset_id for r, _ in entries],
                                                             active=None)}
    owners = await store.people_by_ids(session, (r.owner_id for r, _ in entries))
    lines = [(assets[r.asset_id].name, owners.get(r.owner_id) if r.owner_id else None, reason)
             for r, reason in entries if r.asset_id in assets]
    reminders = svc.settings.classification_max_reminders
    await _tell_coordinators(session, svc, round_.org_id,
                             f"round:{round_.id}:escalation:{min(r.id for r, _ in entries)}",
                             lambda lang: escalation_message(svc, lang, round_, lines, reminders))


async def _tell_coordinators(session: AsyncSession, svc: Services, org_id: int, key: str,
                             build: Callable[[str], Message]) -> None:
    """To every coordinator, in their working hours; with none, to the security channel; never dropped silently."""
    coordinators = await people_with_role(session, org_id, COORDINATOR)
    for person in coordinators:
        await notify.to_person(session, svc, person, f"{key}:{person.id}", lambda lang, tz: build(lang),
                               working_hours=True)
    if not coordinators and not await notify.to_channel(session, svc, org_id, svc.settings.security_channel,
                                                        f"{key}:channel", build(svc.org_lang)):
        log.warning("classification: no coordinator and no security channel to tell (%s)", key)


# ---- the owner's message -------------------------------------------------------------------------


@dataclass
class OwnerEntry:
    request: RoundRequest
    facts: AssetFacts


async def _owner_entries(session: AsyncSession, round_: ClassificationRound, owner_id: int) -> list[OwnerEntry]:
    requests = await store.requests_of(session, round_.id, owner_id)
    facts = await facts_of(session, await store.assets_with_ids(session, round_.org_id, [r.asset_id for r in requests]))
    entries = [OwnerEntry(r, facts[r.asset_id]) for r in requests if r.asset_id in facts]
    return sorted(entries, key=lambda e: (e.request.answered_at is not None, e.facts.asset.name.casefold()))


async def _prompt(session: AsyncSession, svc: Services, round_: ClassificationRound, owner: Person, *, key: str,
                  reminder: bool, now: datetime) -> None:
    entries = await _owner_entries(session, round_, owner.id)
    if not entries:
        return
    today, rules = today_of(svc), Rules.of(svc.settings)
    await notify.to_person(session, svc, owner, key,
                           lambda lang, tz: owner_message(svc, lang, round_, entries, today, rules, reminder=reminder),
                           working_hours=True, now=now)


def owner_message(svc: Services, lang: str, round_: ClassificationRound, entries: list[OwnerEntry], today: date,
                  rules: Rules, *, reminder: bool = False) -> Message:
    t = _t(svc, lang)
    left = sum(1 for e in entries if e.request.answered_at is None)
    due = round_.due.isoformat()
    if reminder:
        summary, intro = t("prompt.summary_reminder", count=left), t("prompt.reminder", count=left, due=due)
    elif left < len(entries):
        summary = t("prompt.summary_progress", count=left)
        intro = t("prompt.progress", count=left, done=len(entries) - left, due=due)
    else:
        summary, intro = t("prompt.summary", count=len(entries)), t("prompt.text", count=len(entries), due=due)
    blocks: list[Block] = [Header(t("prompt.header")), Text(intro)]
    for entry in entries[:IN_MESSAGE]:
        text = asset_text(svc, lang, entry.facts, today, rules)
        answered = entry.request.answered_at
        if answered is not None:
            text += "\n" + t("prompt.answered", on=answered.astimezone(svc.org_tz).date().isoformat())
        blocks += [Text(text), Buttons((Button(
            REVIEW_ACTION, t("button.review_again" if answered else "button.review"),
            f"{entry.facts.asset.id}:{round_.id}", None if answered else "primary"),))]
    if len(entries) > IN_MESSAGE:
        blocks.append(Note(t("prompt.more", count=len(entries) - IN_MESSAGE)))
    blocks.append(Note(t("prompt.help")))
    return Message(summary, tuple(blocks))


async def owner_message_now(svc: Services, lang: str, round_id: int, owner_id: int) -> Message | None:
    """The owner's message for a round as it stands now: to replace the one they answered from."""
    async with svc.db.transaction() as session:
        round_ = await session.get(ClassificationRound, round_id)
        if round_ is None:
            return None
        entries = await _owner_entries(session, round_, owner_id)
    if not entries:
        return None
    return owner_message(svc, lang, round_, entries, today_of(svc), Rules.of(svc.settings))


def gaps_message(svc: Services, lang: str, round_: ClassificationRound, found: list[Gap]) -> Message:
    t = _t(svc, lang)
    lines = [gap_line(svc, lang, g) for g in found]
    text = "\n".join(lines[:40])
    if len(lines) > 40:
        text += "\n" + t("more", count=len(lines) - 40)
    return Message(t("gaps.summary", count=len(found)), (
        Header(t("gaps.header")), Text(t("gaps.text", count=len(found), started=round_.started_at.astimezone(
            svc.org_tz).date().isoformat())), Text(text), Note(t("gaps.help"))))


def gap_line(svc: Services, lang: str, gap: Gap) -> str:
    t = _t(svc, lang)
    return t(f"gap.{gap.reason}", asset=gap.asset, name=gap.owner_name or "–", email=gap.owner_email or "–")


def escalation_message(svc: Services, lang: str, round_: ClassificationRound,
                       lines: list[tuple[str, Person | None, str]], reminders: int) -> Message:
    t = _t(svc, lang)
    rendered = []
    for asset, owner, reason in lines:
        who = (owner.name or owner.email or "–") if owner else t("escalation.nobody")
        rendered.append(t(f"escalation.{reason}", asset=asset, name=who))
    text = "\n".join(rendered[:40])
    if len(rendered) > 40:
        text += "\n" + t("more", count=len(rendered) - 40)
    started = round_.started_at.astimezone(svc.org_tz).date().isoformat()
    return Message(t("escalation.summary", count=len(lines)), (
        Header(t("escalation.header")),
        Text(t("escalation.text", count=len(lines), started=started, due=round_.due.isoformat(), reminders=reminders)),
        Text(text), Note(t("escalation.help"))))


# ---- the review form --------------------------------------------------------------------------


async def open_review(svc: Services, actor: Actor, asset_id: int, round_id: int = 0) -> Form | Screen:
    async with svc.db.transaction() as session:
        asset = await store.get_asset(session, actor.org_id, asset_id)
        if asset is None or not asset.active or not await may_edit(session, actor, asset):
            return notice_screen(svc, actor.lang, "classification.denied")
        facts = (await facts_of(session, [asset]))[asset.id]
        history = await store.history(session, asset.id)
    return review_form(svc, actor.lang, facts, history, round_id)


def review_form(svc: Services, lang: str, facts: AssetFacts, history: list, round_id: int = 0) -> Form:
    t = _t(svc, lang)
    asset, latest, rules = facts.asset, facts.latest, Rules.of(svc.settings)
    today = today_of(svc)
    levels = tuple(Option(v, t(f"level.{v}")) for v in LEVELS)
    if latest is not None:
        current = t("review.current", levels=levels_text(svc, lang, latest), on=latest.classified_on.isoformat(),
                    method=_method(latest), next=latest.next_review.isoformat())
    else:
        current = t("review.never")
    intro = "\n".join([t("review.intro", asset=asset.name, kind=t(f"kind.{asset.kind}"),
                         department=facts.department or "–"), current, t("review.question")])
    fields: list = [ChoiceField(a, t(f"aspect.{a}"), levels, initial=(str(getattr(latest, a)),) if latest else (),
                                hint=t(f"aspect_hint.{a}")) for a in ASPECTS]
    fields += [
        DateField("classified_on", t("review.classified_on"), initial=today,
                  hint=t("review.classified_on_hint", months=rules.reclassify_months)),
        TextField("method", t("review.method"), max_length=100,
                  initial=(latest.method if latest and latest.method else svc.settings.classification_method)),
        TextField("method_version", t("review.method_version"), optional=True, max_length=50,
                  initial=latest.method_version if latest else None),
    ]
    items = sorted(facts.items, key=lambda i: (i.status not in store.OPEN_ACTION_STATUSES, i.id))[:ACTIONS_IN_FORM]
    statuses = tuple(Option(s, t(f"action_status.{s}")) for s in STATUSES)
    for item in items:
        label = t("review.action", requirement=item.requirement, due=item.due.isoformat() if item.due else "–")
        fields.append(ChoiceField(f"action_{item.id}", label, statuses, initial=(item.status,)))
    fields += [
        TextField("new_actions", t("review.new_actions"), multiline=True, optional=True, max_length=3000,
                  hint=t("review.new_actions_hint")),
        PersonField("new_actions_owner", t("review.new_actions_owner"), optional=True,
                    hint=t("review.new_actions_owner_hint")),
    ]
    plan = facts.plan
    yes_no = tuple(Option(v, t(f"answer.{v}")) for v in ("yes", "no"))
    fields += [
        ChoiceField("continuity_plan", t("review.continuity_plan"), yes_no, optional=True,
                    initial=(("yes",) if plan.has_plan else ("no",)) if plan else (),
                    hint=t("review.continuity_hint", level=rules.continuity_min_availability)),
        DateField("last_exercised", t("review.last_exercised"), optional=True,
                  initial=plan.last_exercised if plan else None),
    ]
    if history:
        intro += "\n" + t("review.history", count=len(history))
    return Form(id=REVIEW_FORM, title=t("review.title"), submit=t("review.submit"),
                close=svc.texts.t(lang, "common.close"), fields=tuple(fields), intro=intro,
                metadata={"asset": asset.id, "round": round_id})


def _method(c) -> str:
    return " ".join(p for p in (c.method, c.method_version) if p) or "–"


def _parse_actions(text: str) -> list[tuple[str, date | None]] | int:
    """One requirement a line, optionally "; due date". Returns the items, or the number of the first bad line."""
    found: list[tuple[str, date | None]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip().lstrip("•-* ").strip()
        if not line:
            continue
        requirement, due = line, None
        head, sep, tail = line.rpartition(";")
        if sep and tail.strip():
            try:
                requirement, due = head.strip(), parse_date(tail)
            except InvalidValue:
                return number
        if not requirement or len(requirement) > REQUIREMENT_MAX:
            return number
        found.append((requirement, due))
    return found


async def submit_review(svc: Services, actor: Actor, metadata: dict[str, Any], values: dict[str, Any], *,
                        submission_key: str) -> FormErrors | Screen:
    lang, t = actor.lang, _t(svc, actor.lang)
    now, today, rules = svc.clock.now(), today_of(svc), Rules.of(svc.settings)
    async with svc.db.transaction() as session:
        asset = await store.get_asset(session, actor.org_id, int(metadata.get("asset") or 0))
        if asset is None or not asset.active or not await may_edit(session, actor, asset):
            return notice_screen(svc, lang, "classification.denied")
        facts = (await facts_of(session, [asset]))[asset.id]
        errors, parsed = _validate_review(svc, lang, values, facts, today, rules)
        owner_id = values.get("new_actions_owner")
        if owner_id and not errors:
            person = await session.get(Person, int(owner_id))
            if person is None or person.org_id != actor.org_id or not person.active:
                errors["new_actions_owner"] = t("error.unknown_person")
        if errors:
            return FormErrors(errors)
        if not await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64], "received_at": now},
                                   ["event_id"]):
            return notice_screen(svc, lang, "classification.review.saved_before")
        await store.lock_assets(session, actor.org_id)
        requests = await store.open_requests(session, actor.org_id, [asset.id])
        previous = facts.latest
        classification = await store.add_classification(
            session, asset, confidentiality=parsed["levels"][0], integrity=parsed["levels"][1],
            availability=parsed["levels"][2], classified_on=parsed["classified_on"],
            next_review=rules.next_review(parsed["classified_on"]), classified_by=actor.person_id,
            method=parsed["method"], method_version=parsed["method_version"],
            source="round" if requests else "edit", round_id=requests[0].round_id if requests else None, now=now)
        for item in facts.items:
            status = values.get(f"action_{item.id}")
            if status in STATUSES and status != item.status:
                item.status, item.updated_at = status, now
        for requirement, due in parsed["new_actions"]:
            session.add(ActionItem(asset_id=asset.id, classification_id=classification.id, requirement=requirement,
                                   owner_id=int(owner_id) if owner_id else asset.owner_id or actor.person_id,
                                   due=due, status="not_started", updated_at=now))
        if parsed["has_plan"] is not None:
            await store.set_continuity(session, asset.id, has_plan=parsed["has_plan"],
                                       last_exercised=parsed["last_exercised"],
                                       next_exercise_due=next_exercise(rules, parsed["has_plan"],
                                                                       parsed["last_exercised"], today), now=now)
        for request in requests:
            request.answered_at, request.next_reminder_at = now, None
        await session.flush()
        after = (await facts_of(session, [asset]))[asset.id]
        count = len(await store.history(session, asset.id))
    blocks: list[Block] = [Text(t("review.saved", asset=asset.name, next=classification.next_review.isoformat())),
                           Text(asset_text(svc, lang, after, today, rules))]
    if previous is not None:
        blocks.append(Note(t("review.kept", on=previous.classified_on.isoformat(), count=count)))
    return Screen(title=t("review.saved_title"), close=svc.texts.t(lang, "common.close"), blocks=tuple(blocks))


def _validate_review(svc: Services, lang: str, v: dict[str, Any], facts: AssetFacts, today: date,
                     rules: Rules) -> tuple[dict[str, str], dict[str, Any]]:
    t = _t(svc, lang)
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for aspect in ASPECTS:
        if v.get(aspect) not in LEVELS:
            errors[aspect] = t("error.choose_level")
    parsed["levels"] = tuple(int(v[a]) if v.get(a) in LEVELS else 0 for a in ASPECTS)
    classified_on = _date(v.get("classified_on"))
    if classified_on is None:
        errors["classified_on"] = t("error.choose_date" if not v.get("classified_on") else "error.invalid_date")
    elif classified_on > today:
        errors["classified_on"] = t("error.in_future")
    elif facts.latest is not None and classified_on < facts.latest.classified_on:
        errors["classified_on"] = t("error.before_previous", on=facts.latest.classified_on.isoformat())
    parsed["classified_on"] = classified_on
    method = " ".join((v.get("method") or "").split())
    if not method:
        errors["method"] = t("error.required")
    elif len(method) > 100:
        errors["method"] = t("error.too_long", max=100)
    version = " ".join((v.get("method_version") or "").split())
    if len(version) > 50:
        errors["method_version"] = t("error.too_long", max=50)
    parsed["method"], parsed["method_version"] = method, version or None
    for item in facts.items:
        status = v.get(f"action_{item.id}")
        if status is not None and status not in STATUSES:
            errors[f"action_{item.id}"] = t("error.choose")
    actions = _parse_actions(v.get("new_actions") or "")
    if isinstance(actions, int):
        errors["new_actions"] = t("error.bad_action_line", line=actions, max=REQUIREMENT_MAX)
        actions = []
    parsed["new_actions"] = actions
    plan = v.get("continuity_plan")
    availability = parsed["levels"][2] if v.get("availability") in LEVELS else -1
    needed = facts.asset.continuity_relevant or availability >= rules.continuity_min_availability
    if plan not in ("yes", "no"):
        plan = None
        if needed:
            errors["continuity_plan"] = t("error.continuity_required", level=rules.continuity_min_availability)
    raw = v.get("last_exercised")
    raw = raw.strip() if isinstance(raw, str) else raw
    exercised = _date(raw) if raw else None
    if raw and exercised is None:
        errors["last_exercised"] = t("error.invalid_date")
    elif exercised is not None and exercised > today:
        errors["last_exercised"] = t("error.in_future")
    elif exercised is not None and plan == "no":
        errors["last_exercised"] = t("error.exercised_without_plan")
    parsed["has_plan"] = None if plan is None else plan == "yes"
    parsed["last_exercised"] = exercised if plan == "yes" else None
    return errors, parsed


def _date(raw: Any) -> date | None:
    """A date picker gives a date; text (the command line, older clients) is read as ÅÅÅÅ-MM-DD."""
    if isinstance(raw, date):
        return raw
    try:
        return parse_date(str(raw or ""))
    except InvalidValue:
        return None


# ---- starting a round from chat ---------------------------------------------------------------


async def open_start(svc: Services, actor: Actor) -> Form | Screen:
    t = _t(svc, actor.lang)
    async with svc.db.transaction() as session:
        if not await may_manage(session, actor):
            return notice_screen(svc, actor.lang, "classification.start.denied")
        assets = await store.assets_of(session, actor.org_id)
        found = await gaps(session, actor.org_id)
    if not assets:
        return notice_screen(svc, actor.lang, "classification.start.no_assets")
    due = today_of(svc) + timedelta(days=svc.settings.classification_answer_days)
    return Form(id=START_FORM, title=t("start.title"), submit=t("start.submit"),
                close=svc.texts.t(actor.lang, "common.close"),
                intro=t("start.intro", count=len(assets), gaps=len(found),
                        reminders=svc.settings.classification_max_reminders,
                        days=svc.settings.classification_remind_working_days),
                fields=(DateField("due", t("start.due"), initial=due),))


async def submit_start(svc: Services, actor: Actor, values: dict[str, Any], *, submission_key: str
                       ) -> FormErrors | Screen:
    t = _t(svc, actor.lang)
    due = _date(values.get("due"))
    if due is None:
        return FormErrors({"due": t("error.choose_date" if not values.get("due") else "error.invalid_date")})
    if due < today_of(svc):
        return FormErrors({"due": t("error.due_in_past")})
    async with svc.db.transaction() as session:
        if not await may_manage(session, actor):
            return notice_screen(svc, actor.lang, "classification.start.denied")
        if not await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64],
                                                             "received_at": svc.clock.now()}, ["event_id"]):
            return notice_screen(svc, actor.lang, "classification.start.saved_before")
        result = await _start(session, svc, actor.org_id, kind="manual", started_by=actor.person_id, due=due,
                              asset_ids=None)
    svc.wake_delivery()
    return Screen(title=t("start.title"), close=svc.texts.t(actor.lang, "common.close"),
                  blocks=tuple(started_blocks(svc, actor.lang, result)))


def started_blocks(svc: Services, lang: str, result: RoundStarted) -> list[Block]:
    t = _t(svc, lang)
    if result.round_id is None:
        return [Text(t("start.nothing", open=result.already_open))]
    blocks: list[Block] = [Text(t("start.started", count=result.asked, owners=result.owners,
                                  due=result.due.isoformat()))]
    if result.already_open:
        blocks.append(Note(t("start.already_open", count=result.already_open)))
    if result.gaps:
        lines = [gap_line(svc, lang, g) for g in result.gaps]
        text = "\n".join([t("start.gaps", count=len(lines)), *lines[:40]])
        if len(lines) > 40:
            text += "\n" + t("more", count=len(lines) - 40)
        blocks.append(Text(text))
    return blocks


# ---- what people see: /klassning and the App Home section ----------------------------------------------


async def overview(svc: Services, actor: Actor, text: str = "") -> Screen:
    """Coordinators: the coverage and the gaps. Owners: their assets. A word: a search among the assets."""
    words = " ".join((text or "").split())
    async with svc.db.transaction() as session:
        manager = await may_manage(session, actor)
    if words.casefold() in ("mina", "mine", "my"):
        return await own_screen(svc, actor)
    if words:
        return await search_screen(svc, actor, words, manager=manager)
    if manager:
        return await coverage_screen(svc, actor.org_id, actor.lang)
    return await own_screen(svc, actor)


async def own_screen(svc: Services, actor: Actor) -> Screen:
    t, lang = _t(svc, actor.lang), actor.lang
    async with svc.db.transaction() as session:
        assets = await store.assets_of(session, actor.org_id, owner_id=actor.person_id)
        facts = await facts_of(session, assets)
    if not assets:
        return Screen(title=t("title"), close=svc.texts.t(lang, "common.close"),
                      blocks=(Text(t("own.none")),))
    return Screen(title=t("title"), close=svc.texts.t(lang, "common.close"), blocks=tuple(
        [Header(t("own.header")), Text(t("own.intro", count=len(assets)))]
        + _asset_rows(svc, lang, [facts[a.id] for a in assets], with_owner=False)))


async def search_screen(svc: Services, actor: Actor, words: str, *, manager: bool) -> Screen:
    t, lang = _t(svc, actor.lang), actor.lang
    async with svc.db.transaction() as session:
        found = await store.search_assets(session, actor.org_id, words, owner_id=None if manager else actor.person_id,
                                          limit=IN_SCREEN)
        facts = await facts_of(session, found)
    blocks: list[Block] = [Header(t("search.header")), Text(t("search.found", count=len(found), words=words))]
    blocks += _asset_rows(svc, lang, [facts[a.id] for a in found], with_owner=True)
    return Screen(title=t("title"), close=svc.texts.t(lang, "common.close"), blocks=tuple(blocks))


def _asset_rows(svc: Services, lang: str, rows: list[AssetFacts], *, with_owner: bool) -> list[Block]:
    t = _t(svc, lang)
    today, rules = today_of(svc), Rules.of(svc.settings)
    blocks: list[Block] = []
    for facts in rows[:IN_SCREEN]:
        text = asset_text(svc, lang, facts, today, rules, with_owner=with_owner)
        if not facts.asset.active:
            text += "\n" + t("asset.retired")
        buttons = [Button(EDIT_ACTION, t("button.edit"), str(facts.asset.id))]
        if facts.asset.active:
            buttons.insert(0, Button(REVIEW_ACTION, t("button.review"), str(facts.asset.id), "primary"))
        blocks += [Text(text), Buttons(tuple(buttons))]
    if len(rows) > IN_SCREEN:
        blocks.append(Note(t("more", count=len(rows) - IN_SCREEN)))
    return blocks


@dataclass
class Status:
    """What the coordinators see: the coverage, who cannot be asked, what is overdue, the rounds still open."""

    coverage: Coverage
    gaps: list[Gap]
    overdue: list[AssetFacts]
    open_rounds: list[tuple[ClassificationRound, int, int]]  # round, answered, asked


async def status_of(svc: Services, org_id: int) -> Status:
    today, rules = today_of(svc), Rules.of(svc.settings)
    async with svc.db.transaction() as session:
        cov = await coverage(session, org_id, today, rules=rules, tz=svc.settings.timezone)
        found = await gaps(session, org_id)
        assets = await store.assets_of(session, org_id)
        facts = await facts_of(session, assets)
        overdue = [f for f in facts.values() if state_of(f.latest, today, rules) == "overdue"]
        open_rounds = []
        requests = await store.open_requests(session, org_id)
        rounds = {r.id: r for r in await store.rounds_with_ids(session, {r.round_id for r in requests})}
        running = {r.round_id for r in requests if r.next_reminder_at is not None or rounds[r.round_id].due >= today}
        for round_id in sorted(running, reverse=True):
            round_ = rounds[round_id]
            all_requests = await store.requests_of(session, round_id)
            answered = sum(1 for r in all_requests if r.answered_at is not None)
            open_rounds.append((round_, answered, len(all_requests)))
    overdue.sort(key=lambda f: (f.latest.next_review, f.asset.name.casefold()))
    return Status(cov, found, overdue, open_rounds)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)}"


def coverage_blocks(svc: Services, lang: str, status: Status, *, buttons: bool = True) -> list[Block]:
    """The coverage for coordinators (chat) and for `lisbot classification status` (buttons=False)."""
    t = _t(svc, lang)
    c, rules = status.coverage, Rules.of(svc.settings)
    blocks: list[Block] = [Header(t("coverage.header", today=c.today.isoformat()))]
    if not c.assets:
        blocks.append(Text(t("coverage.empty")))
        if buttons:
            blocks.append(Buttons((Button(NEW_ASSET_ACTION, t("button.new_asset")),)))
        return blocks
    blocks.append(Text(t("coverage.valid", valid=c.valid, count=c.assets, share=_share(c.valid_share),
                         overdue=c.overdue, unclassified=c.unclassified, due_soon=c.due_soon,
                         days=rules.notice_days)))
    departments = [t("coverage.department", department=d.department or t("coverage.no_department"), valid=d.valid,
                     count=d.assets, share=_share(d.valid_share)) for d in c.by_department.values()]
    blocks.append(Text("\n".join([t("coverage.by_department"), *departments[:40]])))
    levels = [t("coverage.levels_line", aspect=t(f"aspect.{a}"), l0=n[0], l1=n[1], l2=n[2], l3=n[3], l4=n[4])
              for a, n in c.levels.items()]
    blocks.append(Text("\n".join([t("coverage.levels", count=c.classified), *levels])))
    blocks.append(Text(t("coverage.actions", total=c.actions_total, not_started=c.actions["not_started"],
                         in_progress=c.actions["in_progress"], done=c.actions["done"],
                         risk_accepted=c.actions["risk_accepted"], overdue=c.actions_overdue)))
    blocks.append(Text(t("coverage.continuity", needed=c.continuity_needed, present=c.continuity_present,
                         exercised=c.continuity_exercised, months=rules.continuity_exercise_months,
                         level=rules.continuity_min_availability)))
    blocks.append(Text(t("coverage.personal_data", count=c.personal_data, special=c.special_categories,
                         without_ropa=c.personal_data_without_ropa)))
    r = c.routine
    blocks.append(Text(t("coverage.routine", since=r.since.isoformat(), rounds=r.rounds, on_time=r.on_time,
                         asked=r.asked, share=_share(r.on_time_share), late=r.late, missing=r.missing,
                         pending=r.pending)))
    for round_, answered, asked in status.open_rounds[:5]:
        blocks.append(Note(t("coverage.open_round", kind=t(f"round_kind.{round_.kind}"),
                             started=round_.started_at.astimezone(svc.org_tz).date().isoformat(),
                             due=round_.due.isoformat(), answered=answered, count=asked)))
    if buttons:
        blocks.append(Buttons((Button(START_ACTION, t("button.start"), style="primary"),
                               Button(NEW_ASSET_ACTION, t("button.new_asset")))))
    blocks.append(Divider())
    no_owner = [g for g in status.gaps if g.reason == "no_owner"]
    unreachable = [g for g in status.gaps if g.reason != "no_owner"]
    for key, found in (("coverage.no_owner", no_owner), ("coverage.unreachable", unreachable)):
        blocks.append(Text(t(key, count=len(found))))
        for gap in found[:IN_LIST if buttons else len(found)]:
            line = gap_line(svc, lang, gap)
            if buttons:
                blocks += [Text(line), Buttons((Button(EDIT_ACTION, t("button.edit"), str(gap.asset_id)),))]
            else:
                blocks.append(Text(line))
        if buttons and len(found) > IN_LIST:
            blocks.append(Note(t("more", count=len(found) - IN_LIST)))
    overdue = [t("coverage.overdue_line", asset=f.asset.name, next=f.latest.next_review.isoformat(),
                 name=(f.owner.name or f.owner.email or "–") if f.owner else t("escalation.nobody"))
               for f in status.overdue]
    shown = overdue if not buttons else overdue[:20]
    text = "\n".join([t("coverage.overdue", count=len(overdue)), *shown])
    if len(shown) < len(overdue):
        text += "\n" + t("more", count=len(overdue) - len(shown))
    blocks.append(Text(text))
    return blocks


async def coverage_screen(svc: Services, org_id: int, lang: str) -> Screen:
    status = await status_of(svc, org_id)
    return Screen(title=_t(svc, lang)("title"), close=svc.texts.t(lang, "common.close"),
                  blocks=tuple(coverage_blocks(svc, lang, status)))


async def home_blocks(svc: Services, actor: Actor) -> list[Block]:
    """A section for the App Home tab (handlers/home.py may add it): the coverage headline for coordinators,
    the own assets for object owners, nothing for everyone else."""
    t = _t(svc, actor.lang)
    today, rules = today_of(svc), Rules.of(svc.settings)
    async with svc.db.transaction() as session:
        manager = await may_manage(session, actor)
        own = await store.assets_of(session, actor.org_id, owner_id=actor.person_id)
        latest = await store.latest_classifications(session, [a.id for a in own])
        cov = await coverage(session, actor.org_id, today, rules=rules, tz=svc.settings.timezone) if manager else None
    lines = []
    if cov is not None and cov.assets:
        lines.append(t("home.coverage", valid=cov.valid, count=cov.assets, share=_share(cov.valid_share),
                       overdue=cov.overdue, unclassified=cov.unclassified))
    if own:
        attention = sum(1 for a in own if state_of(latest.get(a.id), today, rules) != "valid")
        lines.append(t("home.own", count=len(own), attention=attention))
    if not lines:
        return []
    return [Header(t("home.header")), Text("\n".join(lines)),
            Buttons((Button(OPEN_ACTION, t("button.open")),)), Divider()]
