"""How well the register is kept: the figures the management review needs, as plain numbers.

`coverage()` is the neutral entry point (issue 6 calls it): counts and shares only, no personal names.
`gaps()` is for the coordinators: the assets nobody can be asked about, by name.

Definitions (the review states them next to the figures):
- valid: the asset's latest classification has a next review date today or later;
- overdue: classified, but the next review date has passed; unclassified: never classified;
- a continuity plan is needed when the asset is marked relevant for continuity, or its latest Tillgänglighet
  is at least the configured level; exercised means exercised within the configured number of months;
- the routine: of the requests in rounds started in the period, answered by the round's due date (on time),
  answered after it (late), or unanswered after it (missing); requests whose due date is still ahead and
  unanswered are pending and not counted as asked yet.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage import assets as store
from storage import coverage_queries as columns
from storage.models import Asset, Classification, ContinuityPlan, Person

ASPECTS = ("confidentiality", "integrity", "availability")
LEVELS = (0, 1, 2, 3, 4)
ACTION_STATUSES = store.ACTION_STATUSES


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st becomes the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Rules:
    """The local rule (lokal rutin) for classification, from the settings."""

    reclassify_months: int = 12
    continuity_min_availability: int = 2
    continuity_exercise_months: int = 12
    notice_days: int = 30

    @classmethod
    def of(cls, settings) -> Rules:
        return cls(reclassify_months=settings.reclassify_months,
                   continuity_min_availability=settings.continuity_min_availability,
                   continuity_exercise_months=settings.continuity_exercise_months,
                   notice_days=settings.classification_notice_days)

    def next_review(self, classified_on: date) -> date:
        return add_months(classified_on, self.reclassify_months)

    def needs_continuity(self, asset: Asset, latest: Classification | None) -> bool:
        return bool(asset.continuity_relevant) or (
            latest is not None and latest.availability >= self.continuity_min_availability)

    def exercised(self, plan: ContinuityPlan | None, today: date) -> bool:
        return bool(plan and plan.has_plan and plan.last_exercised
                    and plan.last_exercised > add_months(today, -self.continuity_exercise_months))


def state_of(latest: Classification | None, today: date, rules: Rules) -> str:
    """unclassified / overdue / due_soon / valid."""
    if latest is None:
        return "unclassified"
    if latest.next_review < today:
        return "overdue"
    if latest.next_review <= today + timedelta(days=rules.notice_days):
        return "due_soon"
    return "valid"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class DepartmentCoverage:
    department: str | None  # None: assets without a department
    assets: int = 0
    valid: int = 0
    valid_share: float | None = None  # valid / assets; None without assets


@dataclass
class Routine:
    """Requests in the rounds started since `since`."""

    since: date
    rounds: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0  # unanswered, due date passed
    pending: int = 0  # unanswered, due date ahead
    asked: int = 0  # on_time + late + missing
    on_time_share: float | None = None  # on_time / asked


@dataclass
class Coverage:
    today: date
    assets: int = 0
    classified: int = 0
    valid: int = 0  # includes due_soon
    due_soon: int = 0
    overdue: int = 0
    unclassified: int = 0
    valid_share: float | None = None  # valid / assets; None without assets
    # department name ("" for assets without one) -> its coverage, in alphabetical order, "" last
    by_department: dict[str, DepartmentCoverage] = field(default_factory=dict)
    # aspect -> number of assets at each level 0..4, over the latest classification of each classified asset
    levels: dict[str, list[int]] = field(default_factory=lambda: {a: [0] * len(LEVELS) for a in ASPECTS})
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTION_STATUSES, 0))
    actions_total: int = 0
    actions_closed: int = 0  # done or risk accepted
    actions_overdue: int = 0  # not started or in progress, past their due date
    continuity_needed: int = 0
    continuity_present: int = 0  # needed, and the plan exists
    continuity_exercised: int = 0  # needed, exists, exercised within the rule's months
    personal_data: int = 0
    special_categories: int = 0
    personal_data_without_ropa: int = 0  # holds personal data but names no entry in the registerförteckning
    without_owner: int = 0
    owner_unreachable: int = 0  # the owner has left or is not on the chat platform
    routine: Routine | None = None
    rules: Rules = field(default_factory=Rules)  # the local rule the figures were counted by


def reachable(person: Person | None) -> bool:
    """Someone a round can ask: active and on the chat platform."""
    return person is not None and bool(person.active) and bool(person.slack_user_id or person.teams_user_id)


async def coverage(session: AsyncSession, org_id: int, today: date, *, rules: Rules = Rules(),
                   tz: str = "Europe/Stockholm", since: date | None = None) -> Coverage:
    """The register's state on `today` (active assets only) and the routine since `since` (default: 12 months).

    Five statements whatever the size of the register: the review of a city's 10,000 assets runs the same
    queries as a small company's (issue 6)."""
    register = await columns.register(session, org_id)
    names = await store.department_names(session, org_id)

    result = Coverage(today=today, assets=len(register), rules=rules)
    departments: dict[int | None, DepartmentCoverage] = {}
    for row in register:
        # One row stands for the asset, its latest classification, its plan and its owner (see columns.register).
        current = row if row.classified else None
        state = state_of(current, today, rules)
        dep = departments.setdefault(row.department_id, DepartmentCoverage(names.get(row.department_id)))
        dep.assets += 1
        if state in ("valid", "due_soon"):
            result.valid += 1
            dep.valid += 1
        if state == "due_soon":
            result.due_soon += 1
        elif state == "overdue":
            result.overdue += 1
        elif state == "unclassified":
            result.unclassified += 1
        if current is not None:
            result.classified += 1
            for aspect in ASPECTS:
                result.levels[aspect][getattr(current, aspect)] += 1
        if rules.needs_continuity(row, current):
            result.continuity_needed += 1
            if row.has_plan:
                result.continuity_present += 1
                if rules.exercised(row, today):
                    result.continuity_exercised += 1
        if row.personal_data:
            result.personal_data += 1
            if not (row.ropa_reference or "").strip():
                result.personal_data_without_ropa += 1
        if row.special_categories:
            result.special_categories += 1
        if row.owner_id is None:
            result.without_owner += 1
        elif not reachable(row if row.owner_found else None):
            result.owner_unreachable += 1
    for status, n, overdue in await columns.action_counts(session, org_id, today):
        result.actions[status] = result.actions.get(status, 0) + n
        result.actions_overdue += overdue
    for dep in departments.values():
        dep.valid_share = _share(dep.valid, dep.assets)
    ordered = sorted(departments.values(), key=lambda d: (d.department is None, (d.department or "").casefold()))
    result.by_department = {d.department or "": d for d in ordered}
    result.valid_share = _share(result.valid, result.assets)
    result.actions_total = sum(result.actions.values())
    result.actions_closed = result.actions["done"] + result.actions["risk_accepted"]
    result.routine = await routine(session, org_id, today, tz=tz, since=since or add_months(today, -12))
    return result


async def routine(session: AsyncSession, org_id: int, today: date, *, tz: str, since: date) -> Routine:
    zone = ZoneInfo(tz)
    start = datetime.combine(since, time.min, zone)
    result = Routine(since=since, rounds=await columns.round_count(session, org_id, start))
    for answered_at, due in await columns.round_answers(session, org_id, start):
        if answered_at is not None:
            if answered_at.astimezone(zone).date() <= due:
                result.on_time += 1
            else:
                result.late += 1
        elif due < today:
            result.missing += 1
        else:
            result.pending += 1
    result.asked = result.on_time + result.late + result.missing
    result.on_time_share = _share(result.on_time, result.asked)
    return result


# ---- for the coordinators: who cannot be asked -------------------------------------------------


@dataclass(frozen=True)
class Gap:
    asset_id: int
    asset: str
    reason: str  # no_owner / not_in_chat / left
    owner_name: str | None = None
    owner_email: str | None = None


async def gaps(session: AsyncSession, org_id: int) -> list[Gap]:
    """Active assets whose owner a round cannot reach: none set, left, or not on the chat platform."""
    assets = await store.assets_of(session, org_id)
    owners = await store.people_by_ids(session, (a.owner_id for a in assets))
    found: list[Gap] = []
    for asset in assets:
        owner = owners.get(asset.owner_id) if asset.owner_id else None
        if asset.owner_id is None or owner is None:
            found.append(Gap(asset.id, asset.name, "no_owner"))
        elif not owner.active:
            found.append(Gap(asset.id, asset.name, "left", owner.name, owner.email))
        elif not (owner.slack_user_id or owner.teams_user_id):
            found.append(Gap(asset.id, asset.name, "not_in_chat", owner.name, owner.email))
    return found

