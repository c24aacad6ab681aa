"""Everything the management review says, gathered into plain numbers and texts (JSON-ready).

These inputs are what a published review freezes: the documents can always be made again from them.
Aggregates only; free texts pass through `scrub`, which removes the names and e-mail addresses of the
people in the directory, because the review is a public document (offentlighetsprincipen)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from handlers.coverage import Rules, coverage
from handlers.facts import routine_names
from handlers.incidents import KINDS
from handlers.services import Services
from storage.facts import facts_for_review
from storage import review_queries as q
from storage.models import Organisation, Person

GDPR_HOURS = 72
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Thresholds for the traffic lights; a coordinator reads them in the document's appendix.
TRAINING_GREEN, TRAINING_YELLOW = 0.90, 0.70
COVERAGE_GREEN, COVERAGE_YELLOW = 0.90, 0.60


WORD = re.compile(r"\w+(?:[-'’]\w+)*")


class Scrubber:
    """Replaces the names of everyone in the directory, and e-mail addresses, with a placeholder.

    Names are looked up as runs of words in a set, not compiled into one huge pattern: a city has tens of
    thousands of names, and a regex of them all takes seconds to build."""

    def __init__(self, names: list[str], placeholder: str) -> None:
        self.names = {" ".join(n.lower().split()) for n in names if n and len(n.strip()) >= 4}
        self.longest = max((len(n.split()) for n in self.names), default=0)
        self.placeholder = placeholder

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        text = EMAIL.sub(self.placeholder, text)
        words = list(WORD.finditer(text))
        out, kept_until, i = [], 0, 0
        while i < len(words):
            for k in range(min(self.longest, len(words) - i), 0, -1):
                if " ".join(w.group(0).lower() for w in words[i:i + k]) in self.names:
                    out += [text[kept_until:words[i].start()], self.placeholder]
                    kept_until, i = words[i + k - 1].end(), i + k
                    break
            else:
                i += 1
        return "".join(out) + text[kept_until:]


def year_bounds(year: int, tz) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(timezone.utc)
    return start, datetime(year + 1, 1, 1, tzinfo=tz).astimezone(timezone.utc)


async def gather(svc: Services, org_id: int, year: int) -> dict[str, Any]:
    now = svc.clock.now()
    start, end = year_bounds(year, svc.org_tz)
    months = q.month_starts(year - 2, year, svc.org_tz)  # the trend's three years, month by month
    async with svc.db.transaction() as session:
        org = await session.get(Organisation, org_id)
        # Core rows, not ORM: a city has 50,000 names and the ORM's per-row work would double the time.
        names = list((await (await session.connection()).execute(
            select(Person.name).where(Person.org_id == org_id))).scalars())
        scrub = Scrubber(names, svc.texts.t(svc.org_lang, "review.scrubbed"))
        per_month = await q.incidents_per_month_and_kind(session, org_id, months)
        by_status = await q.incidents_by_status_and_severity(session, org_id, start, end)
        timeliness = await q.personal_data_timeliness(session, org_id, start, end, now, GDPR_HOURS)
        serious, serious_reported = await q.work_environment_serious(session, org_id, start, end)
        lessons = await q.lessons_learned(session, org_id, start, end)
        training_rows = await q.training_by_department(session, org_id, (year - 1, year))
        campaign = await q.training_campaign(session, org_id, year)
        decisions = await q.earlier_decisions(session, org_id, year)
        classification = await _classification(svc, session, org_id, now.astimezone(svc.org_tz).date())
        facts = await _facts(svc, session, org_id, year, scrub)
    incidents = _incidents(year, per_month, by_status, timeliness, serious, serious_reported,
                           [scrub(t) for t in lessons])
    training_now = [row[1:] for row in training_rows if row[0] == year]
    training_before = [row[1:] for row in training_rows if row[0] == year - 1]
    training = _training(training_now, training_before, campaign)
    inputs = {
        "year": year,
        "organisation": (org.name if org and org.name else None),
        "compiled_at": now.isoformat(),
        "today": now.astimezone(svc.org_tz).date().isoformat(),
        "incidents": incidents,
        "training": training,
        "classification": classification,
        "facts": facts,
        "earlier_decisions": [{"decision": scrub(d), "owner": scrub(o), "due": due.isoformat() if due else None,
                               "status": status} for d, o, due, status in decisions],
    }
    judged = judge(inputs)
    inputs["lights"] = {area: light for area, (light, _) in judged.items()}
    inputs["why"] = {area: why for area, (_, why) in judged.items()}
    return inputs


def _incidents(year, per_month, by_status, timeliness, serious, serious_reported, lessons) -> dict:
    """`per_month` counts by index into the local months of year - 2 .. year (see q.month_starts)."""
    years = (year - 2, year - 1, year)
    trend = {str(y): {k: 0 for k in KINDS} for y in years}
    months = {k: [0] * 12 for k in KINDS}
    for index, kind, n in per_month:
        y, month = years[index // 12], index % 12
        trend[str(y)][kind] = trend[str(y)].get(kind, 0) + n
        if y == year:
            months.setdefault(kind, [0] * 12)[month] = n
    statuses: dict[str, int] = {}
    severities = {str(s): 0 for s in (1, 2, 3, 4)}
    severities["none"] = 0
    total = not_incident = unassessed = 0
    for status, severity, n in by_status:
        statuses[status] = statuses.get(status, 0) + n
        if status == "not_incident":
            not_incident += n
            continue
        total += n
        if status != "closed" and not severity:
            unassessed += n
        severities[str(severity) if severity else "none"] += n
    timeliness = {key: timeliness.get(key, 0)
                  for key in ("on_time", "late", "overdue_open", "running", "closed_undecided")}
    open_cases = sum(n for s, n in statuses.items() if s not in ("closed", "not_incident"))
    return {"total": total, "not_incident": not_incident, "open": open_cases, "unassessed": unassessed, "by_year": trend,
            "by_month": months, "by_status": statuses, "by_severity": severities,
            "personal_data": sum(timeliness.values()), "timeliness": timeliness,
            "work_env_serious": serious, "work_env_serious_reported": serious_reported, "lessons": lessons}


def _tally(rows) -> dict:
    done = sum(n for _, s, n in rows if s == "done")
    exempt = sum(n for _, s, n in rows if s == "exempt")
    audience = sum(n for _, _, n in rows)
    required = audience - exempt
    return {"audience": audience, "required": required, "done": done, "exempt": exempt,
            "share": round(done / required, 4) if required else None}


def _training(now_rows, before_rows, campaign) -> dict:
    departments = {}
    for name in sorted({n for n, _, _ in now_rows}, key=lambda n: (n is None, n or "")):
        departments[name or ""] = _tally([r for r in now_rows if r[0] == name])
    return {"campaign": bool(campaign),
            "courses": list(campaign.courses) if campaign else [],
            "deadline": campaign.deadline.isoformat() if campaign else None,
            "overall": _tally(now_rows), "departments": departments,
            "previous": _tally(before_rows) if before_rows else None}


async def _classification(svc: Services, session, org_id: int, today: date) -> dict | None:
    """The coverage figures of the asset register (issue 5), or None before there is a register."""
    result = await coverage(session, org_id, today, rules=Rules.of(svc.settings), tz=svc.settings.timezone)
    return _plain(result) if result.assets else None


async def _facts(svc: Services, session, org_id: int, year: int, scrub) -> dict:
    facts = await facts_for_review(session, org_id, year, routine_names=routine_names(svc.texts, svc.org_lang),
                                   tz=svc.settings.timezone)
    return _scrubbed(_plain(facts), scrub)


def _plain(value: Any) -> Any:
    """Dataclasses, dates and tuples as JSON values."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _scrubbed(value: Any, scrub) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, scrub) for v in value]
    return value


def judge(inputs: dict) -> dict[str, tuple[str, str]]:
    """(light, why) per area. Lights: green / yellow / red; pending while the work is still running and cannot
    be judged yet; grey where the data are missing. `why` names the reason the documents explain."""
    today = date.fromisoformat(inputs.get("today") or inputs["compiled_at"][:10])
    out = {"incidents": _judge_incidents(inputs["incidents"])}
    training = inputs["training"]
    share = (training["overall"] or {}).get("share")
    deadline = date.fromisoformat(training["deadline"]) if training.get("deadline") else None
    if share is None:
        out["training"] = ("grey", "missing")
    elif share >= TRAINING_GREEN:
        out["training"] = ("green", "share")
    elif deadline and today <= deadline:  # before the deadline a low share says nothing yet
        out["training"] = ("pending", "running")
    else:
        out["training"] = ("yellow" if share >= TRAINING_YELLOW else "red", "share")
    valid = (inputs.get("classification") or {}).get("valid_share")
    out["classification"] = (("grey", "missing") if valid is None else
                             ("green" if valid >= COVERAGE_GREEN else "yellow" if valid >= COVERAGE_YELLOW else "red",
                              "share"))
    facts = inputs.get("facts") or {}
    results = [r.get("result") for r in facts.get("internal_control") or []]
    out["internal_control"] = (("grey", "missing") if not results else
                               ("red" if "serious" in results else "yellow" if "deficiency" in results else "green",
                                "results"))
    grades = [a.get("grade") for a in facts.get("dpo_findings") or [] if a.get("grade")]
    out["gdpr"] = (("grey", "missing") if not grades else
                   ("red" if min(grades) <= 2 else "yellow" if min(grades) == 3 else "green", "grades"))
    return out


def _judge_incidents(incidents: dict) -> tuple[str, str]:
    t = incidents["timeliness"]
    if t["overdue_open"]:
        return "red", "overdue"
    if t["late"] or t["closed_undecided"]:
        return "yellow", "late"
    if not incidents["total"]:
        # Nothing reported in a whole year is not a good sign: incidents happen everywhere, so the routine is
        # probably not known or not used.
        return "yellow", "none_reported"
    if 2 * incidents.get("unassessed", 0) > incidents["total"]:
        return "pending", "unassessed"  # most of the year's cases are not assessed yet
    return "green", "handled"

