"""The incident log and the breach log (GDPR Art. 33(5)) as CSV files that Swedish Excel opens as is:
UTF-8 with BOM, semicolons, CRLF. Rows are those the person may see; the command line sees all."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select

from bot.i18n import format_datetime
from bot.model import Actor
from handlers.access import COORDINATOR, DPO, case_access, is_personal_data, roles_of
from handlers.incident_views import gdpr_deadline, kinds_label
from handlers.services import Services
from storage.models import BreachRecord, Incident

INCIDENT_COLUMNS = ("reference", "kinds", "status", "severity", "occurred_at", "discovered_at", "reported_at",
                    "closed_at", "asset", "personal_data", "sensitive_data", "people_affected", "description",
                    "cause", "measures", "lessons", "gdpr_deadline", "imy_decision", "imy_notified_at",
                    "awv_reported_at")
BREACH_COLUMNS = ("reference", "discovered_at", "reported_at", "nature", "subject_categories", "subjects_approx",
                  "records_approx", "special_categories", "consequences", "measures", "imy_decision",
                  "imy_reason", "decided_at", "imy_notified_at", "imy_reference", "inform_subjects",
                  "inform_reason", "late")


@dataclass(frozen=True)
class Export:
    filename: str
    title: str
    content: bytes
    rows: int


async def may_export_breaches(svc: Services, actor: Actor) -> bool:
    async with svc.db.transaction() as session:
        return bool({COORDINATOR, DPO} & await roles_of(session, actor.person_id))


async def incident_log(svc: Services, org_id: int, lang: str, actor: Actor | None = None) -> Export:
    t, tz = svc.texts.t, svc.settings.timezone
    rows = []
    async with svc.db.transaction() as session:
        incidents = (await session.execute(select(Incident).where(Incident.org_id == org_id)
                                           .order_by(Incident.reported_at, Incident.id))).scalars().all()
        breaches = {b.incident_id: b for b in (await session.execute(
            select(BreachRecord).join(Incident).where(Incident.org_id == org_id))).scalars()}
        for i in incidents:
            if actor is not None and not (await case_access(session, actor, i)).internal:
                continue
            b = breaches.get(i.id)
            rows.append([i.reference, kinds_label(svc, lang, i), t(lang, f"incident.status.{i.status}"),
                         i.severity or "", _dt(i.occurred_at, tz), _dt(i.discovered_at, tz), _dt(i.reported_at, tz),
                         _dt(i.closed_at, tz), i.asset_text or "", _answer(svc, lang, i.personal_data),
                         _answer(svc, lang, i.sensitive_data), _num(i.people_affected), i.description,
                         i.cause or i.close_reason or "", i.measures or "", i.lessons or "",
                         _dt(gdpr_deadline(i), tz), _answer(svc, lang, b.notify_imy if b else None),
                         _dt(b.notified_at if b else None, tz), _dt(i.awv_reported_at, tz)])
    header = [t(lang, f"exports.columns.{c}") for c in INCIDENT_COLUMNS]
    return Export(t(lang, "exports.incidents.filename", date=svc.clock.now().strftime("%Y-%m-%d")),
                  t(lang, "exports.incidents.title"), _csv(header, rows), len(rows))


async def breach_log(svc: Services, org_id: int, lang: str) -> Export:
    """Every personal-data breach, notified or not, with the facts and the reasons (Art. 33(5))."""
    t, tz = svc.texts.t, svc.settings.timezone
    rows = []
    async with svc.db.transaction() as session:
        incidents = (await session.execute(select(Incident).where(Incident.org_id == org_id)
                                           .order_by(Incident.discovered_at, Incident.id))).scalars().all()
        for i in incidents:
            if not is_personal_data(i) or i.status == "not_incident":
                continue
            b = await session.get(BreachRecord, i.id) or BreachRecord(nature=[])
            deadline = gdpr_deadline(i)
            late = b.notified_at is not None and b.notified_at > deadline
            rows.append([i.reference, _dt(i.discovered_at, tz), _dt(i.reported_at, tz),
                         ", ".join(t(lang, f"followup.nature.{n}") for n in (b.nature or ())),
                         b.subject_categories or "", _num(b.subjects_approx if b.subjects_approx is not None
                                                          else i.people_affected),
                         _num(b.records_approx), _answer(svc, lang, b.special_categories or i.sensitive_data),
                         b.consequences or "", b.measures or "", _answer(svc, lang, b.notify_imy),
                         b.notify_reason or "", _dt(b.decided_at, tz), _dt(b.notified_at, tz), b.imy_reference or "",
                         _answer(svc, lang, b.inform_subjects), b.inform_reason or "",
                         _answer(svc, lang, "yes" if late else "no" if b.notified_at else None)])
    header = [t(lang, f"exports.columns.{c}") for c in BREACH_COLUMNS]
    return Export(t(lang, "exports.breaches.filename", date=svc.clock.now().strftime("%Y-%m-%d")),
                  t(lang, "exports.breaches.title"), _csv(header, rows), len(rows))


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _dt(moment, tz: str) -> str:
    return format_datetime(moment, tz) if moment else ""


def _num(value) -> str:
    return "" if value is None else str(value)


def _answer(svc: Services, lang: str, value: str | None) -> str:
    return svc.texts.t(lang, f"incident.answer.{value}") if value else ""
