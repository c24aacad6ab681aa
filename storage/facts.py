"""The facts no prompt collects, entered by the people who hold them: internal-control results, the
data-protection officer's findings, the risk and vulnerability analysis, audit and workshop findings, the
three-year plan, changes in context, and the employees' improvement proposals.

Rows keyed by nature are upserted on their unique keys: (org, year, routine), (org, year, area) and
(org, year) for the RSA. Audit findings, plan activities and context notes have no natural key in the
schema; they are matched on a stable key made from their text (see `list_key`): the same activity
imported twice, or entered in Slack and then imported, is one row.

`facts_for_review` is the neutral read the management review is compiled from: plain values, codes rather
than words, and never a person's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditFinding, ContextNote, ControlResult, DpoFinding, ImprovementProposal, Organisation, PlanActivity, RiskAnalysis,
)
from storage.upsert import insert_ignore, upsert

# ---- the vocabulary (codes as stored) ---------------------------------------------------------------

# The five routines every organisation in the city has in its internal-control plan (IKP), in the seed's order.
MANDATORY_ROUTINES = ("behorighetshantering", "implementering_av_lokal_anvisning", "incidenthantering",
                      "informationsklassning", "informationssakerhet_i_upphandling")
CONTROL_RESULTS = ("ok", "deficiency", "serious", "not_checked")
# The six areas of the data-protection officer's annual report, in the seed's order.
DPO_AREAS = ("registerforteckning", "styrdokument", "tekniska_organisatoriska", "konsekvensbedomningar",
             "individens_rattigheter", "personuppgiftsincidenter")
DPO_GRADES = (1, 2, 3, 4)  # 1 allvarliga brister … 4 inga brister av nämnvärd betydelse
AUDIT_SEVERITIES = ("observation", "low", "medium", "high", "serious")
AUDIT_STATUSES = ("open", "in_progress", "done")
PLAN_STATUSES = ("planned", "in_progress", "done", "postponed")
PLAN_ORIGINS = ("coordinator", "leadership", "review_decision", "internal_control", "rsa", "dpo", "audit",
                "proposal")
PLAN_PRIORITIES = (1, 2, 3)
CONTEXT_KINDS = ("external", "internal", "interested_parties", "feedback")
PROPOSAL_STATUSES = ("new", "accepted", "rejected", "done")
PLAN_YEARS_AHEAD = 3


def list_key(*parts: str | int | None) -> tuple:
    """The stable key of a list item: its identifying texts with case and spacing ignored."""
    return tuple(" ".join(str(p).split()).casefold() if isinstance(p, str) else p for p in parts)


def audit_key(row) -> tuple:
    return list_key(row.year, row.source, row.finding)


def plan_key(row) -> tuple:
    return list_key(row.year, row.title)


def context_key(row) -> tuple:
    return list_key(row.year, row.kind, row.text)


# ---- reading ------------------------------------------------------------------------------------------


async def control_results(session: AsyncSession, org_id: int, year: int) -> list[ControlResult]:
    rows = list((await session.execute(select(ControlResult).where(
        ControlResult.org_id == org_id, ControlResult.year == year).order_by(ControlResult.id))).scalars())
    order = {code: i for i, code in enumerate(MANDATORY_ROUTINES)}
    return sorted(rows, key=lambda r: (order.get(r.routine, len(order)), r.id))


async def dpo_findings(session: AsyncSession, org_id: int, year: int) -> list[DpoFinding]:
    rows = list((await session.execute(select(DpoFinding).where(
        DpoFinding.org_id == org_id, DpoFinding.year == year))).scalars())
    order = {code: i for i, code in enumerate(DPO_AREAS)}
    return sorted(rows, key=lambda r: (order.get(r.area, len(order)), r.id))


async def risk_analysis(session: AsyncSession, org_id: int, year: int) -> RiskAnalysis | None:
    return (await session.execute(select(RiskAnalysis).where(
        RiskAnalysis.org_id == org_id, RiskAnalysis.year == year))).scalar_one_or_none()


async def audit_findings(session: AsyncSession, org_id: int, year: int) -> list[AuditFinding]:
    return list((await session.execute(select(AuditFinding).where(
        AuditFinding.org_id == org_id, AuditFinding.year == year).order_by(AuditFinding.id))).scalars())


async def plan_activities(session: AsyncSession, org_id: int, years: Iterable[int]) -> list[PlanActivity]:
    """Activities of the given years: by year, then priority, then the order they were entered."""
    return list((await session.execute(select(PlanActivity).where(
        PlanActivity.org_id == org_id, PlanActivity.year.in_(list(years)))
        .order_by(PlanActivity.year, PlanActivity.priority, PlanActivity.id))).scalars())


async def context_notes(session: AsyncSession, org_id: int, year: int) -> list[ContextNote]:
    rows = list((await session.execute(select(ContextNote).where(
        ContextNote.org_id == org_id, ContextNote.year == year).order_by(ContextNote.id))).scalars())
    order = {code: i for i, code in enumerate(CONTEXT_KINDS)}
    return sorted(rows, key=lambda r: (order.get(r.kind, len(order)), r.id))


LIST_MODELS = {"audit_findings": AuditFinding, "plan": PlanActivity, "context": ContextNote}


async def get_item(session: AsyncSession, org_id: int, section: str, item_id: int):
    """One row of a list section (or an other routine, section "internal_control"), if it is the org's."""
    model = {**LIST_MODELS, "internal_control": ControlResult, "dpo_findings": DpoFinding}[section]
    row = await session.get(model, item_id)
    return row if row is not None and row.org_id == org_id else None


async def lock_facts(session: AsyncSession, org_id: int) -> None:
    """List items have no unique key in the schema: writers of one organisation's facts take turns (a row
    lock on PostgreSQL; SQLite lets one writer in at a time anyway), so two imports cannot both add a row."""
    await session.execute(select(Organisation.id).where(Organisation.id == org_id).with_for_update())


# ---- writing: keyed sections -------------------------------------------------------------------------


async def put_control_result(session: AsyncSession, org_id: int, year: int, routine: str, *, checked: str | None,
                             method: str | None, result: str, findings: str | None, by: int | None,
                             now: datetime) -> None:
    await upsert(session, ControlResult, {
        "org_id": org_id, "year": year, "routine": routine, "checked": checked, "method": method, "result": result,
        "findings": findings, "updated_by": by, "updated_at": now,
    }, ["org_id", "year", "routine"], ["checked", "method", "result", "findings", "updated_by", "updated_at"])


async def put_dpo_finding(session: AsyncSession, org_id: int, year: int, area: str, *, grade: int,
                          findings: str | None, recommendations: str | None, by: int | None, now: datetime) -> None:
    await upsert(session, DpoFinding, {
        "org_id": org_id, "year": year, "area": area, "grade": grade, "findings": findings,
        "recommendations": recommendations, "updated_by": by, "updated_at": now,
    }, ["org_id", "year", "area"], ["grade", "findings", "recommendations", "updated_by", "updated_at"])


async def put_risk_analysis(session: AsyncSession, org_id: int, year: int, *, cycle: str | None, summary: str | None,
                            processes_with_risks: int | None, action_plans: int | None,
                            continuity_plans: int | None, by: int | None, now: datetime) -> None:
    await upsert(session, RiskAnalysis, {
        "org_id": org_id, "year": year, "cycle": cycle, "summary": summary,
        "processes_with_risks": processes_with_risks, "action_plans": action_plans,
        "continuity_plans": continuity_plans, "updated_by": by, "updated_at": now,
    }, ["org_id", "year"], ["cycle", "summary", "processes_with_risks", "action_plans", "continuity_plans",
                            "updated_by", "updated_at"])


async def delete_control_result(session: AsyncSession, org_id: int, year: int, routine: str) -> None:
    await session.execute(delete(ControlResult).where(ControlResult.org_id == org_id, ControlResult.year == year,
                                                      ControlResult.routine == routine))


async def delete_dpo_finding(session: AsyncSession, org_id: int, year: int, area: str) -> None:
    await session.execute(delete(DpoFinding).where(DpoFinding.org_id == org_id, DpoFinding.year == year,
                                                   DpoFinding.area == area))


async def delete_risk_analysis(session: AsyncSession, org_id: int, year: int) -> None:
    await session.execute(delete(RiskAnalysis).where(RiskAnalysis.org_id == org_id, RiskAnalysis.year == year))


# ---- writing: list sections --------------------------------------------------------------------------

_LIST_FIELDS = {
    "audit_findings": ("source", "finding", "severity", "corrective_action", "status", "due"),
    "plan": ("title", "owner", "priority", "status", "origin"),
    "context": ("kind", "text"),
}
_KEYS = {"audit_findings": audit_key, "plan": plan_key, "context": context_key}


def item_key(section: str, year: int, values: Mapping[str, Any]) -> tuple:
    """The stable key of a list item given as values (an activity's year is its own, not the file's)."""
    if section == "audit_findings":
        return list_key(year, values["source"], values["finding"])
    if section == "plan":
        return list_key(values["year"], values["title"])
    return list_key(year, values["kind"], values["text"])


async def rows_with_key(session: AsyncSession, org_id: int, section: str, key: tuple) -> list:
    model = LIST_MODELS[section]
    rows = (await session.execute(select(model).where(model.org_id == org_id, model.year == key[0]))).scalars()
    return [row for row in rows if _KEYS[section](row) == key]


async def save_list_item(session: AsyncSession, org_id: int, section: str, year: int, values: Mapping[str, Any], *,
                         now: datetime, item_id: int | None = None) -> tuple[Any, str]:
    """Add or change one item. With `item_id`, that row; otherwise the row with the same stable key, or a new
    one. Returns the row and what happened: "added", "updated" or "unchanged"."""
    model = LIST_MODELS[section]
    row_year = values["year"] if section == "plan" else year
    row = await get_item(session, org_id, section, item_id) if item_id else None
    if row is None:
        matches = await rows_with_key(session, org_id, section, item_key(section, year, values))
        row = matches[0] if matches else None
    if row is None:
        row = model(org_id=org_id, year=row_year, updated_at=now, **{f: values.get(f) for f in _LIST_FIELDS[section]})
        session.add(row)
        await session.flush()
        return row, "added"
    changed = row.year != row_year or any(getattr(row, f) != values.get(f) for f in _LIST_FIELDS[section])
    if changed:
        row.year = row_year
        for f in _LIST_FIELDS[section]:
            setattr(row, f, values.get(f))
        row.updated_at = now
    return row, "updated" if changed else "unchanged"


async def delete_item(session: AsyncSession, org_id: int, section: str, item_id: int) -> bool:
    row = await get_item(session, org_id, section, item_id)
    if row is None:
        return False
    await session.delete(row)
    return True


# ---- a whole year at once (the file import) -------------------------------------------------------------


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


async def apply_year(session: AsyncSession, org_id: int, year: int, sections: Mapping[str, Any], *,
                     now: datetime) -> dict[str, Counts]:
    """Store one year of facts given as plain values (already validated). Keyed rows are updated in place;
    list items are matched on their stable key. Rows the file does not mention are kept: what was entered in
    Slack stays. Returns the counts per section present."""
    await lock_facts(session, org_id)
    counts: dict[str, Counts] = {}
    if sections.get("internal_control") is not None:
        existing = {r.routine: r for r in await control_results(session, org_id, year)}
        c = counts["internal_control"] = Counts()
        for item in sections["internal_control"]:
            old = existing.get(item["routine"])
            fields = ("checked", "method", "result", "findings")
            if old is not None and all(getattr(old, f) == item.get(f) for f in fields):
                c.unchanged += 1
                continue
            await put_control_result(session, org_id, year, item["routine"], checked=item.get("checked"),
                                     method=item.get("method"), result=item["result"], findings=item.get("findings"),
                                     by=None, now=now)
            c.added, c.updated = (c.added + 1, c.updated) if old is None else (c.added, c.updated + 1)
    if sections.get("dpo_findings") is not None:
        existing = {r.area: r for r in await dpo_findings(session, org_id, year)}
        c = counts["dpo_findings"] = Counts()
        for item in sections["dpo_findings"]:
            old = existing.get(item["area"])
            fields = ("grade", "findings", "recommendations")
            if old is not None and all(getattr(old, f) == item.get(f) for f in fields):
                c.unchanged += 1
                continue
            await put_dpo_finding(session, org_id, year, item["area"], grade=item["grade"], findings=item.get("findings"),
                                  recommendations=item.get("recommendations"), by=None, now=now)
            c.added, c.updated = (c.added + 1, c.updated) if old is None else (c.added, c.updated + 1)
    if sections.get("rsa") is not None:
        item, old = sections["rsa"], await risk_analysis(session, org_id, year)
        fields = ("cycle", "summary", "processes_with_risks", "action_plans", "continuity_plans")
        c = counts["rsa"] = Counts()
        if old is not None and all(getattr(old, f) == item.get(f) for f in fields):
            c.unchanged += 1
        else:
            await put_risk_analysis(session, org_id, year, **{f: item.get(f) for f in fields}, by=None, now=now)
            c.added, c.updated = (1, 0) if old is None else (0, 1)
    for section in ("audit_findings", "plan", "context"):
        if sections.get(section) is None:
            continue
        c = counts[section] = Counts()
        for item in sections[section]:
            _, what = await save_list_item(session, org_id, section, year, item, now=now)
            setattr(c, what, getattr(c, what) + 1)
    return counts


# ---- the year as stored (the file export) -------------------------------------------------------------------


async def year_rows(session: AsyncSession, org_id: int, year: int) -> dict[str, Any]:
    """Everything of one year, for the export: the plan covers the year itself and the three after it."""
    return {
        "internal_control": await control_results(session, org_id, year),
        "dpo_findings": await dpo_findings(session, org_id, year),
        "rsa": await risk_analysis(session, org_id, year),
        "audit_findings": await audit_findings(session, org_id, year),
        "plan": await plan_activities(session, org_id, range(year, year + PLAN_YEARS_AHEAD + 1)),
        "context": await context_notes(session, org_id, year),
    }


# ---- improvement proposals ------------------------------------------------------------------------------


async def add_proposal(session: AsyncSession, org_id: int, person_id: int, text: str, *, source_key: str,
                       now: datetime) -> tuple[ImprovementProposal, bool]:
    """Store a proposal once per `source_key`; a retried submission returns the first one and False."""
    created = await insert_ignore(session, ImprovementProposal, {
        "org_id": org_id, "submitted_by": person_id, "text": text, "submitted_at": now, "status": "new",
        "source_key": source_key}, ["org_id", "source_key"])
    proposal = (await session.execute(select(ImprovementProposal).where(
        ImprovementProposal.org_id == org_id, ImprovementProposal.source_key == source_key))).scalar_one()
    return proposal, created


async def get_proposal(session: AsyncSession, org_id: int, proposal_id: int) -> ImprovementProposal | None:
    proposal = await session.get(ImprovementProposal, proposal_id)
    return proposal if proposal is not None and proposal.org_id == org_id else None


async def proposals(session: AsyncSession, org_id: int, *, statuses: Iterable[str] | None = None,
                    limit: int | None = None, newest_first: bool = False) -> list[ImprovementProposal]:
    query = select(ImprovementProposal).where(ImprovementProposal.org_id == org_id)
    if statuses is not None:
        query = query.where(ImprovementProposal.status.in_(list(statuses)))
    order = ImprovementProposal.id.desc() if newest_first else ImprovementProposal.id
    query = query.order_by(order)
    if limit:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars())


async def proposal_counts(session: AsyncSession, org_id: int, start: datetime | None = None,
                          end: datetime | None = None) -> dict[str, int]:
    query = select(ImprovementProposal.status, func.count()).where(ImprovementProposal.org_id == org_id)
    if start is not None:
        query = query.where(ImprovementProposal.submitted_at >= start)
    if end is not None:
        query = query.where(ImprovementProposal.submitted_at < end)
    found = dict((await session.execute(query.group_by(ImprovementProposal.status))).all())
    return {status: found.get(status, 0) for status in PROPOSAL_STATUSES}


# ---- the review's read -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlFact:
    routine: str           # a code of MANDATORY_ROUTINES, or the name of another control as entered
    mandatory: bool
    name: str              # what the review shows: the routine's name (see `routine_names`), or the entered name
    checked: str | None
    method: str | None
    result: str            # CONTROL_RESULTS: ok / deficiency / serious / not_checked
    findings: str | None


@dataclass(frozen=True)
class DpoFact:
    area: str              # DPO_AREAS
    grade: int             # 1 … 4
    findings: str | None
    recommendations: str | None


@dataclass(frozen=True)
class RsaFact:
    cycle: str | None
    summary: str | None
    processes_with_risks: int | None
    action_plans: int | None
    continuity_plans: int | None


@dataclass(frozen=True)
class AuditFact:
    source: str
    finding: str
    severity: str          # AUDIT_SEVERITIES
    corrective_action: str | None
    status: str            # AUDIT_STATUSES
    due: date | None


@dataclass(frozen=True)
class PlanFact:
    year: int
    title: str
    owner: str | None      # a role or a function
    priority: int          # 1 high … 3 low
    status: str            # PLAN_STATUSES
    origin: str            # PLAN_ORIGINS


@dataclass(frozen=True)
class ProposalFacts:
    """Proposals sent during the year, counted by their status now; texts only as the coordinator wrote them
    when triaging (the triage note), never the sender's own words or name."""

    total: int
    by_status: dict[str, int]           # every PROPOSAL_STATUSES key, zeros included
    accepted: tuple[str, ...]           # triage notes of the accepted ones
    done: tuple[str, ...]               # triage notes of the ones carried out


@dataclass(frozen=True)
class ReviewFacts:
    year: int
    internal_control: tuple[ControlFact, ...]      # the mandatory routines first, in their order; then others
    dpo_findings: tuple[DpoFact, ...]              # graded areas only, in DPO_AREAS order
    rsa: RsaFact | None
    audit_findings: tuple[AuditFact, ...]
    plan: dict[int, tuple[PlanFact, ...]]          # year+1 … year+3, only years with activities, ascending
    plan_this_year: tuple[PlanFact, ...]           # activities planned for the review year: their status now
    context: dict[str, tuple[str, ...]]            # every CONTEXT_KINDS key, empty tuples included
    proposals: ProposalFacts
    missing_routines: tuple[str, ...] = field(default=())  # mandatory routines with no result entered
    missing_areas: tuple[str, ...] = field(default=())     # DPO areas with no grade entered


def _year_bounds(year: int, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime(year, 1, 1, tzinfo=zone).astimezone(timezone.utc),
            datetime(year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc))


async def facts_for_review(session: AsyncSession, org_id: int, year: int, *,
                           routine_names: Mapping[str, str] | None = None,
                           tz: str = "Europe/Stockholm") -> ReviewFacts:
    """The year's facts as plain values. `routine_names` gives the shown names of the mandatory routines
    (handlers.facts.routine_names(texts, lang)); without it they are named by their codes. Proposals count
    by the year they were sent in `tz`, the organisation's time zone."""
    names = routine_names or {}
    controls = tuple(ControlFact(
        routine=r.routine, mandatory=r.routine in MANDATORY_ROUTINES,
        name=names.get(r.routine, r.routine) if r.routine in MANDATORY_ROUTINES else r.routine,
        checked=r.checked, method=r.method, result=r.result, findings=r.findings)
        for r in await control_results(session, org_id, year))
    areas = tuple(DpoFact(area=r.area, grade=r.grade, findings=r.findings, recommendations=r.recommendations)
                  for r in await dpo_findings(session, org_id, year))
    rsa_row = await risk_analysis(session, org_id, year)
    rsa = None if rsa_row is None else RsaFact(rsa_row.cycle, rsa_row.summary, rsa_row.processes_with_risks,
                                               rsa_row.action_plans, rsa_row.continuity_plans)
    audits = tuple(AuditFact(r.source, r.finding, r.severity, r.corrective_action, r.status, r.due)
                   for r in await audit_findings(session, org_id, year))
    activities = [PlanFact(a.year, a.title, a.owner, a.priority, a.status, a.origin)
                  for a in await plan_activities(session, org_id, range(year, year + PLAN_YEARS_AHEAD + 1))]
    plan: dict[int, tuple[PlanFact, ...]] = {}
    for y in range(year + 1, year + PLAN_YEARS_AHEAD + 1):
        these = tuple(a for a in activities if a.year == y)
        if these:
            plan[y] = these
    notes = await context_notes(session, org_id, year)
    context = {kind: tuple(n.text for n in notes if n.kind == kind) for kind in CONTEXT_KINDS}
    start, end = _year_bounds(year, tz)
    by_status = await proposal_counts(session, org_id, start, end)
    sent = [p for p in await proposals(session, org_id, statuses=("accepted", "done"))
            if start <= p.submitted_at < end]
    proposal_facts = ProposalFacts(
        total=sum(by_status.values()), by_status=by_status,
        accepted=tuple(p.triage_note for p in sent if p.status == "accepted" and p.triage_note),
        done=tuple(p.triage_note for p in sent if p.status == "done" and p.triage_note))
    entered_routines = {c.routine for c in controls}
    entered_areas = {a.area for a in areas}
    return ReviewFacts(
        year=year, internal_control=controls, dpo_findings=areas, rsa=rsa, audit_findings=audits, plan=plan,
        plan_this_year=tuple(a for a in activities if a.year == year), context=context, proposals=proposal_facts,
        missing_routines=tuple(r for r in MANDATORY_ROUTINES if r not in entered_routines),
        missing_areas=tuple(a for a in DPO_AREAS if a not in entered_areas))
