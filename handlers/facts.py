"""The facts no prompt collects, for the management review: entered in chat by the people who hold them
(coordinators; the data-protection officer for the DPO findings), or brought in at once from a YAML file
(`lisbot facts import FILE`, the format in examples/README.md) and written back in the same format
(`lisbot facts export --year Y`).

One set of rules checks both ways in: the pydantic models below validate a file's items and a form's values
alike. A file with any problem stores nothing; every problem is reported with its line and its path in the
file. Importing the same file twice changes nothing the second time (see storage/facts.py for the keys).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Callable

import yaml
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import (
    Actor, Button, Buttons, ChoiceField, DateField, Divider, Form, FormErrors, Header, Note, NumberField, Option, Screen,
    Text, TextField,
)
from handlers.access import COORDINATOR, DPO, roles_of
from handlers.improvements import LIST_ACTION as PROPOSALS_ACTION
from handlers.services import Services
from storage import facts as store
from storage.facts import (
    AUDIT_SEVERITIES, AUDIT_STATUSES, CONTEXT_KINDS, DPO_AREAS, MANDATORY_ROUTINES, PLAN_ORIGINS, PLAN_STATUSES,
    PLAN_YEARS_AHEAD, Counts,
)
from storage.models import Person, ProcessedEvent
from storage.upsert import insert_ignore

SECTIONS = ("internal_control", "dpo_findings", "rsa", "audit_findings", "plan", "context")
LIST_SECTIONS = ("audit_findings", "plan", "context")
MENU_ACTION, SECTION_ACTION, EDIT_ACTION = "facts_menu", "facts_section", "facts_edit"
ACTIONS = (MENU_ACTION, SECTION_ACTION, EDIT_ACTION)
FORMS = {section: f"facts_{section}_form" for section in SECTIONS}
FORM_SECTION = {form: section for section, form in FORMS.items()}
NEW = "new"
REMOVE = "remove"
TEXT_MAX = 3000
SHOWN_ITEMS = 40  # two blocks an item; a modal holds 100
MAX_FILE_BYTES = 2_000_000

# ---- the vocabulary: what a file or a form may say, and what is stored ------------------------------------

_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "ü": "u"})


def norm(value: Any) -> str:
    """Case, accents (å ä ö) and spacing ignored: "Allvarlig brist" and "allvarlig_brist" are the same word."""
    return re.sub(r"[\s_\-–/]+", "_", str(value).strip().casefold().translate(_FOLD)).strip("_")


def _vocabulary(canonical: dict[str, str], aliases: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{normalized spelling: stored code}. `canonical` maps the file's own spelling to the stored code."""
    table = {norm(spelling): code for spelling, code in canonical.items()}
    table.update({norm(code): code for code in canonical.values()})
    for code, spellings in aliases.items():
        table.update({norm(s): code for s in spellings})
    return table


# The file's spelling of each stored code: the seed's Swedish terms for routines, areas and results; short
# English codes for the rest. Every value is also accepted in the other language (the aliases).
ROUTINE_SPELLING = {code: code for code in MANDATORY_ROUTINES}
RESULT_SPELLING = {"ok": "ok", "deficiency": "brist", "serious": "allvarlig_brist", "not_checked": "ej_kontrollerad"}
AREA_SPELLING = {code: code for code in DPO_AREAS}
SEVERITY_SPELLING = {code: code for code in AUDIT_SEVERITIES}
AUDIT_STATUS_SPELLING = {code: code for code in AUDIT_STATUSES}
PLAN_STATUS_SPELLING = {code: code for code in PLAN_STATUSES}
ORIGIN_SPELLING = {code: code for code in PLAN_ORIGINS}

ROUTINES = _vocabulary(ROUTINE_SPELLING, {
    "behorighetshantering": ("behörighetshantering", "access management"),
    "implementering_av_lokal_anvisning": ("implementering av lokal anvisning", "lokal anvisning",
                                          "local instruction"),
    "incidenthantering": ("incident management",),
    "informationsklassning": ("information classification",),
    "informationssakerhet_i_upphandling": ("informationssäkerhet i upphandling", "upphandling",
                                           "informationssäkerhet inom upphandlingsförfarandet",
                                           "informationssäkerhet i upphandlingsförfarandet", "procurement"),
})
RESULTS = _vocabulary({v: k for k, v in RESULT_SPELLING.items()}, {
    "ok": ("OK", "godkänd", "inga brister"),
    "deficiency": ("brister", "deficiency"),
    "serious": ("allvarlig brist", "allvarliga brister", "serious deficiency"),
    "not_checked": ("ej kontrollerad", "ej kontrollerat", "inte kontrollerad", "not checked"),
})
AREAS = _vocabulary(AREA_SPELLING, {
    "registerforteckning": ("registerförteckning", "records of processing"),
    "styrdokument": ("policies", "governing documents"),
    "tekniska_organisatoriska": ("tekniska och organisatoriska åtgärder", "tekniska och organisatoriska",
                                 "tekniska och organisatoriska åtgärder för personuppgiftsbehandlingar",
                                 "technical and organisational measures"),
    "konsekvensbedomningar": ("konsekvensbedömningar", "konsekvensbedömning", "impact assessments", "dpia"),
    "individens_rattigheter": ("individens rättigheter", "data subject rights"),
    "personuppgiftsincidenter": ("personal data breaches",),
})
SEVERITIES = _vocabulary(SEVERITY_SPELLING, {
    "observation": ("iakttagelse", "ingen brist"), "low": ("låg",), "medium": ("medel",), "high": ("hög",),
    "serious": ("allvarlig",)})
AUDIT_STATES = _vocabulary(AUDIT_STATUS_SPELLING, {
    "open": ("öppen",), "in_progress": ("pågår", "påbörjad"), "done": ("åtgärdad", "klar", "stängd")})
PLAN_STATES = _vocabulary(PLAN_STATUS_SPELLING, {
    "planned": ("planerad",), "in_progress": ("pågår", "påbörjad"), "done": ("klar", "genomförd"),
    "postponed": ("uppskjuten",)})
ORIGINS = _vocabulary(ORIGIN_SPELLING, {
    "coordinator": ("samordnaren", "samordnare", "informationssäkerhetssamordnaren"),
    "leadership": ("ledningen", "ledningsgruppen", "ledning"), "review_decision": ("ledningens beslut", "beslut"),
    "internal_control": ("intern kontroll", "ikp"), "rsa": ("risk- och sårbarhetsanalys",),
    "dpo": ("dataskyddsombudet", "dso"), "audit": ("revision", "granskning"), "proposal": ("förbättringsförslag",)})


# ---- validation (files and forms alike) ------------------------------------------------------------------


def _fail(kind: str, **params: Any) -> PydanticCustomError:
    return PydanticCustomError(f"facts_{kind}", kind, params)


def _text(max_length: int, *, required: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise _fail("not_text")
        if value is None:
            value = ""
        elif isinstance(value, (date, datetime)):
            value = value.isoformat()
        value = str(value).strip()
        if not value:
            if required:
                raise _fail("empty")
            return None
        if len(value) > max_length:
            raise _fail("too_long", max=max_length, length=len(value))
        return value
    return check


def _whole(low: int, high: int, *, required: bool) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise _fail("empty")
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail("whole_number", value=str(value))
        if not low <= value <= high:
            raise _fail("between", low=low, high=high, value=value)
        return value
    return check


def _choice(table: dict[str, str], spelling: dict[str, str]) -> Callable[[Any], str]:
    allowed = ", ".join(spelling.values())

    def check(value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _fail("empty_choice", allowed=allowed)
        code = table.get(norm(value))
        if code is None:
            raise _fail("choice", value=str(value), allowed=allowed)
        return code
    return check


def _routine(value: Any) -> str:
    """One of the five mandatory routines (stored as its code), or the name of another control."""
    name = _text(100, required=True)(value)
    code = ROUTINES.get(norm(name))
    if code:
        return code
    near = difflib.get_close_matches(norm(name), list(ROUTINES), n=1, cutoff=0.85)
    if near:
        raise _fail("routine_typo", value=name, suggestion=ROUTINE_SPELLING[ROUTINES[near[0]]])
    return name


def _date(value: Any) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail("date", value=str(value))


LongText = Annotated[str | None, BeforeValidator(_text(TEXT_MAX, required=False))]
NeededText = Annotated[str, BeforeValidator(_text(TEXT_MAX, required=True))]
Count = Annotated[int | None, BeforeValidator(_whole(0, 1_000_000, required=False))]


def _f(*names: str, default: Any = ...) -> Any:
    """A field accepted under its English name and its Swedish ones (keys are compared normalized)."""
    return Field(default, validation_alias=AliasChoices(*(norm(n) for n in names)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlItem(_Strict):
    routine: Annotated[str, BeforeValidator(_routine)] = _f("routine", "rutin", "arbetssätt")
    checked: LongText = _f("checked", "kontrollerat", "vad", "vad kontrollerades", default=None)
    method: LongText = _f("method", "metod", "hur", default=None)
    result: Annotated[str, BeforeValidator(_choice(RESULTS, RESULT_SPELLING))] = _f("result", "resultat")
    findings: LongText = _f("findings", "iakttagelser", "brister", default=None)


class DpoItem(_Strict):
    area: Annotated[str, BeforeValidator(_choice(AREAS, AREA_SPELLING))] = _f("area", "område")
    grade: Annotated[int, BeforeValidator(_whole(1, 4, required=True))] = _f("grade", "grad", "nivå", "bedömning")
    findings: LongText = _f("findings", "iakttagelser", "brister", default=None)
    recommendations: LongText = _f("recommendations", "rekommendationer", "rekommenderade åtgärder",
                                   "åtgärdsförslag", default=None)


class RsaItem(_Strict):
    cycle: Annotated[str | None, BeforeValidator(_text(50, required=False))] = _f("cycle", "cykel", default=None)
    summary: LongText = _f("summary", "sammanfattning", "beskrivning", default=None)
    processes_with_risks: Count = _f("processes_with_risks", "processer med risker", default=None)
    action_plans: Count = _f("action_plans", "åtgärdsplaner", default=None)
    continuity_plans: Count = _f("continuity_plans", "kontinuitetsplaner", default=None)


class AuditItem(_Strict):
    source: Annotated[str, BeforeValidator(_text(100, required=True))] = _f("source", "källa", "granskning")
    finding: NeededText = _f("finding", "iakttagelse", "brist")
    severity: Annotated[str, BeforeValidator(_choice(SEVERITIES, SEVERITY_SPELLING))] = _f(
        "severity", "allvarlighet", "allvarlighetsgrad")
    corrective_action: LongText = _f("corrective_action", "åtgärd", "korrigerande åtgärd", default=None)
    status: Annotated[str, BeforeValidator(_choice(AUDIT_STATES, AUDIT_STATUS_SPELLING))] = _f(
        "status", "läge", default="open")
    due: Annotated[date | None, BeforeValidator(_date)] = _f("due", "klart senast", "senast", default=None)


class PlanItem(_Strict):
    year: Annotated[int, BeforeValidator(_whole(2000, 2100, required=True))] = _f("year", "år")
    title: NeededText = _f("title", "aktivitet", "titel")
    owner: Annotated[str | None, BeforeValidator(_text(200, required=False))] = _f("owner", "ansvarig",
                                                                                   default=None)
    priority: Annotated[int, BeforeValidator(_whole(1, 3, required=True))] = _f("priority", "prioritet", "prio",
                                                                                default=2)
    status: Annotated[str, BeforeValidator(_choice(PLAN_STATES, PLAN_STATUS_SPELLING))] = _f(
        "status", "läge", default="planned")
    origin: Annotated[str, BeforeValidator(_choice(ORIGINS, ORIGIN_SPELLING))] = _f(
        "origin", "ursprung", default="coordinator")


Notes = list[NeededText] | None


class ContextItem(_Strict):
    external: Notes = _f("external", "externa", "externa frågor", default=None)
    internal: Notes = _f("internal", "interna", "interna frågor", "verksamheten", default=None)
    interested_parties: Notes = _f("interested_parties", "intressenter", "intressenters behov",
                                   "intressenternas behov", default=None)
    feedback: Notes = _f("feedback", "återkoppling", default=None)


class ContextNoteItem(_Strict):
    """One note, as the Slack form gives it."""
    kind: Annotated[str, BeforeValidator(_choice({k: k for k in CONTEXT_KINDS}, {k: k for k in CONTEXT_KINDS}))]
    text: NeededText


class YearFile(_Strict):
    year: Annotated[int, BeforeValidator(_whole(2000, 2100, required=True))] = _f("year", "år")
    internal_control: list[ControlItem] | None = _f("internal_control", "intern kontroll", "ikp", default=None)
    dpo_findings: list[DpoItem] | None = _f("dpo_findings", "dataskyddsombudet", "dataskydd", "gdpr",
                                            default=None)
    rsa: RsaItem | None = _f("rsa", "risk och sårbarhetsanalys", default=None)
    audit_findings: list[AuditItem] | None = _f("audit_findings", "granskningar", "revisioner", default=None)
    plan: list[PlanItem] | None = _f("plan", "treårsplan", "planering", default=None)
    context: ContextItem | None = _f("context", "omvärld", "omvärld och verksamhet", "förändringar",
                                              default=None)


# ---- problems -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, language-neutral: rendered with `problem_text`."""

    line: int | None
    path: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def _problem_kind(error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = error["type"]
    if kind.startswith("facts_"):
        return kind[len("facts_"):], dict(error.get("ctx") or {})
    return {"missing": "missing", "extra_forbidden": "unknown_key", "list_type": "not_a_list",
            "model_type": "not_a_mapping", "dict_type": "not_a_mapping", "model_attributes_type": "not_a_mapping",
            "string_type": "not_text", "int_type": "whole_number", "int_parsing": "whole_number",
            "date_type": "date", "date_parsing": "date"}.get(kind, "invalid"), {}


def problem_text(svc: Services, lang: str, problem: Problem) -> str:
    t = svc.texts.t
    message = t(lang, f"facts.import.error.{problem.kind}", **{k: str(v) for k, v in problem.params.items()})
    if problem.line is None:
        return t(lang, "facts.import.problem_no_line", path=problem.path or "–", message=message)
    return t(lang, "facts.import.problem", line=str(problem.line), path=problem.path or "–", message=message)


def errors_of(svc: Services, lang: str, error: ValidationError, fields: set[str]) -> dict[str, str]:
    """A form's field errors from the models' validation: the first problem of each field."""
    out: dict[str, str] = {}
    for e in error.errors():
        name = next((str(part) for part in e["loc"] if isinstance(part, str)), "")
        kind, params = _problem_kind(e)
        if kind in ("choice", "empty_choice"):  # a form offers only valid choices: a wrong one is stale or forged
            kind, params = "choose", {}
        target = name if name in fields else next(iter(sorted(fields)), name)
        out.setdefault(target, svc.texts.t(lang, f"facts.import.error.{kind}",
                                           **{k: str(v) for k, v in params.items()}))
    return out


# ---- reading a file with its lines ------------------------------------------------------------------------


class _Marks:
    """Where each value of a YAML document is (line), and how its keys were spelled (for the path shown)."""

    def __init__(self) -> None:
        self.lines: dict[tuple, int] = {}
        self.spelled: dict[tuple, str] = {}
        self.nodes = 0

    def line_of(self, loc: tuple) -> int | None:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def path_of(self, loc: tuple) -> str:
        out = ""
        for n, part in enumerate(loc, start=1):
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                name = self.spelled.get(loc[:n], str(part))
                out += ("." if out else "") + name
        return out


def _constructor() -> yaml.SafeLoader:
    return yaml.SafeLoader("")


MAX_NODES = 100_000  # aliases can make a small file expand without end ("billion laughs")


class _TooComplex(Exception):
    pass


def _plain(node: yaml.Node, loc: tuple, marks: _Marks, problems: list[Problem], build: yaml.SafeLoader) -> Any:
    marks.nodes += 1
    if marks.nodes > MAX_NODES or len(loc) > 20:
        raise _TooComplex
    marks.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(key_node.start_mark.line + 1, marks.path_of(loc), "bad_key"))
                continue
            spelled = str(build.construct_object(key_node))
            key = norm(spelled)
            if key in out:
                problems.append(Problem(key_node.start_mark.line + 1, marks.path_of(loc + (key,)) if loc else spelled,
                                        "key_twice", {"name": spelled}))
                continue
            marks.lines[loc + (key,)] = key_node.start_mark.line + 1
            marks.spelled[loc + (key,)] = spelled
            out[key] = _plain(value_node, loc + (key,), marks, problems, build)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loc + (i,), marks, problems, build) for i, item in enumerate(node.value)]
    try:
        return build.construct_object(node)
    except (ValueError, OverflowError):  # 2024-13-01 looks like a date and is not: the rules say why
        return node.value


def _documents(data: bytes) -> tuple[list[tuple[Any, _Marks, int]], list[Problem]]:
    problems: list[Problem] = []
    if len(data) > MAX_FILE_BYTES:
        return [], [Problem(None, "", "file_too_big", {"max": f"{MAX_FILE_BYTES // 1_000_000} MB"})]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [Problem(line, "", "not_utf8")]
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return [], [Problem(mark.line + 1 if mark else None, "", "syntax", {"problem": exc.problem or str(exc)})]
    except yaml.YAMLError as exc:
        return [], [Problem(None, "", "syntax", {"problem": str(exc)})]
    documents = []
    build = _constructor()
    for node in nodes:
        if node is None:
            continue
        marks = _Marks()
        try:
            value = _plain(node, (), marks, problems, build)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            problems.append(Problem(mark.line + 1 if mark else None, "", "syntax", {"problem": exc.problem or str(exc)}))
            continue
        except (_TooComplex, RecursionError):
            problems.append(Problem(node.start_mark.line + 1, "", "too_complex"))
            continue
        documents.append((value, marks, node.start_mark.line + 1))
    if not documents and not problems:
        problems.append(Problem(None, "", "empty_file"))
    return documents, problems


# ---- rules beyond a single value ------------------------------------------------------------------------


def _present(raw: Any, model: type[BaseModel], name: str) -> str:
    """The key a file used for a field (its English name or a Swedish one), for the path shown."""
    info = model.model_fields[name]
    if isinstance(raw, dict) and info.validation_alias is not None:
        for choice in info.validation_alias.choices:
            if choice in raw:
                return choice
    return name


def control_rules(item: ControlItem) -> dict[str, tuple[str, dict]]:
    """Rules across the fields of one internal-control result: a deficiency is described."""
    if item.result in ("deficiency", "serious") and not item.findings:
        return {"findings": ("findings_required", {})}
    return {}


@dataclass
class ParsedYear:
    year: int
    data: YearFile
    line: int


@dataclass
class Parsed:
    years: list[ParsedYear]
    problems: list[Problem]


def parse_facts(data: bytes, person_names: set[str] = frozenset()) -> Parsed:
    """Read and check a facts file: every problem, with its line and path; nothing is stored here.
    `person_names` (see `person_names`) are names a plan activity's owner may not be: owners are roles."""
    documents, problems = _documents(data)
    years: list[ParsedYear] = []
    seen: dict[int, int] = {}
    for raw, marks, line in documents:
        if not isinstance(raw, dict):
            problems.append(Problem(line, "", "not_a_mapping"))
            continue
        problems += _year_rules(raw, marks, person_names)
        try:
            parsed = YearFile.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(e["loc"])
                kind, params = _problem_kind(e)
                if kind == "unknown_key" and _is_alias_twice(raw, loc):
                    kind = "alias_twice"
                problems.append(Problem(marks.line_of(loc), marks.path_of(loc), kind, params))
            continue
        year_loc = (_present(raw, YearFile, "year"),)
        if parsed.year in seen:
            problems.append(Problem(marks.line_of(year_loc), marks.path_of(year_loc), "year_twice",
                                    {"year": parsed.year, "first": seen[parsed.year]}))
            continue
        seen[parsed.year] = marks.line_of(year_loc) or line
        years.append(ParsedYear(parsed.year, parsed, line))
    problems.sort(key=lambda p: (p.line or 0, p.path))
    return Parsed(years, problems)


def _is_alias_twice(raw: dict, loc: tuple) -> bool:
    """Pydantic calls the second spelling of a field (result and resultat both given) an unknown key."""
    node: Any = raw
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    models = (YearFile, ControlItem, DpoItem, RsaItem, AuditItem, PlanItem, ContextItem)
    key = loc[-1]
    for model in models:
        for info in model.model_fields.values():
            choices = info.validation_alias.choices if info.validation_alias is not None else ()
            if key in choices and any(c in node for c in choices if c != key):
                return True
    return False


def _valid_items(raw: dict, section: str, model: type[BaseModel]) -> tuple[str, list[tuple[int, Any]]]:
    """The items of a list section that are valid on their own, with their places: the rules across items
    run on them even when other items have problems, so one reading reports everything."""
    top = _present(raw, YearFile, section)
    items = raw.get(top)
    valid = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            valid.append((i, model.model_validate(item)))
        except ValidationError:
            pass
    return top, valid


def _year_rules(raw: dict, marks: _Marks, person_names: set[str]) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple, kind: str, **params: Any) -> None:
        problems.append(Problem(marks.line_of(loc), marks.path_of(loc), kind, params))

    def at(top: str, i: int, model: type[BaseModel], name: str) -> tuple:
        return top, i, _present(raw[top][i], model, name)

    def twice(section: str, model: type[BaseModel], key: Callable, field_name: str) -> list[tuple[int, Any]]:
        top, items = _valid_items(raw, section, model)
        seen: dict[tuple, int] = {}
        for i, item in items:
            if key(item) in seen:
                add(at(top, i, model, field_name), "item_twice", first=marks.line_of((top, seen[key(item)])) or "?")
            else:
                seen[key(item)] = i
        return [(top, i, item) for i, item in items]

    for top, i, item in twice("internal_control", ControlItem, lambda c: store.list_key(c.routine), "routine"):
        for name, (kind, params) in control_rules(item).items():
            add(at(top, i, ControlItem, name), kind, **params)
    twice("dpo_findings", DpoItem, lambda d: (d.area,), "area")
    twice("audit_findings", AuditItem, lambda a: store.list_key(a.source, a.finding), "finding")
    try:
        year = _whole(2000, 2100, required=True)(raw.get(_present(raw, YearFile, "year")))
    except PydanticCustomError:
        year = None
    for top, i, item in twice("plan", PlanItem, lambda p: store.list_key(p.year, p.title), "title"):
        if year is not None and not year <= item.year <= year + PLAN_YEARS_AHEAD:
            add(at(top, i, PlanItem, "year"), "plan_year", first=year, last=year + PLAN_YEARS_AHEAD)
        if is_person_name(item.owner, person_names):
            add(at(top, i, PlanItem, "owner"), "owner_is_person", owner=item.owner)
    top = _present(raw, YearFile, "context")
    context = raw.get(top)
    for kind in CONTEXT_KINDS if isinstance(context, dict) else ():
        key = _present(context, ContextItem, kind)
        notes = context.get(key)
        seen: dict[tuple, int] = {}
        for i, note in enumerate(notes if isinstance(notes, list) else []):
            if not isinstance(note, str) or not note.strip():
                continue
            if store.list_key(note) in seen:
                add((top, key, i), "item_twice", first=marks.line_of((top, key, seen[store.list_key(note)])) or "?")
            else:
                seen[store.list_key(note)] = i
    return problems


async def person_names(session: AsyncSession, org_id: int) -> set[str]:
    names = (await session.execute(select(Person.name).where(Person.org_id == org_id))).scalars()
    return {" ".join(n.split()).casefold() for n in names if n and len(n.split()) >= 2}


def is_person_name(owner: str | None, names: set[str]) -> bool:
    return bool(owner) and " ".join(owner.split()).casefold() in names


# ---- import and export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    stored: bool
    problems: tuple[Problem, ...]
    counts: dict[int, dict[str, Counts]]  # year -> section -> added/updated/unchanged


def _stored_values(parsed: YearFile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if parsed.internal_control is not None:
        out["internal_control"] = [i.model_dump() for i in parsed.internal_control]
    if parsed.dpo_findings is not None:
        out["dpo_findings"] = [i.model_dump() for i in parsed.dpo_findings]
    if parsed.rsa is not None:
        out["rsa"] = parsed.rsa.model_dump()
    if parsed.audit_findings is not None:
        out["audit_findings"] = [i.model_dump() for i in parsed.audit_findings]
    if parsed.plan is not None:
        out["plan"] = [i.model_dump() for i in parsed.plan]
    if parsed.context is not None:
        out["context"] = [{"kind": kind, "text": text} for kind in CONTEXT_KINDS
                          for text in getattr(parsed.context, kind) or []]
    return out


async def import_facts(svc: Services, org_id: int, data: bytes) -> ImportResult:
    """Check the whole file, then store it in one transaction; with any problem, nothing is stored."""
    async with svc.db.transaction() as session:
        names = await person_names(session, org_id)
    parsed = parse_facts(data, names)
    if parsed.problems:
        return ImportResult(False, tuple(parsed.problems), {})
    now = svc.clock.now()
    counts = {}
    async with svc.db.transaction() as session:
        for y in parsed.years:
            counts[y.year] = await store.apply_year(session, org_id, y.year, _stored_values(y.data), now=now)
    return ImportResult(True, (), counts)


def import_report(svc: Services, lang: str, result: ImportResult, *, filename: str) -> str:
    t = svc.texts.t
    if not result.stored:
        lines = [t(lang, "facts.import.not_stored", filename=filename, count=len(result.problems))]
        lines += ["  " + problem_text(svc, lang, p) for p in result.problems]
        return "\n".join(lines)
    lines = [t(lang, "facts.import.stored", filename=filename, years=", ".join(str(y) for y in result.counts))]
    for year, sections in result.counts.items():
        for section, c in sections.items():
            lines.append("  " + t(lang, "facts.import.counts", year=str(year),
                                  section=t(lang, f"facts.section.{section}.title"), added=c.added, updated=c.updated,
                                  unchanged=c.unchanged))
    return "\n".join(lines)


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):  # noqa: ARG002 — lists indented
        return super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_text)


def facts_document(year: int, rows: dict[str, Any]) -> dict[str, Any]:
    """One year as stored, in the file's format and spelling."""
    return {
        "year": year,
        "internal_control": [{
            "routine": ROUTINE_SPELLING.get(r.routine, r.routine), "checked": r.checked, "method": r.method,
            "result": RESULT_SPELLING.get(r.result, r.result), "findings": r.findings}
            for r in rows["internal_control"]],
        "dpo_findings": [{"area": AREA_SPELLING.get(r.area, r.area), "grade": r.grade, "findings": r.findings,
                          "recommendations": r.recommendations} for r in rows["dpo_findings"]],
        "rsa": None if rows["rsa"] is None else {
            "cycle": rows["rsa"].cycle, "summary": rows["rsa"].summary,
            "processes_with_risks": rows["rsa"].processes_with_risks, "action_plans": rows["rsa"].action_plans,
            "continuity_plans": rows["rsa"].continuity_plans},
        "audit_findings": [{"source": r.source, "finding": r.finding, "severity": r.severity,
                            "corrective_action": r.corrective_action, "status": r.status, "due": r.due}
                           for r in rows["audit_findings"]],
        "plan": [{"year": a.year, "title": a.title, "owner": a.owner, "priority": a.priority, "status": a.status,
                  "origin": a.origin} for a in rows["plan"]],
        "context": {kind: [n.text for n in rows["context"] if n.kind == kind] for kind in CONTEXT_KINDS},
    }


def dump_facts(document: dict[str, Any], header: str = "") -> str:
    body = yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100,
                     default_flow_style=False)
    lines = body.splitlines()
    spaced = [line if i == 0 or line[:1] in (" ", "-", "") else "\n" + line for i, line in enumerate(lines)]
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + "\n".join(spaced) + "\n"


async def export_facts(svc: Services, org_id: int, year: int, lang: str) -> str:
    """`lisbot facts export --year Y`: the year in the import format, so it can be edited and imported again."""
    async with svc.db.transaction() as session:
        rows = await store.year_rows(session, org_id, year)
    header = svc.texts.t(lang, "facts.export.header", year=str(year),
                         at=svc.clock.now().astimezone(svc.org_tz).strftime("%Y-%m-%d %H:%M"))
    return dump_facts(facts_document(year, rows), header)


def routine_names(texts, lang: str) -> dict[str, str]:
    """The shown names of the mandatory routines, for `storage.facts.facts_for_review(routine_names=…)`."""
    return {code: texts.t(lang, f"facts.routine.{code}") for code in MANDATORY_ROUTINES}


# ---- who may enter what --------------------------------------------------------------------------------------


def may_edit(roles: set[str], section: str) -> bool:
    return COORDINATOR in roles or (section == "dpo_findings" and DPO in roles)


def sections_for(roles: set[str]) -> tuple[str, ...]:
    return tuple(s for s in SECTIONS if may_edit(roles, s))


def this_year(svc: Services) -> int:
    return svc.clock.now().astimezone(svc.org_tz).year


def parse_year(svc: Services, text: str | None) -> int:
    """`/fakta 2023`: a year from 2000 to next year; anything else means this year."""
    current = this_year(svc)
    match = re.fullmatch(r"\s*(\d{4})\s*", text or "")
    if match and 2000 <= int(match.group(1)) <= current + 1:
        return int(match.group(1))
    return current


# ---- the chat screens: menu, section, form -----------------------------------------------------------------


def _t(svc: Services, actor: Actor):
    return lambda key, **kw: svc.texts.t(actor.lang, key, **kw)


def _screen(svc: Services, actor: Actor, blocks: list) -> Screen:
    t = _t(svc, actor)
    return Screen(title=t("facts.title"), close=t("common.close"), blocks=tuple(blocks[:100]))


def refusal(svc: Services, actor: Actor, key: str = "facts.denied") -> Screen:
    return _screen(svc, actor, [Text(svc.texts.t(actor.lang, key))])


async def menu(svc: Services, actor: Actor, year: int | None = None) -> Screen:
    """`/fakta`: one button a section for the year, with what is entered so far."""
    t = _t(svc, actor)
    year = year or this_year(svc)
    async with svc.db.transaction() as session:
        roles = await roles_of(session, actor.person_id)
        sections = sections_for(roles)
        if not sections:
            return refusal(svc, actor)
        rows = await store.year_rows(session, actor.org_id, year)
        new_proposals = (await store.proposal_counts(session, actor.org_id))["new"] if COORDINATOR in roles else 0
    blocks: list = [Header(t("facts.menu.header", year=str(year))), Text(t("facts.menu.intro"))]
    for section in sections:
        blocks.append(Text(t(f"facts.section.{section}.summary", **_summary(section, rows, year))))
        blocks.append(Buttons((Button(SECTION_ACTION, t(f"facts.section.{section}.button"), f"{year}:{section}"),)))
    nav = [Button(MENU_ACTION, t("facts.menu.previous", year=str(year - 1)), str(year - 1))]
    if year < this_year(svc) + 1:
        nav.append(Button(MENU_ACTION, t("facts.menu.next", year=str(year + 1)), str(year + 1)))
    if COORDINATOR in roles:
        blocks += [Divider(), Text(t("facts.menu.proposals", count=new_proposals)),
                   Buttons((Button(PROPOSALS_ACTION, t("facts.menu.proposals_button"), "facts"),))]
    blocks += [Divider(), Buttons(tuple(nav)), Note(t("facts.menu.file_hint", year=str(year)))]
    return _screen(svc, actor, blocks)


def _summary(section: str, rows: dict[str, Any], year: int) -> dict[str, Any]:
    if section == "internal_control":
        entered = {r.routine for r in rows[section]}
        return {"count": sum(1 for r in MANDATORY_ROUTINES if r in entered),
                "others": str(len(entered - set(MANDATORY_ROUTINES)))}
    if section == "dpo_findings":
        return {"count": len(rows[section])}
    if section == "rsa":
        return {"entered": "yes" if rows[section] is not None else "no"}
    if section == "plan":
        return {"count": sum(1 for a in rows[section] if a.year > year), "first": str(year + 1),
                "last": str(year + PLAN_YEARS_AHEAD)}
    return {"count": len(rows[section])}


def _value(value: str) -> tuple[int, str, str]:
    parts = (value or "").split(":", 2)
    try:
        year = int(parts[0])
    except ValueError:
        year = 0
    return year, parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""


async def open_section(svc: Services, actor: Actor, value: str, *, saved: bool = False) -> Screen:
    year, section, _ = _value(value)
    if section not in SECTIONS or not year:
        return await menu(svc, actor)
    async with svc.db.transaction() as session:
        if not may_edit(await roles_of(session, actor.person_id), section):
            return refusal(svc, actor)
        rows = await store.year_rows(session, actor.org_id, year)
    return section_screen(svc, actor, year, section, rows, saved=saved)


def _edit(t, year: int, section: str, item: str, label: str = "facts.edit") -> Buttons:
    return Buttons((Button(EDIT_ACTION, t(label), f"{year}:{section}:{item}"),))


def section_screen(svc: Services, actor: Actor, year: int, section: str, rows: dict[str, Any], *,
                   saved: bool = False) -> Screen:
    t = _t(svc, actor)
    blocks: list = [Header(t(f"facts.section.{section}.header", year=str(year)))]
    if saved:
        blocks.append(Note(t("facts.saved")))
    blocks.append(Note(t(f"facts.section.{section}.intro")))
    items: list[tuple[str, str]] = []  # (text, item value)
    if section == "internal_control":
        entered = {r.routine: r for r in rows[section]}
        for code in MANDATORY_ROUTINES:
            r = entered.get(code)
            items.append((_control_line(t, t(f"facts.routine.{code}"), r), code))
        items += [(_control_line(t, r.routine, r), f"other{r.id}") for r in rows[section]
                  if r.routine not in MANDATORY_ROUTINES]
    elif section == "dpo_findings":
        entered = {r.area: r for r in rows[section]}
        for code in DPO_AREAS:
            r = entered.get(code)
            items.append((t("facts.line.dpo", area=t(f"facts.area.{code}"),
                            grade=t(f"facts.grade.{r.grade}") if r else t("facts.not_entered"),
                            findings=_short(r.findings if r else None)), code))
    elif section == "rsa":
        r = rows[section]
        items.append((t("facts.line.rsa", cycle=(r.cycle if r else None) or "–", summary=_short(r.summary if r else None),
                        processes=_number(r.processes_with_risks if r else None),
                        action_plans=_number(r.action_plans if r else None),
                        continuity_plans=_number(r.continuity_plans if r else None)), "rsa"))
    elif section == "audit_findings":
        items += [(t("facts.line.audit", source=r.source, finding=_short(r.finding),
                     severity=t(f"facts.severity.{r.severity}"), status=t(f"facts.audit_status.{r.status}")), str(r.id))
                  for r in rows[section]]
    elif section == "plan":
        items += [(t("facts.line.plan", year=str(a.year), title=_short(a.title), owner=a.owner or "–",
                     priority=str(a.priority), status=t(f"facts.plan_status.{a.status}")), str(a.id))
                  for a in rows[section]]
    else:
        items += [(t("facts.line.context", kind=t(f"facts.context_kind.{n.kind}"), text=_short(n.text)), str(n.id))
                  for n in rows[section]]
    for text, item in items[:SHOWN_ITEMS]:
        blocks += [Text(text), _edit(t, year, section, item)]
    if len(items) > SHOWN_ITEMS:
        blocks.append(Note(t("facts.more", count=len(items) - SHOWN_ITEMS, year=str(year))))
    if not items:
        blocks.append(Text(t("facts.none")))
    nav = [Button(MENU_ACTION, t("facts.back"), str(year))]
    if section in LIST_SECTIONS or section == "internal_control":
        nav.insert(0, Button(EDIT_ACTION, t(f"facts.section.{section}.add"), f"{year}:{section}:{NEW}", "primary"))
    blocks.append(Buttons(tuple(nav)))
    return _screen(svc, actor, blocks)


def _control_line(t, name: str, r) -> str:
    return t("facts.line.control", routine=name, result=t(f"facts.result.{r.result}") if r else t("facts.not_entered"),
             findings=_short(r.findings if r else None))


def _short(text: str | None, limit: int = 300) -> str:
    if not text:
        return "–"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: int | None) -> str:
    return "–" if value is None else str(value)


def _options(svc: Services, actor: Actor, prefix: str, codes, values=None) -> tuple[Option, ...]:
    values = values or {c: c for c in codes}
    return tuple(Option(str(values[c]), svc.texts.t(actor.lang, f"{prefix}.{c}")) for c in codes)


def _remove_field(t) -> ChoiceField:
    return ChoiceField(REMOVE, t("facts.form.remove"), (Option(REMOVE, t("facts.form.remove_option")),), multi=True,
                       optional=True)


async def open_edit(svc: Services, actor: Actor, value: str) -> Form | Screen:
    """An item's form, with what is entered prefilled."""
    year, section, item = _value(value)
    if section not in SECTIONS or not year:
        return await menu(svc, actor)
    async with svc.db.transaction() as session:
        if not may_edit(await roles_of(session, actor.person_id), section):
            return refusal(svc, actor)
        rows = await store.year_rows(session, actor.org_id, year)
        current = None
        if section in LIST_SECTIONS and item != NEW:
            current = await store.get_item(session, actor.org_id, section, _int(item))
            if current is None:
                return section_screen(svc, actor, year, section, rows)
        if section == "internal_control" and item.startswith("other"):
            current = await store.get_item(session, actor.org_id, section, _int(item[len("other"):]))
            if current is None or current.year != year:
                return section_screen(svc, actor, year, section, rows)
    return edit_form(svc, actor, year, section, item, rows, current)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def edit_form(svc: Services, actor: Actor, year: int, section: str, item: str, rows: dict[str, Any],
              current=None) -> Form:
    t = _t(svc, actor)
    meta = {"year": year, "section": section, "item": item}
    common = dict(id=FORMS[section], title=t(f"facts.form.{section}.title"), submit=t("facts.form.save"),
                  close=t("facts.form.cancel"), metadata=meta)
    if section == "internal_control":
        if item in MANDATORY_ROUTINES:
            current = next((r for r in rows[section] if r.routine == item), None)
            intro, name_field = t("facts.form.internal_control.intro", routine=t(f"facts.routine.{item}"),
                                  year=str(year)), ()
        else:
            intro = t("facts.form.internal_control.intro_other", year=str(year))
            name_field = (TextField("routine", t("facts.form.internal_control.routine"), max_length=100,
                                    initial=current.routine if current else None),)
        fields = name_field + (
            TextField("checked", t("facts.form.internal_control.checked"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=current.checked if current else None),
            TextField("method", t("facts.form.internal_control.method"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=current.method if current else None),
            ChoiceField("result", t("facts.form.internal_control.result"),
                        _options(svc, actor, "facts.result", RESULT_SPELLING, RESULT_SPELLING),
                        initial=(RESULT_SPELLING[current.result],) if current else ()),
            TextField("findings", t("facts.form.internal_control.findings"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=current.findings if current else None,
                      hint=t("facts.form.internal_control.findings_hint")),
        )
        if current is not None:
            fields += (_remove_field(t),)
        return Form(**common, intro=intro, fields=fields)
    if section == "dpo_findings":
        current = next((r for r in rows[section] if r.area == item), None)
        fields = (
            ChoiceField("grade", t("facts.form.dpo_findings.grade"), _options(svc, actor, "facts.grade", ("1", "2", "3", "4")),
                        initial=(str(current.grade),) if current else (), hint=t("facts.section.dpo_findings.intro")),
            TextField("findings", t("facts.form.dpo_findings.findings"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=current.findings if current else None),
            TextField("recommendations", t("facts.form.dpo_findings.recommendations"), multiline=True, optional=True,
                      max_length=TEXT_MAX, initial=current.recommendations if current else None),
        )
        if current is not None:
            fields += (_remove_field(t),)
        meta["item"] = item if item in DPO_AREAS else DPO_AREAS[0]
        return Form(**common, intro=t("facts.form.dpo_findings.intro", area=t(f"facts.area.{meta['item']}"),
                                      year=str(year)), fields=fields)
    if section == "rsa":
        r = rows["rsa"]
        return Form(**common, intro=t("facts.form.rsa.intro", year=str(year)), fields=(
            TextField("cycle", t("facts.form.rsa.cycle"), optional=True, max_length=50, initial=r.cycle if r else None,
                      placeholder=t("facts.form.rsa.cycle_placeholder")),
            TextField("summary", t("facts.form.rsa.summary"), multiline=True, optional=True, max_length=TEXT_MAX,
                      initial=r.summary if r else None),
            NumberField("processes_with_risks", t("facts.form.rsa.processes_with_risks"), optional=True,
                        maximum=1_000_000, initial=r.processes_with_risks if r else None),
            NumberField("action_plans", t("facts.form.rsa.action_plans"), optional=True, maximum=1_000_000,
                        initial=r.action_plans if r else None),
            NumberField("continuity_plans", t("facts.form.rsa.continuity_plans"), optional=True, maximum=1_000_000,
                        initial=r.continuity_plans if r else None),
        ))
    if section == "audit_findings":
        c = current
        fields = (
            TextField("source", t("facts.form.audit_findings.source"), max_length=100, initial=c.source if c else None,
                      placeholder=t("facts.form.audit_findings.source_placeholder")),
            TextField("finding", t("facts.form.audit_findings.finding"), multiline=True, max_length=TEXT_MAX,
                      initial=c.finding if c else None),
            ChoiceField("severity", t("facts.form.audit_findings.severity"),
                        _options(svc, actor, "facts.severity", AUDIT_SEVERITIES), initial=(c.severity,) if c else ()),
            TextField("corrective_action", t("facts.form.audit_findings.corrective_action"), multiline=True,
                      optional=True, max_length=TEXT_MAX, initial=c.corrective_action if c else None),
            ChoiceField("status", t("facts.form.audit_findings.status"),
                        _options(svc, actor, "facts.audit_status", AUDIT_STATUSES),
                        initial=(c.status,) if c else ("open",)),
            DateField("due", t("facts.form.audit_findings.due"), optional=True, initial=c.due if c else None),
        )
        if c is not None:
            fields += (_remove_field(t),)
        return Form(**common, intro=t("facts.form.audit_findings.intro", year=str(year)), fields=fields)
    if section == "plan":
        c = current
        years = tuple(str(y) for y in range(year, year + PLAN_YEARS_AHEAD + 1))
        fields = (
            ChoiceField("year", t("facts.form.plan.year"), tuple(Option(y, y) for y in years),
                        initial=(str(c.year),) if c and str(c.year) in years else (str(year + 1),)),
            TextField("title", t("facts.form.plan.title_field"), multiline=True, max_length=TEXT_MAX,
                      initial=c.title if c else None),
            TextField("owner", t("facts.form.plan.owner"), optional=True, max_length=200, initial=c.owner if c else None,
                      hint=t("facts.form.plan.owner_hint")),
            ChoiceField("priority", t("facts.form.plan.priority"), _options(svc, actor, "facts.priority", ("1", "2", "3")),
                        initial=(str(c.priority),) if c else ("2",)),
            ChoiceField("status", t("facts.form.plan.status"), _options(svc, actor, "facts.plan_status", PLAN_STATUSES),
                        initial=(c.status,) if c else ("planned",)),
            ChoiceField("origin", t("facts.form.plan.origin"), _options(svc, actor, "facts.origin", PLAN_ORIGINS),
                        initial=(c.origin,) if c else ("coordinator",)),
        )
        if c is not None:
            fields += (_remove_field(t),)
        return Form(**common, intro=t("facts.form.plan.intro", year=str(year)), fields=fields)
    c = current
    fields = (
        ChoiceField("kind", t("facts.form.context.kind"), _options(svc, actor, "facts.context_kind", CONTEXT_KINDS),
                    initial=(c.kind,) if c else ()),
        TextField("text", t("facts.form.context.text"), multiline=True, max_length=TEXT_MAX,
                  initial=c.text if c else None),
    )
    if c is not None:
        fields += (_remove_field(t),)
    return Form(**common, intro=t("facts.form.context.intro", year=str(year)), fields=fields)


# ---- a submitted form ---------------------------------------------------------------------------------------

_MODELS = {"internal_control": ControlItem, "dpo_findings": DpoItem, "rsa": RsaItem, "audit_findings": AuditItem,
           "plan": PlanItem, "context": ContextNoteItem}


def _validate(svc: Services, actor: Actor, section: str, item: str, values: dict[str, Any]) -> Any:
    """The form's values through the same model a file's item goes through: a model, or FormErrors."""
    model = _MODELS[section]
    raw = {k: v for k, v in values.items() if k != REMOVE and k in model.model_fields}
    if section == "internal_control" and item in MANDATORY_ROUTINES:
        raw["routine"] = item
    if section == "dpo_findings":
        raw["area"] = item
    fields = {k for k in values if k != REMOVE}
    try:
        parsed = model.model_validate({norm(k): v for k, v in raw.items()})
    except ValidationError as exc:
        return FormErrors(errors_of(svc, actor.lang, exc, fields))
    if section == "internal_control":
        errors = {name: svc.texts.t(actor.lang, f"facts.import.error.{kind}", **params)
                  for name, (kind, params) in control_rules(parsed).items()}
        if errors:
            return FormErrors(errors)
    return parsed


class _Refused(Exception):
    """A check that needed the database failed: the transaction rolls back, nothing is stored."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


async def submit(svc: Services, actor: Actor, form_id: str, metadata: dict[str, Any], values: dict[str, Any], *,
                 submission_key: str) -> FormErrors | Screen:
    """Save one item once (a repeated submission changes nothing) and show its section again. Bad input comes
    back as field errors and changes nothing."""
    section = FORM_SECTION[form_id]
    year, item = _int(str(metadata.get("year") or "")), str(metadata.get("item") or "")
    async with svc.db.transaction() as session:
        if not year or not may_edit(await roles_of(session, actor.person_id), section):
            return refusal(svc, actor)
    removing = REMOVE in (values.get(REMOVE) or ())
    parsed = None if removing else _validate(svc, actor, section, item, values)
    if isinstance(parsed, FormErrors):
        return parsed
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as session:
            if not await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64], "received_at": now},
                                       ["event_id"]):
                return section_screen(svc, actor, year, section, await store.year_rows(session, actor.org_id, year))
            problem = await _save(session, svc, actor, year, section, item, parsed, removing, now)
            if problem:
                raise _Refused(problem)
            rows = await store.year_rows(session, actor.org_id, year)
    except _Refused as refused:
        return FormErrors(refused.errors)
    return section_screen(svc, actor, year, section, rows, saved=True)


async def _save(session: AsyncSession, svc: Services, actor: Actor, year: int, section: str, item: str, parsed,
                removing: bool, now: datetime) -> dict[str, str] | None:
    t = _t(svc, actor)
    org = actor.org_id
    if section == "internal_control":
        old = None
        if item.startswith("other"):
            old = await store.get_item(session, org, section, _int(item[len("other"):]))
            old = old if old is not None and old.year == year else None
        elif item in MANDATORY_ROUTINES:
            old = next((r for r in await store.control_results(session, org, year) if r.routine == item), None)
        if removing:
            if old is not None:
                await store.delete_control_result(session, org, year, old.routine)
            return None
        clash = next((r for r in await store.control_results(session, org, year)
                      if store.list_key(r.routine) == store.list_key(parsed.routine) and (old is None or r.id != old.id)),
                     None)
        if clash is not None and item not in MANDATORY_ROUTINES:
            return {"routine": t("facts.import.error.exists")}
        if old is not None and old.routine != parsed.routine:
            await store.delete_control_result(session, org, year, old.routine)
        await store.put_control_result(session, org, year, parsed.routine, checked=parsed.checked, method=parsed.method,
                                       result=parsed.result, findings=parsed.findings, by=actor.person_id, now=now)
        return None
    if section == "dpo_findings":
        if removing:
            await store.delete_dpo_finding(session, org, year, item)
            return None
        await store.put_dpo_finding(session, org, year, parsed.area, grade=parsed.grade, findings=parsed.findings,
                                    recommendations=parsed.recommendations, by=actor.person_id, now=now)
        return None
    if section == "rsa":
        await store.put_risk_analysis(session, org, year, **parsed.model_dump(), by=actor.person_id, now=now)
        return None
    item_id = None if item == NEW else _int(item)
    if removing:
        if item_id:
            await store.delete_item(session, org, section, item_id)
        return None
    values = parsed.model_dump()
    await store.lock_facts(session, org)
    if section == "plan":
        if not year <= parsed.year <= year + PLAN_YEARS_AHEAD:
            return {"year": t("facts.import.error.plan_year", first=str(year), last=str(year + PLAN_YEARS_AHEAD))}
        if is_person_name(parsed.owner, await person_names(session, org)):
            return {"owner": t("facts.import.error.owner_is_person", owner=parsed.owner)}
    key_field = {"audit_findings": "finding", "plan": "title", "context": "text"}[section]
    same = await store.rows_with_key(session, org, section, store.item_key(section, year, values))
    if any(r.id != item_id for r in same):
        return {key_field: t("facts.import.error.exists")}
    if item_id and await store.get_item(session, org, section, item_id) is None:
        return {key_field: t("facts.import.error.gone")}
    await store.save_list_item(session, org, section, year, values, now=now, item_id=item_id)
    return None
