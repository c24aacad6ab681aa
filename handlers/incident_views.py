"""How an incident reads in chat: receipts, the coordinators' notice, details, and its legal clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.model import Actor, Button, Buttons, Divider, Header, Message, Note, Screen, Text
from handlers.access import is_personal_data
from handlers.services import Services
from storage.incidents import CLOSED_STATUSES
from storage.models import BreachRecord, Incident, Person

SHOW_ACTION = "incident_show"
GDPR_NOTIFY_WITHIN = timedelta(hours=72)


def gdpr_deadline(incident: Incident) -> datetime | None:
    """Art. 33: 72 hours from awareness, which is discovery, not the report."""
    return incident.discovered_at + GDPR_NOTIFY_WITHIN if is_personal_data(incident) else None


def kinds_label(svc: Services, lang: str, incident: Incident) -> str:
    return ", ".join(svc.texts.t(lang, f"incident.kind.{k}") for k in incident.kind_codes)


def saved_screen(svc: Services, actor: Actor, incident: Incident) -> Screen:
    t = svc.texts.t
    return Screen(title=t(actor.lang, "incident.saved.title"), close=t(actor.lang, "common.close"),
                  blocks=(Text(t(actor.lang, "incident.saved.text", reference=incident.reference)),))


def receipt(svc: Services, actor: Actor, incident: Incident) -> Message:
    lang, t = actor.lang, svc.texts.t
    blocks = [Text(t(lang, "incident.receipt.text", reference=incident.reference)),
              Text(t(lang, "incident.receipt.next"))]
    if is_personal_data(incident):
        blocks.append(Text(t(lang, "incident.receipt.personal_data")))
    blocks.append(Note(t(lang, "incident.receipt.details", kinds=kinds_label(svc, lang, incident),
                         discovered_at=incident.discovered_at, tz=actor.tz)))
    return Message(text=t(lang, "incident.receipt.summary", reference=incident.reference), blocks=tuple(blocks))


def security_notice(svc: Services, incident: Incident, *, handler: Person | None = None,
                    breach: BreachRecord | None = None, now: datetime | None = None) -> Message:
    """For the coordinators' channel: when, what kind, which clock — never the description or names of the
    people involved. Sent at report time and replaced in place as the case moves."""
    lang, tz, t = svc.org_lang, svc.settings.timezone, svc.texts.t
    fields = [
        t(lang, "incident.notice.kinds", kinds=kinds_label(svc, lang, incident)),
        t(lang, "incident.notice.discovered", discovered_at=incident.discovered_at, tz=tz),
        t(lang, "incident.notice.reported", reported_at=incident.reported_at, tz=tz),
        t(lang, "incident.notice.status", status=t(lang, f"incident.status.{incident.status}")),
    ]
    if incident.occurred_at:
        fields.insert(2, t(lang, "incident.notice.occurred", occurred_at=incident.occurred_at, tz=tz))
    if incident.personal_data:
        fields.append(t(lang, "incident.notice.personal_data", answer=t(lang, f"incident.answer.{incident.personal_data}")))
    if handler is not None and handler.slack_user_id:
        fields.append(t(lang, "incident.notice.handler", user=handler.slack_user_id))
    elif handler is not None and handler.name:  # someone only in Teams: no Slack mention, their name
        fields.append(t(lang, "incident.notice.handler_name", name=handler.name))
    blocks: list = [Header(t(lang, "incident.notice.header", reference=incident.reference)), Text("", tuple(fields))]
    clock = gdpr_clock(svc, lang, tz, incident, breach, now or incident.reported_at)
    if clock:
        blocks.append(Text(clock))
    if incident.sensitive_data == "yes":
        blocks.append(Text(t(lang, "incident.notice.sensitive")))
    flag = work_env_flag(svc, lang, tz, incident)
    if flag:
        blocks.append(Text(flag))
    blocks += [Buttons((Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(incident.id), "primary"),)),
               Note(t(lang, "incident.notice.privacy"))]
    return Message(text=t(lang, "incident.notice.summary", reference=incident.reference,
                          kinds=kinds_label(svc, lang, incident)), blocks=tuple(blocks))


def details_screen(svc: Services, actor: Actor, incident: Incident, *, with_deadline: bool = True) -> Screen:
    lang, t = actor.lang, svc.texts.t
    answer = lambda v: t(lang, f"incident.answer.{v}") if v else t(lang, "common.unknown")  # noqa: E731
    blocks: list = [
        Header(t(lang, "incident.details.header", reference=incident.reference,
                 status=t(lang, f"incident.status.{incident.status}"))),
        Text(t(lang, "incident.details.description", description=incident.description)),
        Text(t(lang, "incident.details.facts", kinds=kinds_label(svc, lang, incident), occurred_at=incident.occurred_at,
               discovered_at=incident.discovered_at, reported_at=incident.reported_at, tz=actor.tz)),
        Text(t(lang, "incident.details.personal", personal=answer(incident.personal_data),
               sensitive=answer(incident.sensitive_data),
               count=incident.people_affected if incident.people_affected is not None else t(lang, "common.unknown"))),
    ]
    if incident.asset_text:
        blocks.insert(2, Text(t(lang, "incident.notice.asset", asset=incident.asset_text)))
    deadline = gdpr_deadline(incident)
    if deadline and with_deadline:
        blocks.append(Divider())
        blocks.append(Text(t(lang, "incident.notice.gdpr_deadline", deadline=deadline, tz=actor.tz)))
    return Screen(title=t(lang, "incident.details.title"), close=t(lang, "common.close"), blocks=tuple(blocks))


def message_screen(svc: Services, actor: Actor, key: str) -> Screen:
    t = svc.texts.t
    return Screen(title=t(actor.lang, "incident.details.title"), close=t(actor.lang, "common.close"),
                  blocks=(Text(t(actor.lang, key)),))


def gdpr_settled(breach: BreachRecord | None) -> bool:
    """The Art. 33 question is answered: decided not to notify, or notified."""
    return breach is not None and (breach.notify_imy == "no" or breach.notified_at is not None)


def gdpr_clock(svc: Services, lang: str, tz: str, incident: Incident, breach: BreachRecord | None,
               now: datetime) -> str | None:
    """One line on where the 72-hour clock stands; None when it does not apply."""
    deadline = gdpr_deadline(incident)
    if deadline is None:
        return None
    t = svc.texts.t
    if breach and breach.notified_at:
        return t(lang, "followup.clock.notified", at=breach.notified_at, reference=breach.imy_reference or "–", tz=tz)
    if breach and breach.notify_imy == "no":
        return t(lang, "followup.clock.not_notifying", reason=breach.notify_reason or "")
    if incident.status in CLOSED_STATUSES:
        return None
    if now >= deadline:
        return t(lang, "followup.clock.overdue", deadline=deadline, tz=tz)
    hours = int((deadline - now) / timedelta(hours=1))
    key = "followup.clock.decided_yes" if breach and breach.notify_imy == "yes" else "followup.clock.running"
    return t(lang, key, deadline=deadline, hours=hours, tz=tz)


def work_env_flag(svc: Services, lang: str, tz: str, incident: Incident) -> str | None:
    if "work_env" not in incident.kind_codes:
        return None
    serious = incident.serious_work_env or (incident.serious_work_env is None and incident.injury == "injured")
    if not serious:
        return None
    if incident.awv_reported_at:
        return svc.texts.t(lang, "followup.awv.reported", at=incident.awv_reported_at, tz=tz)
    return svc.texts.t(lang, "followup.awv.report_now")
