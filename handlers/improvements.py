"""Improvement proposals (ISO/IEC 27001 9.3.2 g): any employee sends one to the bot and gets a receipt; the
coordinators triage it — accepted, rejected or done, with a note — from the notice in the security channel or
from the list. The sender hears the outcome. The management review counts proposals and shows the
coordinators' notes on the accepted ones, never who sent them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import (
    Actor, Button, Buttons, ChoiceField, Divider, Form, FormErrors, Header, Message, Note, Option, Screen, Text,
    TextField,
)
from handlers import notify
from handlers.access import COORDINATOR, roles_of
from handlers.services import Services
from storage import facts as store
from storage.directory import people_with_role
from storage.models import ImprovementProposal, Person, ProcessedEvent
from storage.upsert import insert_ignore

PROPOSAL_FORM = "improvement_form"
TRIAGE_FORM = "improvement_triage_form"
TRIAGE_ACTION = "improvement_triage"
LIST_ACTION = "improvement_list"
FORMS = (PROPOSAL_FORM, TRIAGE_FORM)
TRIAGE_CHOICES = ("accepted", "rejected", "done")
LIST_WORDS = ("lista", "list")  # `/forbattring lista`: the coordinators' list
TEXT_MAX = 3000
NEW_SHOWN, TRIAGED_SHOWN = 20, 10


def _t(svc: Services, lang: str):
    return lambda key, **kw: svc.texts.t(lang, key, **kw)


async def may_triage(session: AsyncSession, actor: Actor) -> bool:
    return COORDINATOR in await roles_of(session, actor.person_id)


# ---- sending a proposal -------------------------------------------------------------------------------------


def proposal_form(svc: Services, actor: Actor) -> Form:
    t = _t(svc, actor.lang)
    return Form(id=PROPOSAL_FORM, title=t("improvement.form.title"), submit=t("improvement.form.submit"),
                close=t("common.close"), intro=t("improvement.form.intro"),
                fields=(TextField("text", t("improvement.form.text"), multiline=True, max_length=TEXT_MAX,
                                  placeholder=t("improvement.form.placeholder")),))


def check_text(svc: Services, lang: str, text: str | None) -> str | FormErrors:
    text = (text or "").strip()
    if not text:
        return FormErrors({"text": svc.texts.t(lang, "improvement.error.empty")})
    if len(text) > TEXT_MAX:
        return FormErrors({"text": svc.texts.t(lang, "improvement.error.too_long", max=TEXT_MAX)})
    return text


@dataclass(frozen=True)
class Submitted:
    proposal: ImprovementProposal
    created: bool  # False: this submission was stored before (a retry)


async def submit_proposal(svc: Services, actor: Actor, text: str | None, *, source_key: str) -> Submitted | FormErrors:
    """Store a proposal once per submission; the receipt and the coordinators' notice go with it, once."""
    checked = check_text(svc, actor.lang, text)
    if isinstance(checked, FormErrors):
        return checked
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        proposal, created = await store.add_proposal(session, actor.org_id, actor.person_id, checked,
                                                     source_key=source_key, now=now)
        if created:
            sender = await session.get(Person, actor.person_id)
            await notify.to_person(session, svc, sender, f"proposal:{proposal.id}:receipt",
                                   lambda lang, tz: receipt(svc, lang, proposal))
            await _tell_coordinators(session, svc, proposal)
    svc.wake_delivery()
    return Submitted(proposal, created)


async def _tell_coordinators(session: AsyncSession, svc: Services, proposal: ImprovementProposal) -> None:
    """The security channel gets a notice with a triage button; without a channel, each coordinator a DM."""
    if svc.settings.security_channel:
        await notify.to_channel(session, svc, proposal.org_id, svc.settings.security_channel,
                                f"proposal:{proposal.id}:notice", notice(svc, svc.org_lang, proposal))
        return
    for coordinator in await people_with_role(session, proposal.org_id, COORDINATOR):
        await notify.to_person(session, svc, coordinator, f"proposal:{proposal.id}:notice:{coordinator.id}",
                               lambda lang, tz: notice(svc, lang, proposal))


def receipt(svc: Services, lang: str, proposal: ImprovementProposal) -> Message:
    t = _t(svc, lang)
    return Message(t("improvement.receipt.summary", number=str(proposal.id)), (
        Text(t("improvement.receipt.text", number=str(proposal.id), text=_short(proposal.text))),
        Note(t("improvement.receipt.anonymous")),
    ))


def saved_screen(svc: Services, actor: Actor, proposal: ImprovementProposal) -> Screen:
    t = _t(svc, actor.lang)
    return Screen(title=t("improvement.title"), close=t("common.close"),
                  blocks=(Text(t("improvement.saved", number=str(proposal.id))),
                          Note(t("improvement.receipt.anonymous"))))


def saved_text(svc: Services, actor: Actor, proposal: ImprovementProposal) -> str:
    """The short answer to `/forbattring text…`, shown to the sender at once."""
    return svc.texts.t(actor.lang, "improvement.saved", number=str(proposal.id))


def notice(svc: Services, lang: str, proposal: ImprovementProposal, *, triager: str | None = None) -> Message:
    """What the coordinators see: the proposal and the triage, never who sent it."""
    t = _t(svc, lang)
    blocks: list = [Text(t("improvement.notice.text", number=str(proposal.id), text=_short(proposal.text, 2500)))]
    if proposal.status != "new":
        blocks.append(Text(t("improvement.notice.triaged", status=t(f"improvement.status.{proposal.status}"),
                             note=_short(proposal.triage_note or "–", 1000), by=triager or "–")))
    label = "improvement.notice.triage" if proposal.status == "new" else "improvement.notice.change"
    blocks.append(Buttons((Button(TRIAGE_ACTION, t(label), str(proposal.id),
                                  "primary" if proposal.status == "new" else None),)))
    summary = "improvement.notice.summary" if proposal.status == "new" else "improvement.notice.summary_triaged"
    return Message(t(summary, number=str(proposal.id), status=t(f"improvement.status.{proposal.status}")),
                   tuple(blocks))


def _short(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- triage ---------------------------------------------------------------------------------------------------


def _screen(svc: Services, actor: Actor, blocks: list) -> Screen:
    t = _t(svc, actor.lang)
    return Screen(title=t("improvement.title"), close=t("common.close"), blocks=tuple(blocks[:100]))


def denied(svc: Services, actor: Actor) -> Screen:
    return _screen(svc, actor, [Text(svc.texts.t(actor.lang, "improvement.denied"))])


async def open_triage(svc: Services, actor: Actor, proposal_id: int, *, from_list: bool) -> Form | Screen:
    t = _t(svc, actor.lang)
    async with svc.db.transaction() as session:
        if not await may_triage(session, actor):
            return denied(svc, actor)
        proposal = await store.get_proposal(session, actor.org_id, proposal_id)
    if proposal is None:
        return _screen(svc, actor, [Text(t("improvement.not_found"))])
    options = tuple(Option(s, t(f"improvement.status.{s}")) for s in TRIAGE_CHOICES)
    return Form(id=TRIAGE_FORM, title=t("improvement.triage.title"), submit=t("improvement.triage.submit"),
                close=t("common.close"), metadata={"proposal": proposal.id, "list": from_list},
                intro=t("improvement.triage.intro", number=str(proposal.id), text=_short(proposal.text, 2500)),
                fields=(
                    ChoiceField("status", t("improvement.triage.status"), options,
                                initial=(proposal.status,) if proposal.status in TRIAGE_CHOICES else ()),
                    TextField("note", t("improvement.triage.note"), multiline=True, max_length=TEXT_MAX,
                              initial=proposal.triage_note, hint=t("improvement.triage.note_hint")),
                ))


async def submit_triage(svc: Services, actor: Actor, metadata: dict[str, Any], values: dict[str, Any], *,
                        submission_key: str) -> FormErrors | Screen:
    lang = actor.lang
    async with svc.db.transaction() as session:
        if not await may_triage(session, actor):
            return denied(svc, actor)
    errors: dict[str, str] = {}
    status = values.get("status")
    note = (values.get("note") or "").strip()
    if status not in TRIAGE_CHOICES:
        errors["status"] = svc.texts.t(lang, "improvement.error.choose")
    if not note:
        errors["note"] = svc.texts.t(lang, "improvement.error.note_required")
    elif len(note) > TEXT_MAX:
        errors["note"] = svc.texts.t(lang, "improvement.error.too_long", max=TEXT_MAX)
    if errors:
        return FormErrors(errors)
    now = svc.clock.now()
    from_list = bool(metadata.get("list"))
    async with svc.db.transaction() as session:
        if not await may_triage(session, actor):
            return denied(svc, actor)
        try:
            proposal = await store.get_proposal(session, actor.org_id, int(metadata.get("proposal") or 0))
        except (TypeError, ValueError):
            proposal = None
        if proposal is None:
            return _screen(svc, actor, [Text(svc.texts.t(lang, "improvement.not_found"))])
        if await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64], "received_at": now},
                               ["event_id"]):
            await _triage(session, svc, actor, proposal, status, note, now, submission_key)
    svc.wake_delivery()
    if from_list:
        return await list_screen(svc, actor, saved=True)
    return _screen(svc, actor, [Text(svc.texts.t(lang, "improvement.triage.saved", number=str(proposal.id),
                                                 status=svc.texts.t(lang, f"improvement.status.{proposal.status}")))])


async def _triage(session: AsyncSession, svc: Services, actor: Actor, proposal: ImprovementProposal, status: str,
                  note: str, now: datetime, submission_key: str) -> None:
    proposal.status, proposal.triage_note = status, note
    proposal.triaged_by, proposal.triaged_at = actor.person_id, now
    me = await session.get(Person, actor.person_id)
    sender = await session.get(Person, proposal.submitted_by)
    key = submission_key[-60:]
    if sender is not None:
        await notify.to_person(session, svc, sender, f"proposal:{proposal.id}:triaged:{key}",
                               lambda lang, tz: _outcome(svc, lang, proposal))
    if svc.settings.security_channel:
        await notify.to_channel(session, svc, proposal.org_id, svc.settings.security_channel,
                                f"proposal:{proposal.id}:notice:{key}",
                                notice(svc, svc.org_lang, proposal, triager=me.name if me else None),
                                update_of=f"proposal:{proposal.id}:notice")


def _outcome(svc: Services, lang: str, proposal: ImprovementProposal) -> Message:
    t = _t(svc, lang)
    status = t(f"improvement.status.{proposal.status}")
    return Message(t("improvement.outcome.summary", number=str(proposal.id), status=status),
                   (Text(t("improvement.outcome.text", number=str(proposal.id), status=status,
                           note=proposal.triage_note or "–", text=_short(proposal.text, 1000))),))


# ---- the list -------------------------------------------------------------------------------------------------


async def list_screen(svc: Services, actor: Actor, *, saved: bool = False) -> Screen:
    """The coordinators' list: what waits for triage, then the latest triaged."""
    t = _t(svc, actor.lang)
    async with svc.db.transaction() as session:
        if not await may_triage(session, actor):
            return denied(svc, actor)
        counts = await store.proposal_counts(session, actor.org_id)
        waiting = await store.proposals(session, actor.org_id, statuses=("new",), limit=NEW_SHOWN)
        triaged = await store.proposals(session, actor.org_id, statuses=TRIAGE_CHOICES, limit=TRIAGED_SHOWN,
                                        newest_first=True)
    blocks: list = [Header(t("improvement.list.header"))]
    if saved:
        blocks.append(Note(t("improvement.list.saved")))
    blocks.append(Text(t("improvement.list.counts", new=str(counts["new"]), accepted=str(counts["accepted"]),
                         rejected=str(counts["rejected"]), done=str(counts["done"]))))
    if not waiting:
        blocks.append(Text(t("improvement.list.none_waiting")))
    for p in waiting:
        blocks += [Text(_line(svc, actor, p)),
                   Buttons((Button(TRIAGE_ACTION, t("improvement.notice.triage"), str(p.id), "primary"),))]
    if counts["new"] > len(waiting):
        blocks.append(Note(t("improvement.list.more", count=counts["new"] - len(waiting))))
    if triaged:
        blocks += [Divider(), Header(t("improvement.list.triaged_header"))]
        for p in triaged:
            blocks += [Text(_line(svc, actor, p)),
                       Buttons((Button(TRIAGE_ACTION, t("improvement.notice.change"), str(p.id)),))]
    return _screen(svc, actor, blocks)


def _line(svc: Services, actor: Actor, p: ImprovementProposal) -> str:
    t = _t(svc, actor.lang)
    return t("improvement.list.item", number=str(p.id), sent_at=p.submitted_at, tz=actor.tz,
             status=t(f"improvement.status.{p.status}"), text=_short(p.text, 500),
             note=_short(p.triage_note, 300) if p.triage_note else "")
