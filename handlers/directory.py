"""Who is who: the HR file a coordinator provides and the members of the chat workspace. Platform-neutral.

The HR file is checked as a whole before anything is stored. A file with bad rows imports nothing and
gets a report of every bad row (line and reason), unless the coordinator chooses to import the correct
rows; then the people on the bad rows are left exactly as they were. Re-importing updates, never
duplicates; HR-managed people missing from the new file are deactivated, never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.model import Actor, Button, Buttons, Header, Message, Note, Text
from handlers.access import ADMIN, CEO, COORDINATOR, DPO, MANAGER, OBJECT_OWNER, ROLES, roles_of
from handlers.services import Services
from handlers.tabular import (
    Column, FileError, FileWarning, InvalidValue, RowError, fold, parse_date, parse_email, read_table, split_list,
)
from storage.models import Person
from storage.outbox import enqueue
from storage.people import ChatMember, HrCounts, HrPerson, MemberCounts, active_emails, apply_hr_file, apply_members

IMPORT_ACTION = "directory_import_good_rows"
CANCEL_ACTION = "directory_import_cancel"
# Who may replace the staff list.
IMPORTER_ROLES = frozenset({ADMIN, COORDINATOR})
EMPLOYEE, CONSULTANT = "employee", "consultant"
# A chat section holds 3000 characters; the rest of a long error list is counted, not shown.
CHAT_PROBLEM_CHARS = 2800
CHAT_PROBLEM_LINES = 40

_EMAIL_ALIASES = ("e-post", "e-postadress", "epostadress", "mejl", "mejladress", "mail", "e-mail", "email address")
_ROLE_WORDS = {
    MANAGER: ("chef", "manager"),
    OBJECT_OWNER: ("objektledare", "object owner"),
    COORDINATOR: ("informationssäkerhetssamordnare", "information security coordinator"),
    DPO: ("dataskyddsombud", "data protection officer", "dpo"),
    CEO: ("bolagschef", "förvaltningschef", "ceo"),
    ADMIN: ("admin", "administratör", "administrator"),
}
assert set(_ROLE_WORDS) == set(ROLES), "every role in handlers.access.ROLES needs its words here"
ROLE_CODES = {fold(word): code for code, words in _ROLE_WORDS.items() for word in (code, *words)}
_EMPLOYMENT_WORDS = {
    EMPLOYEE: ("anställd", "anställning", "tillsvidareanställd", "tillsvidareanställning", "tillsvidare",
               "visstidsanställd", "visstidsanställning", "visstid", "provanställd", "provanställning",
               "timanställd", "timanställning", "employee", "employed"),
    CONSULTANT: ("konsult", "inhyrd konsult", "inhyrd", "consultant", "contractor"),
}
EMPLOYMENT_CODES = {fold(word): code for code, words in _EMPLOYMENT_WORDS.items() for word in words}


def parse_roles(text: str) -> tuple[str, ...]:
    """"Chef, Informationssäkerhetssamordnare" -> ("chef", "informationssakerhetssamordnare"); å/ä/ö optional."""
    codes: list[str] = []
    unknown: list[str] = []
    for word in split_list(text):
        code = ROLE_CODES.get(fold(word))
        if code is None:
            unknown.append(word)
        elif code not in codes:
            codes.append(code)
    if unknown:
        raise InvalidValue("unknown_role", roles=", ".join(unknown))
    return tuple(codes)


def parse_employment(text: str) -> str:
    code = EMPLOYMENT_CODES.get(fold(text))
    if code is None:
        raise InvalidValue("unknown_employment")
    return code


COLUMNS = (
    Column("email", aliases=_EMAIL_ALIASES, required=True, parse=parse_email, unique=True),
    Column("name", aliases=("namn", "fullständigt namn", "full name"), required=True),
    Column("department", aliases=("avdelning", "enhet")),
    Column("manager_email", aliases=("chef", "chefens e-post", "chef e-post", "manager", "manager email"),
           parse=parse_email),
    Column("employment", aliases=("anställningsform", "anställning", "employment type"), parse=parse_employment),
    Column("roles", aliases=("roller", "roll", "role"), parse=parse_roles),
    Column("start_date", aliases=("startdatum", "start date", "startdate"), parse=parse_date),
)
# The same file read for its e-mail cells alone, valid or not: who stands on each line.
_EMAIL_CELLS = (Column("email", aliases=_EMAIL_ALIASES, parse=lambda text: text.strip().lower()),)


@dataclass
class FileCheck:
    """What a file says and what is wrong with it; nothing is stored by checking."""

    rows: list[HrPerson] = field(default_factory=list)  # the correct rows, in file order
    errors: list[RowError] = field(default_factory=list)  # every problem, by line
    file_errors: list[FileError] = field(default_factory=list)
    warnings: list[FileWarning] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    keep: set[str] = field(default_factory=set)  # e-mails on bad rows: left untouched by a good-rows import

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})


@dataclass
class ImportResult:
    check: FileCheck
    imported: bool = False
    counts: HrCounts | None = None  # what the import did
    preview: HrCounts | None = None  # what importing the correct rows would do

    @property
    def importable(self) -> bool:
        """A good-rows import is on offer."""
        return not self.imported and not self.check.file_errors and bool(self.check.rows)


@dataclass(frozen=True)
class ReportTo:
    """Where the report goes: a DM to `actor`, once per dedupe key."""

    actor: Actor
    dedupe_key: str
    filename: str
    token: str = ""  # carried by the import button; opaque here


# ---- permission -------------------------------------------------------------------


async def may_import_people(svc: Services, actor: Actor) -> bool:
    async with svc.db.transaction() as session:
        person = await session.get(Person, actor.person_id)
        return bool(person and person.active and await roles_of(session, actor.person_id) & IMPORTER_ROLES)


# ---- the HR file --------------------------------------------------------------------


async def check_people_file(svc: Services, org_id: int, data: bytes) -> FileCheck:
    table = read_table(data, COLUMNS)
    check = FileCheck(file_errors=list(table.file_errors), warnings=list(table.warnings), headers=dict(table.headers))
    if check.file_errors:
        return check
    if not table.rows and not table.errors:
        check.file_errors.append(FileError("no_rows"))
        return check

    email_on_line = {row["_line"]: row["email"] for row in read_table(data, _EMAIL_CELLS).rows if row["email"]}
    errors = list(table.errors)
    bad: dict[str, int] = {}  # e-mail -> first bad line it stands on
    for error in sorted(errors, key=lambda e: e.line):
        if error.line in email_on_line:
            bad.setdefault(email_on_line[error.line], error.line)
    good = {row["email"]: HrPerson(email=row["email"], name=row["name"], department=row["department"],
                                   manager_email=row["manager_email"], employment=row["employment"],
                                   roles=row["roles"] or (), start_date=row["start_date"], line=row["_line"])
            for row in table.rows}
    async with svc.db.transaction() as session:
        directory = await active_emails(session, org_id)

    def stays(email: str) -> bool:
        """Someone who is in the directory and remains active after this file (see apply_hr_file)."""
        return email in good or (email in directory and (not directory[email] or email in bad))

    # Dropping a row can orphan the people it manages, so check until nothing changes.
    changed = True
    while changed:
        changed = False
        for person in list(good.values()):
            manager = person.manager_email
            if manager is None:
                continue
            if manager == person.email:
                error = RowError(person.line, "manager_email", "own_manager", {"value": manager})
            elif stays(manager):
                continue
            elif manager in bad:
                error = RowError(person.line, "manager_email", "manager_has_errors",
                                 {"value": manager, "manager_line": bad[manager]})
            else:
                error = RowError(person.line, "manager_email", "unknown_manager", {"value": manager})
            errors.append(error)
            del good[person.email]
            bad.setdefault(person.email, person.line)
            changed = True
    check.rows = sorted(good.values(), key=lambda p: p.line)
    check.errors = sorted(errors, key=lambda e: e.line)
    check.keep = set(bad)
    return check


async def import_people_file(svc: Services, org_id: int, data: bytes, *, import_good_rows: bool = False,
                             report_to: ReportTo | None = None) -> ImportResult:
    """Check the file; import it if it is correct, or its correct rows if asked to. The report (if wanted)
    is queued in the same transaction as the import: imported means reported, exactly once."""
    now = svc.clock.now()
    result = ImportResult(check=await check_people_file(svc, org_id, data))
    check = result.check
    if check.file_errors or not check.rows or (check.errors and not import_good_rows):
        if result.importable:
            result.preview = await _dry_run(svc, org_id, check, now)
        if report_to:
            async with svc.db.transaction() as session:
                await _queue_report(svc, session, report_to, result, now)
            svc.wake_delivery()
        return result
    async with svc.db.transaction() as session:
        result.counts = await apply_hr_file(session, org_id, check.rows, keep=check.keep, now=now)
        result.imported = True
        if report_to:
            await _queue_report(svc, session, report_to, result, now)
    if report_to:
        svc.wake_delivery()
    return result


async def _dry_run(svc: Services, org_id: int, check: FileCheck, now: datetime) -> HrCounts:
    """What importing the correct rows would do: the real import, rolled back."""
    async with svc.db.sessions() as session:
        try:
            return await apply_hr_file(session, org_id, check.rows, keep=check.keep, now=now)
        finally:
            await session.rollback()


async def _queue_report(svc: Services, session, to: ReportTo, result: ImportResult, now: datetime) -> None:
    message = report_message(svc, to.actor.lang, result, filename=to.filename, token=to.token)
    await enqueue(session, org_id=to.actor.org_id, dedupe_key=to.dedupe_key, recipient_kind="person",
                  recipient=str(to.actor.person_id), payload={"message": message.to_dict()}, now=now)


async def tell(svc: Services, actor: Actor, dedupe_key: str, message: Message) -> None:
    """A DM to the actor through the outbox: sent once, at the pace the platform allows."""
    async with svc.db.transaction() as session:
        await enqueue(session, org_id=actor.org_id, dedupe_key=dedupe_key, recipient_kind="person",
                      recipient=str(actor.person_id), payload={"message": message.to_dict()}, now=svc.clock.now())
    svc.wake_delivery()


# ---- chat members -------------------------------------------------------------------


async def apply_chat_members(svc: Services, org_id: int, members: list[ChatMember]) -> MemberCounts:
    async with svc.db.transaction() as session:
        return await apply_members(session, org_id, members, svc.clock.now())


# ---- texts ------------------------------------------------------------------------------


def counts_text(svc: Services, lang: str, counts: HrCounts) -> str:
    return svc.texts.t(lang, "directory.counts", new=counts.new, updated=counts.updated,
                       deactivated=counts.deactivated, unchanged=counts.unchanged)


def problem_text(svc: Services, lang: str, error: RowError, headers: dict[str, str]) -> str:
    t = svc.texts.t
    params: dict[str, Any] = dict(error.params)
    if error.code == "unknown_role":
        params["known"] = ", ".join(t(lang, f"directory.role.{code}") for code in ROLES)
    key = f"directory.problem.{error.code}"
    reason = t(lang, key if svc.texts.has(lang, key) else "directory.problem.invalid_value",
               **{"value": "", **params})
    if error.column is None:
        return t(lang, "directory.line_without_column", line=error.line, reason=reason)
    column = headers.get(error.column) or t(lang, f"directory.column.{error.column}")
    return t(lang, "directory.line", line=error.line, column=column, reason=reason)


def file_error_text(svc: Services, lang: str, error: FileError) -> str:
    params = dict(error.params)
    if "column" in params:
        params["column"] = svc.texts.t(lang, f"directory.column.{params['column']}")
    return svc.texts.t(lang, f"directory.file_error.{error.code}", **params)


def report_message(svc: Services, lang: str, result: ImportResult, *, filename: str, token: str = "",
                   cli: bool = False) -> Message:
    """The report on one file. In chat, the error list is cut to what a message holds and, when there are
    correct rows to import, two buttons ask what to do; on the command line every bad row is listed."""
    t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
    check = result.check
    rows = lambda n: t("directory.rows", count=n)  # noqa: E731
    blocks: list = [Header(t("directory.report.header", filename=filename))]
    if check.file_errors:
        summary = t("directory.report.summary_file_error")
        blocks += [Text(file_error_text(svc, lang, e)) for e in check.file_errors]
    elif result.imported:
        counts = counts_text(svc, lang, result.counts)
        summary = t("directory.report.summary_imported", counts=counts)
        key = "directory.report.imported_good_rows" if check.errors else "directory.report.imported"
        blocks.append(Text(t(key, counts=counts, good=rows(len(check.rows)))))
    else:
        summary = t("directory.report.summary_rejected", bad=rows(len(check.bad_lines)))
        blocks.append(Text(t("directory.report.rejected", bad=rows(len(check.bad_lines)))))
    if check.errors:
        lines = [problem_text(svc, lang, e, check.headers) for e in check.errors]
        shown = lines if cli else _fit(lines)
        text = "\n".join([t("directory.report.problems"), *("• " + line for line in shown)])
        if len(shown) < len(lines):
            text += "\n" + t("directory.report.more", count=len(lines) - len(shown))
        blocks.append(Text(text))
        if len(shown) < len(lines):
            blocks.append(Note(t("directory.report.cli_tip")))
    if not result.imported and not check.file_errors:
        if not check.rows:
            blocks.append(Text(t("directory.report.no_good_rows")))
        elif result.preview is not None:
            good = rows(len(check.rows))
            blocks.append(Text(t("directory.report.preview", good=good, counts=counts_text(svc, lang, result.preview))))
            if cli:
                blocks.append(Text(t("directory.report.cli_import_good_rows", good=good)))
            else:
                blocks.append(Text(t("directory.report.fix_or_import")))
                blocks.append(Buttons((
                    Button(IMPORT_ACTION, t("directory.report.import_button", count=len(check.rows)), token, "primary"),
                    Button(CANCEL_ACTION, t("directory.report.cancel_button"), token),
                )))
    if check.warnings:
        blocks.append(Note("\n".join(svc.texts.t(lang, f"directory.warning.{w.code}", **w.params)
                                     for w in check.warnings)))
    return Message(text=summary, blocks=tuple(blocks))


def _fit(lines: list[str]) -> list[str]:
    shown: list[str] = []
    size = 0
    for line in lines[:CHAT_PROBLEM_LINES]:
        size += len(line) + 3
        if size > CHAT_PROBLEM_CHARS:
            break
        shown.append(line)
    return shown


def notice(svc: Services, lang: str, key: str, **params: Any) -> Message:
    text = svc.texts.t(lang, key, **params)
    return Message(text=text, blocks=(Text(text),))


def sync_text(svc: Services, lang: str, counts: MemberCounts) -> str:
    return svc.texts.t(lang, "directory.sync.done", new=counts.new, updated=counts.updated,
                       deactivated=counts.deactivated, unchanged=counts.unchanged, skipped=counts.skipped)
