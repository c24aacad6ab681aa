"""The register of information assets: imported from the file coordinators keep in Excel, edited in chat by
coordinators and by each asset's object owner. Platform-neutral.

The file is checked as a whole before anything is stored (the rules of the staff list, issue 3): a file with
bad rows imports nothing and gets every bad row reported with its line. Re-importing updates, never
duplicates; assets are matched by name, without regard to case. A column the file does not have leaves that
fact as it is; an empty cell in a column it has clears it. Classifications in the file (K, R, T and the date)
are added to the history unless the same one is already there: nothing is ever overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import (
    Actor, Button, Buttons, ChoiceField, Form, FormErrors, Header, Message, Note, Option, PersonField, Screen, Text,
    TextField,
)
from handlers.access import ADMIN, COORDINATOR, roles_of
from handlers.coverage import ASPECTS, Rules, add_months, state_of
from handlers.services import Services
from handlers.tabular import (
    Column, FileError, FileWarning, InvalidValue, RowError, fold, parse_bool_sv, parse_date, parse_email, read_table,
)
from storage import assets as store
from storage.models import ActionItem, Asset, Classification, ContinuityPlan, Person, ProcessedEvent, RoundRequest
from storage.people import _departments, person_by_email
from storage.upsert import insert_ignore

# Buttons and forms of the classification area (the Slack layer registers them).
REVIEW_ACTION = "classification_review"
EDIT_ACTION = "classification_edit"
NEW_ASSET_ACTION = "classification_new_asset"
START_ACTION = "classification_start"
OPEN_ACTION = "classification_open"
REVIEW_FORM = "classification_review_form"
EDIT_FORM = "classification_edit_form"
START_FORM = "classification_start_form"

KINDS = ("system", "information", "service")
MANAGERS = frozenset({COORDINATOR, ADMIN})  # who keeps the whole register
NAME_MAX, SHORT_MAX, TEXT_MAX = 200, 200, 3000
# Chat sections hold 3000 characters; a long error list is cut and counted (the command line shows all).
CHAT_PROBLEM_LINES = 30


def today_of(svc: Services) -> date:
    return svc.clock.now().astimezone(svc.org_tz).date()


async def may_manage(session: AsyncSession, actor: Actor) -> bool:
    person = await session.get(Person, actor.person_id)
    return bool(person and person.active and await roles_of(session, actor.person_id) & MANAGERS)


async def may_edit(session: AsyncSession, actor: Actor, asset: Asset) -> bool:
    return asset.org_id == actor.org_id and (asset.owner_id == actor.person_id or await may_manage(session, actor))


# ---- the file ---------------------------------------------------------------------------------

_KIND_WORDS = {
    "system": ("system", "it-system", "itsystem", "applikation", "application", "verksamhetssystem"),
    "information": ("information", "informationsmängd", "informationsmangd", "information set", "informationssamling",
                    "handlingar", "register", "databas"),
    "service": ("tjänst", "tjanst", "service", "e-tjänst", "molntjänst", "cloud service", "it-tjänst"),
}
KIND_CODES = {fold(word): code for code, words in _KIND_WORDS.items() for word in (code, *words)}
_LEVEL_WORDS = {0: ("ingen", "försumbar", "ingen/försumbar", "none", "negligible"), 1: ("måttlig", "moderate"),
                2: ("betydande", "significant"), 3: ("allvarlig", "serious"),
                4: ("synnerligen allvarlig", "very serious")}
LEVEL_CODES = {fold(word): level for level, words in _LEVEL_WORDS.items() for word in words}


def parse_kind(text: str) -> str:
    code = KIND_CODES.get(fold(text))
    if code is None:
        raise InvalidValue("unknown_kind")
    return code


def parse_level(text: str) -> int:
    """0–4, also written "2 – Betydande", "K2" or just "Betydande"."""
    value = text.strip()
    head = value[1:] if len(value) > 1 and value[0].upper() in "KRTCIA" and value[1].isdigit() else value
    digits = head.split(" ", 1)[0].split("-", 1)[0].split("–", 1)[0].strip()
    if digits.isdigit():
        if int(digits) in range(5):
            return int(digits)
        raise InvalidValue("invalid_level")
    if fold(value) in LEVEL_CODES:
        return LEVEL_CODES[fold(value)]
    raise InvalidValue("invalid_level")


def _limited(limit: int):
    def parse(text: str) -> str:
        value = " ".join(text.split())
        if len(value) > limit:
            raise InvalidValue("too_long", max=limit)
        return value
    return parse


def _long_text(text: str) -> str:
    if len(text) > TEXT_MAX:
        raise InvalidValue("too_long", max=TEXT_MAX)
    return text.strip()


_NAME_ALIASES = ("namn", "informationstillgång", "tillgång", "system", "systemnamn", "asset", "asset name",
                 "information asset")
COLUMNS = (
    Column("name", aliases=_NAME_ALIASES, required=True, parse=_limited(NAME_MAX)),
    Column("description", aliases=("beskrivning", "syfte"), parse=_long_text),
    Column("kind", aliases=("typ", "slag", "sort", "type", "typ av tillgång", "asset type"), parse=parse_kind),
    Column("owner_email", aliases=("objektledare", "objektledarens e-post", "objektledare e-post", "objektägare",
                                   "object owner", "owner", "owner email"), parse=parse_email),
    Column("information_owner_email", aliases=("informationsägare", "informationsägarens e-post",
                                               "informationsägare e-post", "information owner"), parse=parse_email),
    Column("department", aliases=("avdelning", "enhet", "förvaltning", "verksamhet")),
    Column("supplier", aliases=("leverantör", "vendor"), parse=_limited(SHORT_MAX)),
    Column("personal_data", aliases=("personuppgifter", "innehåller personuppgifter", "behandlar personuppgifter",
                                     "personal data"), parse=parse_bool_sv),
    Column("special_categories", aliases=("känsliga personuppgifter", "särskilda kategorier",
                                          "särskilda kategorier av personuppgifter", "special categories",
                                          "sensitive personal data"), parse=parse_bool_sv),
    Column("ropa_reference", aliases=("registerförteckning", "hänvisning till registerförteckning",
                                      "referens registerförteckning", "registerförteckning referens", "ropa",
                                      "record of processing", "ropa reference"), parse=_limited(SHORT_MAX)),
    Column("continuity_relevant", aliases=("kontinuitet", "kontinuitetsrelevant", "relevant för kontinuitet",
                                           "continuity", "continuity relevant"), parse=parse_bool_sv),
    Column("confidentiality", aliases=("k", "konfidentialitet", "c"), parse=parse_level),
    Column("integrity", aliases=("r", "riktighet", "i"), parse=parse_level),
    Column("availability", aliases=("t", "tillgänglighet", "a"), parse=parse_level),
    Column("classified_on", aliases=("klassningsdatum", "klassad", "klassad datum", "datum för klassning",
                                     "senast klassad", "classified on", "classification date"), parse=parse_date),
    Column("classified_by", aliases=("klassad av", "classified by"), parse=parse_email),
    Column("method", aliases=("metod", "klassningsmetod"), parse=_limited(100)),
    Column("method_version", aliases=("metodversion", "version", "method version"), parse=_limited(50)),
    Column("continuity_plan", aliases=("kontinuitetsplan", "kontinuitetsplan finns", "continuity plan"),
           parse=parse_bool_sv),
    Column("last_exercised", aliases=("senast övad", "kontinuitetsplan övad", "övad", "last exercised"),
           parse=parse_date),
)
# The names alone, folded, to find duplicates whatever else is wrong on the line.
_NAME_CELLS = (Column("name", aliases=_NAME_ALIASES, parse=lambda text: " ".join(text.split()).casefold(),
                      unique=True),)
ASSET_FIELDS = ("description", "kind", "supplier", "personal_data", "special_categories",
                "ropa_reference", "continuity_relevant")
PEOPLE = {"owner_email": "owner_id", "information_owner_email": "information_owner_id",
          "classified_by": "classified_by"}


@dataclass
class AssetCheck:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the correct rows, people resolved to ids
    errors: list[RowError] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    warnings: list[FileWarning] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column key -> header as written

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})


@dataclass
class AssetCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    classifications: int = 0


@dataclass
class AssetImport:
    check: AssetCheck
    imported: bool = False
    counts: AssetCounts | None = None
    new_departments: list[str] = field(default_factory=list)
    not_in_file: int = 0  # active assets in the register that the file does not name (left as they are)
    unclassified: int = 0  # after the import


async def check_assets_file(svc: Services, org_id: int, data: bytes) -> AssetCheck:
    table = read_table(data, COLUMNS)
    check = AssetCheck(file_errors=list(table.file_errors), warnings=list(table.warnings), headers=dict(table.headers))
    if check.file_errors:
        return check
    if not table.rows and not table.errors:
        check.file_errors.append(FileError("no_rows"))
        return check
    errors = list(table.errors)
    errors += [e for e in read_table(data, _NAME_CELLS).errors if e.code == "duplicate"]
    present = set(table.headers)
    today = today_of(svc)
    known: dict[str, Person | None] = {}
    async with svc.db.transaction() as session:
        for row in table.rows:
            row_errors: list[RowError] = []
            err = lambda column, code, **params: row_errors.append(RowError(row["_line"], column, code, params))  # noqa: E731
            for column, target in PEOPLE.items():
                row[target] = None
                if row.get(column):
                    if row[column] not in known:
                        known[row[column]] = await person_by_email(session, org_id, row[column])
                    person = known[row[column]]
                    if person is None:
                        err(column, "unknown_person", value=row[column])
                    elif not person.active:
                        err(column, "inactive_person", value=row[column])
                    else:
                        row[target] = person.id
            given = [a for a in ASPECTS if row.get(a) is not None]
            if given and len(given) < len(ASPECTS):
                err(next(a for a in ASPECTS if row.get(a) is None), "levels_incomplete")
            if len(given) == len(ASPECTS) and row.get("classified_on") is None:
                err("classified_on", "date_required")
            if row.get("classified_on") is not None and not given:
                err("confidentiality", "levels_required")
            for column in ("classified_on", "last_exercised"):
                if row.get(column) is not None and row[column] > today:
                    err(column, "in_future", value=row[column].isoformat())
            if row.get("special_categories") and "personal_data" in present and not row.get("personal_data"):
                err("special_categories", "special_without_personal")
            if row.get("last_exercised") is not None and row.get("continuity_plan") is False:
                err("last_exercised", "exercised_without_plan")
            if row_errors:
                errors += row_errors
            else:
                check.rows.append(row)
    bad = {e.line for e in errors}
    check.rows = [r for r in check.rows if r["_line"] not in bad]
    check.errors = sorted(errors, key=lambda e: (e.line, [c.key for c in COLUMNS].index(e.column)
                                                 if e.column in {c.key for c in COLUMNS} else -1))
    return check


async def import_assets_file(svc: Services, org_id: int, data: bytes) -> AssetImport:
    """Check the file and, if every row is correct, store it in one transaction."""
    result = AssetImport(check=await check_assets_file(svc, org_id, data))
    check = result.check
    if check.file_errors or check.errors or not check.rows:
        return result
    now, rules = svc.clock.now(), Rules.of(svc.settings)
    present = set(check.headers)
    async with svc.db.transaction() as session:
        await store.lock_assets(session, org_id)
        existing = {a.name.casefold(): a for a in await store.assets_of(session, org_id, active=None)}
        known_departments = {name.casefold() for name in (await store.department_names(session, org_id)).values()}
        wanted = [r["department"] for r in check.rows if r.get("department")]
        departments = await _departments(session, org_id, wanted)
        result.new_departments = sorted({d for d in wanted if d.casefold() not in known_departments},
                                        key=str.casefold)
        history = await store.classifications_of(session, [a.id for a in existing.values()])
        plans = await store.continuity_plans_of(session, [a.id for a in existing.values()])
        counts = AssetCounts()
        for row in check.rows:
            values: dict[str, Any] = {"name": row["name"], "active": True}
            for name in ASSET_FIELDS:
                if name in present:
                    values[name] = row.get(name)
            for column, target in (("owner_email", "owner_id"), ("information_owner_email", "information_owner_id")):
                if column in present:
                    values[target] = row[target]
            if "department" in present:
                values["department_id"] = departments[row["department"].casefold()] if row.get("department") else None
            for flag in ("personal_data", "special_categories", "continuity_relevant"):
                if flag in values:
                    values[flag] = bool(values[flag])
            if "kind" in values and values["kind"] is None:
                values["kind"] = "system"
            asset = existing.get(row["name"].casefold())
            if asset is None:
                asset = Asset(org_id=org_id, created_at=now, updated_at=now, **{"kind": "system", **values})
                session.add(asset)
                await session.flush()
                existing[asset.name.casefold()] = asset
                changed, created = True, True
            else:
                owner_before = asset.owner_id
                changed, created = _assign(asset, values), False
                if asset.owner_id != owner_before:
                    from handlers.classification import hand_over  # the rounds build on this module

                    await session.flush()
                    await hand_over(session, svc, asset, now)
            if row.get("confidentiality") is not None and _new_classification(history.get(asset.id, []), row):
                await store.add_classification(
                    session, asset, confidentiality=row["confidentiality"], integrity=row["integrity"],
                    availability=row["availability"], classified_on=row["classified_on"],
                    next_review=rules.next_review(row["classified_on"]), classified_by=row["classified_by"],
                    method=row.get("method") or svc.settings.classification_method,
                    method_version=row.get("method_version"), source="import", round_id=None, now=now)
                counts.classifications += 1
                changed = True
            if "continuity_plan" in present or "last_exercised" in present:
                if _set_plan(session, asset, plans.get(asset.id), row, present, rules, today_of(svc), now):
                    changed = True
            if created:
                counts.new += 1
            elif changed:
                asset.updated_at = now
                counts.updated += 1
            else:
                counts.unchanged += 1
        await session.flush()
        named = {r["name"].casefold() for r in check.rows}
        active = [a for a in existing.values() if a.active]
        result.not_in_file = sum(1 for a in active if a.name.casefold() not in named)
        latest = await store.latest_classifications(session, [a.id for a in active])
        result.unclassified = sum(1 for a in active if a.id not in latest)
    result.imported, result.counts = True, counts
    svc.wake_delivery()  # a new owner of an asset in a running round has just been asked
    return result


def _new_classification(history: list[Classification], row: dict[str, Any]) -> bool:
    same = (row["classified_on"], row["confidentiality"], row["integrity"], row["availability"])
    return not any((c.classified_on, c.confidentiality, c.integrity, c.availability) == same for c in history)


def _set_plan(session: AsyncSession, asset: Asset, plan: ContinuityPlan | None, row: dict[str, Any],
              present: set[str], rules: Rules, today: date, now: datetime) -> bool:
    has_plan = row.get("continuity_plan") if "continuity_plan" in present else (plan.has_plan if plan else None)
    if has_plan is None and row.get("last_exercised") is not None:
        has_plan = True  # exercised means it exists
    if has_plan is None:
        return False
    exercised = row.get("last_exercised") if "last_exercised" in present else (plan.last_exercised if plan else None)
    exercised = exercised if has_plan else None
    due = next_exercise(rules, has_plan, exercised, today)
    if plan is not None and (plan.has_plan, plan.last_exercised, plan.next_exercise_due) == (has_plan, exercised, due):
        return False
    if plan is None:
        session.add(ContinuityPlan(asset_id=asset.id, has_plan=has_plan, last_exercised=exercised,
                                   next_exercise_due=due, updated_at=now))
    else:
        plan.has_plan, plan.last_exercised, plan.next_exercise_due, plan.updated_at = has_plan, exercised, due, now
    return True


def next_exercise(rules: Rules, has_plan: bool, exercised: date | None, today: date) -> date | None:
    """A plan never exercised is due for its first exercise now."""
    if not has_plan:
        return None
    return add_months(exercised, rules.continuity_exercise_months) if exercised else today


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# ---- the import report ---------------------------------------------------------------------------


def _column_label(svc: Services, lang: str, key: str, headers: dict[str, str]) -> str:
    return headers.get(key) or svc.texts.t(lang, f"classification.column.{key}")


def problem_text(svc: Services, lang: str, error: RowError, headers: dict[str, str]) -> str:
    t = svc.texts.t
    key = f"classification.import.problem.{error.code}"
    params = {"value": "", "max": "", "first_line": "", **error.params}
    reason = t(lang, key if svc.texts.has(lang, key) else "classification.import.problem.invalid_value",
               value=params["value"], max=params["max"], first_line=params["first_line"])
    if error.column is None:
        return t(lang, "classification.import.line_without_column", line=error.line, reason=reason)
    return t(lang, "classification.import.line", line=error.line, column=_column_label(svc, lang, error.column, headers),
             reason=reason)


def import_report(svc: Services, lang: str, result: AssetImport, *, filename: str, cli: bool = False) -> Message:
    t = lambda key, **kw: svc.texts.t(lang, f"classification.import.{key}", **kw)  # noqa: E731
    check = result.check
    blocks: list = [Header(t("header", filename=filename))]
    if check.file_errors:
        summary = t("summary_file_error")
        for error in check.file_errors:
            params = dict(error.params)
            if "column" in params:
                params["column"] = svc.texts.t(lang, f"classification.column.{params['column']}")
            blocks.append(Text(svc.texts.t(lang, f"classification.import.file_error.{error.code}",
                                           **{"column": "", "header": "", "max_bytes": "", "max_rows": "", "line": "",
                                              **params})))
    elif result.imported:
        c = result.counts
        summary = t("summary_imported", new=c.new, updated=c.updated, unchanged=c.unchanged)
        blocks.append(Text(t("imported", new=c.new, updated=c.updated, unchanged=c.unchanged,
                             classifications=c.classifications)))
        if result.new_departments:
            blocks.append(Note(t("new_departments", departments=", ".join(result.new_departments))))
        if result.not_in_file:
            blocks.append(Note(t("not_in_file", count=result.not_in_file)))
        if result.unclassified:
            blocks.append(Text(t("unclassified", count=result.unclassified)))
    else:
        summary = t("summary_rejected", count=len(check.bad_lines))
        blocks.append(Text(t("rejected", count=len(check.bad_lines))))
        lines = [problem_text(svc, lang, e, check.headers) for e in check.errors]
        shown = lines if cli else lines[:CHAT_PROBLEM_LINES]
        blocks.append(Text("\n".join([t("problems"), *("• " + line for line in shown)])))
        if len(shown) < len(lines):
            blocks.append(Note(t("more", count=len(lines) - len(shown))))
    if check.warnings:
        blocks.append(Note("\n".join(svc.texts.t(lang, f"classification.import.warning.{w.code}", **w.params)
                                     for w in check.warnings)))
    return Message(text=summary, blocks=tuple(blocks))


# ---- one asset, as people read it ------------------------------------------------------------------


@dataclass
class AssetFacts:
    """What a screen or a message says about one asset."""

    asset: Asset
    latest: Classification | None
    items: list[ActionItem]
    plan: ContinuityPlan | None
    department: str | None = None
    owner: Person | None = None


async def facts_of(session: AsyncSession, assets: list[Asset]) -> dict[int, AssetFacts]:
    ids = [a.id for a in assets]
    latest = await store.latest_classifications(session, ids)
    items = await store.action_items_of(session, ids)
    plans = await store.continuity_plans_of(session, ids)
    names = await store.department_names(session, assets[0].org_id) if assets else {}
    owners = await store.people_by_ids(session, (a.owner_id for a in assets))
    return {a.id: AssetFacts(a, latest.get(a.id), items.get(a.id, []), plans.get(a.id), names.get(a.department_id),
                             owners.get(a.owner_id) if a.owner_id else None) for a in assets}


def levels_text(svc: Services, lang: str, c: Classification) -> str:
    return svc.texts.t(lang, "classification.levels_short", c=c.confidentiality, i=c.integrity, a=c.availability)


def asset_text(svc: Services, lang: str, facts: AssetFacts, today: date, rules: Rules, *,
               with_owner: bool = False) -> str:
    """Three or four lines: name and state; classification; action plan and continuity; the owner."""
    t = lambda key, **kw: svc.texts.t(lang, f"classification.{key}", **kw)  # noqa: E731
    asset, latest = facts.asset, facts.latest
    state = state_of(latest, today, rules)
    lines = [t("asset.title", asset=asset.name, kind=t(f"kind.{asset.kind}"), state=t(f"state.{state}"))]
    if latest is not None:
        lines.append(t("asset.classified", levels=levels_text(svc, lang, latest), on=latest.classified_on.isoformat(),
                       next=latest.next_review.isoformat()))
    parts = []
    if facts.items:
        closed = sum(1 for i in facts.items if i.status not in store.OPEN_ACTION_STATUSES)
        parts.append(t("asset.actions", closed=closed, total=len(facts.items)))
    if rules.needs_continuity(asset, latest):
        plan = facts.plan
        if plan is None or not plan.has_plan:
            parts.append(t("asset.continuity_missing"))
        elif plan.last_exercised:
            key = "asset.continuity_exercised" if rules.exercised(plan, today) else "asset.continuity_exercise_due"
            parts.append(t(key, on=plan.last_exercised.isoformat()))
        else:
            parts.append(t("asset.continuity_never_exercised"))
    if parts:
        lines.append(" · ".join(parts))
    if with_owner:
        owner = facts.owner
        lines.append(t("asset.owner", name=owner.name or owner.email or "–") if owner else t("asset.no_owner"))
    return "\n".join(lines)


# ---- editing an asset --------------------------------------------------------------------------


def _yes_no(svc: Services, lang: str) -> tuple[Option, ...]:
    return tuple(Option(v, svc.texts.t(lang, f"classification.answer.{v}")) for v in ("yes", "no"))


async def open_edit(svc: Services, actor: Actor, asset_id: int) -> Form | Screen:
    """The register form for one asset (asset_id 0: a new one, for coordinators)."""
    async with svc.db.transaction() as session:
        manager = await may_manage(session, actor)
        asset = await store.get_asset(session, actor.org_id, asset_id) if asset_id else None
        if (asset_id and asset is None) or (asset is None and not manager) or (
                asset is not None and not (manager or asset.owner_id == actor.person_id)):
            return notice_screen(svc, actor.lang, "classification.denied")
        departments = await store.department_names(session, actor.org_id)
    return asset_form(svc, actor.lang, asset, departments, manager=manager)


def asset_form(svc: Services, lang: str, asset: Asset | None, departments: dict[int, str], *, manager: bool) -> Form:
    t = lambda key, **kw: svc.texts.t(lang, f"classification.edit.{key}", **kw)  # noqa: E731
    a = asset or Asset(kind="system", personal_data=False, special_categories=False, continuity_relevant=False,
                       active=True)
    answer = lambda flag: ("yes",) if flag else ("no",)  # noqa: E731
    fields: list = [
        TextField("name", t("name"), max_length=NAME_MAX, initial=a.name),
        TextField("description", t("description"), multiline=True, optional=True, max_length=TEXT_MAX,
                  initial=a.description),
        ChoiceField("kind", t("kind"), tuple(Option(k, svc.texts.t(lang, f"classification.kind.{k}")) for k in KINDS),
                    initial=(a.kind,)),
        PersonField("owner", t("owner"), optional=True, initial=a.owner_id, hint=t("owner_hint")),
        PersonField("information_owner", t("information_owner"), optional=True, initial=a.information_owner_id),
    ]
    if departments:
        ordered = sorted(departments.items(), key=lambda d: (d[0] != a.department_id, d[1].casefold()))
        options = tuple(Option(str(i), n) for i, n in sorted(ordered[:100], key=lambda d: d[1].casefold()))
        fields.append(ChoiceField("department", t("department"), options, optional=True,
                                  initial=(str(a.department_id),) if a.department_id else ()))
    fields += [
        TextField("supplier", t("supplier"), optional=True, max_length=SHORT_MAX, initial=a.supplier),
        ChoiceField("personal_data", t("personal_data"), _yes_no(svc, lang), initial=answer(a.personal_data)),
        ChoiceField("special_categories", t("special_categories"), _yes_no(svc, lang),
                    initial=answer(a.special_categories)),
        TextField("ropa_reference", t("ropa_reference"), optional=True, max_length=SHORT_MAX, initial=a.ropa_reference,
                  hint=t("ropa_hint")),
        ChoiceField("continuity_relevant", t("continuity_relevant"), _yes_no(svc, lang),
                    initial=answer(a.continuity_relevant), hint=t("continuity_hint")),
    ]
    if manager and asset is not None:
        fields.append(ChoiceField("active", t("active"), _yes_no(svc, lang), initial=answer(a.active)))
    return Form(id=EDIT_FORM, title=t("title_new" if asset is None else "title"), submit=t("save"),
                close=svc.texts.t(lang, "common.close"), fields=tuple(fields),
                metadata={"asset": asset.id if asset is not None else 0})


async def submit_edit(svc: Services, actor: Actor, metadata: dict[str, Any], values: dict[str, Any], *,
                      submission_key: str) -> FormErrors | Screen:
    lang = actor.lang
    e = lambda key, **kw: svc.texts.t(lang, f"classification.error.{key}", **kw)  # noqa: E731
    errors: dict[str, str] = {}
    name = " ".join((values.get("name") or "").split())
    if not name:
        errors["name"] = e("required")
    elif len(name) > NAME_MAX:
        errors["name"] = e("too_long", max=NAME_MAX)
    for field_id, limit in (("description", TEXT_MAX), ("supplier", SHORT_MAX), ("ropa_reference", SHORT_MAX)):
        if len((values.get(field_id) or "").strip()) > limit:
            errors[field_id] = e("too_long", max=limit)
    if values.get("kind") not in KINDS:
        errors["kind"] = e("choose")
    for flag in ("personal_data", "special_categories", "continuity_relevant"):
        if values.get(flag) not in ("yes", "no"):
            errors[flag] = e("choose")
    if values.get("special_categories") == "yes" and values.get("personal_data") == "no":
        errors["special_categories"] = e("special_without_personal")
    if "active" in values and values.get("active") not in ("yes", "no"):
        errors["active"] = e("choose")
    if errors:
        return FormErrors(errors)
    now = svc.clock.now()
    asset_id = int(metadata.get("asset") or 0)
    async with svc.db.transaction() as session:
        manager = await may_manage(session, actor)
        asset = await store.get_asset(session, actor.org_id, asset_id) if asset_id else None
        if (asset_id and asset is None) or (asset is None and not manager) or (
                asset is not None and not (manager or asset.owner_id == actor.person_id)):
            return notice_screen(svc, lang, "classification.denied")
        await store.lock_assets(session, actor.org_id)
        same_name = await store.asset_named(session, actor.org_id, name)
        if same_name is not None and (asset is None or same_name.id != asset.id):
            return FormErrors({"name": e("name_taken")})
        people: dict[str, int | None] = {}
        for field_id in ("owner", "information_owner"):
            person_id = values.get(field_id)
            if person_id:
                person = await session.get(Person, int(person_id))
                if person is None or person.org_id != actor.org_id:
                    return FormErrors({field_id: e("unknown_person")})
                if not person.active:
                    return FormErrors({field_id: e("inactive_person")})
            people[field_id] = int(person_id) if person_id else None
        if not await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64], "received_at": now},
                                   ["event_id"]):
            return notice_screen(svc, lang, "classification.edit.saved", asset=name)
        departments = await store.department_names(session, actor.org_id)
        department = values.get("department")
        department_id = int(department) if department and department.isdigit() and int(department) in departments \
            else None
        fields = {
            "name": name, "description": (values.get("description") or "").strip() or None, "kind": values["kind"],
            "owner_id": people["owner"], "information_owner_id": people["information_owner"],
            "supplier": (values.get("supplier") or "").strip() or None,
            "personal_data": values["personal_data"] == "yes",
            "special_categories": values["special_categories"] == "yes",
            "ropa_reference": (values.get("ropa_reference") or "").strip() or None,
            "continuity_relevant": values["continuity_relevant"] == "yes",
        }
        if departments:
            fields["department_id"] = department_id
        if manager and asset is not None and "active" in values:
            fields["active"] = values["active"] == "yes"
        if asset is None:
            asset = Asset(org_id=actor.org_id, active=True, created_at=now, updated_at=now, **fields)
            session.add(asset)
            await session.flush()
        else:
            owner_before, active_before = asset.owner_id, asset.active
            if _assign(asset, fields):
                asset.updated_at = now
            if asset.owner_id != owner_before:
                from handlers.classification import hand_over  # the rounds build on this module

                await hand_over(session, svc, asset, now)
            if active_before and not asset.active:
                # A retired asset is no longer asked about; answered requests stay as the routine's record.
                await session.execute(delete(RoundRequest).where(RoundRequest.asset_id == asset.id,
                                                                 RoundRequest.answered_at.is_(None)))
        facts = (await facts_of(session, [asset]))[asset.id]
    svc.wake_delivery()
    rules, today = Rules.of(svc.settings), today_of(svc)
    return Screen(title=svc.texts.t(lang, "classification.edit.saved_title"),
                  close=svc.texts.t(lang, "common.close"),
                  blocks=(Text(svc.texts.t(lang, "classification.edit.saved", asset=asset.name)),
                          Text(asset_text(svc, lang, facts, today, rules, with_owner=True)),
                          Buttons((Button(REVIEW_ACTION, svc.texts.t(lang, "classification.button.review"),
                                          str(asset.id), "primary"),))))


def notice_screen(svc: Services, lang: str, key: str, **params: Any) -> Screen:
    return Screen(title=svc.texts.t(lang, "classification.title"), close=svc.texts.t(lang, "common.close"),
                  blocks=(Text(svc.texts.t(lang, key, **params)),))
