"""The directory: people from the HR file and from the chat platform, matched by e-mail (case-insensitive).

Nobody is ever deleted for leaving: a leaver is deactivated (active=False, deactivated_at set) and keeps
their history. The only row ever removed is a duplicate of the same person (a chat account and an HR row
that turn out to share an e-mail); everything that pointed at it is moved to the row that stays.

`in_hr_file` means "managed by the HR file": set when a person appears in an HR file, kept for leavers.
For such people the HR file decides who is active; the chat platform can only deactivate them (a deleted
account), never bring them back. People who were never in an HR file follow their chat account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, Department, Organisation, Person, PersonRole
from storage.upsert import insert_ignore

# A person's Teams identity and the reference for proactive messages, moved together when rows merge.
TEAMS_IDENTITY = ("teams_user_id", "aad_object_id", "teams_conversation_id", "teams_service_url", "teams_tenant_id")

# pg_advisory_xact_lock(class, org id): imports and syncs of one organisation take turns.
DIRECTORY_LOCK_CLASS = 0x11590B08 & 0x7FFFFFFF


@dataclass(frozen=True)
class HrPerson:
    """One correct row of the HR file, already checked."""

    email: str  # lower case
    name: str
    department: str | None = None
    manager_email: str | None = None
    employment: str | None = None  # employee / consultant
    roles: tuple[str, ...] = ()
    start_date: date | None = None
    line: int = 0


@dataclass
class HrCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0


@dataclass(frozen=True)
class ChatMember:
    """A human account on the chat platform (bots are filtered out before they get here)."""

    user_id: str
    name: str | None = None
    email: str | None = None
    locale: str | None = None
    tz: str | None = None
    deleted: bool = False


@dataclass
class MemberCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: int = 0  # deleted accounts we never knew, bots

    def add(self, other: MemberCounts) -> MemberCounts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


# ---- organisations ------------------------------------------------------------


async def organisations(session: AsyncSession, platform: str | None = None) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.id)
    if platform:
        query = query.where(Organisation.platform == platform)
    return list((await session.execute(query)).scalars())


async def find_organisation(session: AsyncSession, platform: str, external_id: str) -> Organisation | None:
    return (await session.execute(select(Organisation).where(
        Organisation.platform == platform, Organisation.external_id == external_id))).scalar_one_or_none()


# ---- reading the directory ----------------------------------------------------------


async def lock_directory(session: AsyncSession, org_id: int) -> None:
    """Serialise writers of one organisation's directory (PostgreSQL; SQLite serialises writers anyway)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": DIRECTORY_LOCK_CLASS, "o": org_id})


async def person_by_email(session: AsyncSession, org_id: int, email: str) -> Person | None:
    return (await session.execute(select(Person).where(
        Person.org_id == org_id, func.lower(Person.email) == email.lower()))).scalars().first()


async def person_by_chat_id(session: AsyncSession, org_id: int, user_id: str) -> Person | None:
    return (await session.execute(select(Person).where(
        Person.org_id == org_id, Person.slack_user_id == user_id))).scalar_one_or_none()


async def active_emails(session: AsyncSession, org_id: int) -> dict[str, bool]:
    """E-mail (lower case) -> in_hr_file, for every active person with an address."""
    rows = await session.execute(select(Person.email, Person.in_hr_file).where(
        Person.org_id == org_id, Person.active.is_(True), Person.email.is_not(None)))
    return {email.lower(): bool(in_hr) for email, in_hr in rows}


async def roles_by_person(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(person_ids)
    roles: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        rows = await session.execute(select(PersonRole.person_id, PersonRole.role).where(
            PersonRole.person_id.in_(ids[start:start + 500])))
        for person_id, role in rows:
            roles[person_id].add(role)
    return roles


# ---- the HR file --------------------------------------------------------------------


async def apply_hr_file(session: AsyncSession, org_id: int, people: Sequence[HrPerson], *, keep: Iterable[str] = (),
                        now: datetime) -> HrCounts:
    """Make the directory say what the file says.

    People in `people` are created or updated (name, department, manager, employment, start date, roles
    replaced) and are active. HR-managed people who are neither in `people` nor in `keep` (the e-mails
    on rows the file got wrong, which are left as they are) are deactivated and lose their roles.
    Every manager e-mail must be in `people` or belong to someone already in the directory.
    """
    await lock_directory(session, org_id)
    persons = list((await session.execute(select(Person).where(Person.org_id == org_id))).scalars())
    by_email = {p.email.lower(): p for p in persons if p.email}
    current_roles = await roles_by_person(session, [p.id for p in persons])
    departments = await _departments(session, org_id, [p.department for p in people if p.department])

    counts = HrCounts()
    changed: dict[str, bool] = {}
    created: set[str] = set()
    for row in people:
        values = {"email": row.email, "name": row.name,
                  "department_id": departments[row.department.casefold()] if row.department else None,
                  "employment": row.employment, "start_date": row.start_date,
                  "active": True, "deactivated_at": None, "in_hr_file": True}
        person = by_email.get(row.email)
        if person is None:
            person = Person(org_id=org_id, created_at=now, updated_at=now, **values)
            session.add(person)
            by_email[row.email] = person
            created.add(row.email)
            changed[row.email] = True
            counts.new += 1
        else:
            changed[row.email] = _assign(person, values)
    await session.flush()

    for row in people:
        person = by_email[row.email]
        manager = by_email.get(row.manager_email) if row.manager_email else None
        if _assign(person, {"manager_id": manager.id if manager is not None and manager is not person else None}):
            changed[row.email] = True
        if await _replace_roles(session, person.id, current_roles.get(person.id, set()), set(row.roles)):
            changed[row.email] = True

    in_file = {row.email for row in people} | {e.lower() for e in keep}
    for person in persons:
        if person.in_hr_file and person.active and (person.email or "").lower() not in in_file:
            person.active, person.deactivated_at, person.updated_at = False, now, now
            await _replace_roles(session, person.id, current_roles.get(person.id, set()), set())
            counts.deactivated += 1

    for row in people:
        if row.email in created:
            continue
        person = by_email[row.email]
        if changed[row.email]:
            person.updated_at = now
            counts.updated += 1
        else:
            counts.unchanged += 1
    await session.flush()
    return counts


async def _departments(session: AsyncSession, org_id: int, names: Iterable[str]) -> dict[str, int]:
    """casefolded name -> id; departments are created as needed, and 'IT' and 'it' are one department."""
    existing = {name.casefold(): dep_id for dep_id, name in await session.execute(
        select(Department.id, Department.name).where(Department.org_id == org_id))}
    for name in names:
        if name.casefold() not in existing:
            await insert_ignore(session, Department, {"org_id": org_id, "name": name}, ["org_id", "name"])
            existing[name.casefold()] = (await session.execute(select(Department.id).where(
                Department.org_id == org_id, Department.name == name))).scalar_one()
    return existing


async def _replace_roles(session: AsyncSession, person_id: int, current: set[str], wanted: set[str]) -> bool:
    if current == wanted:
        return False
    gone = current - wanted
    if gone:
        await session.execute(delete(PersonRole).where(PersonRole.person_id == person_id, PersonRole.role.in_(gone)))
    for role in sorted(wanted - current):
        session.add(PersonRole(person_id=person_id, role=role))
    current.clear()
    current.update(wanted)
    return True


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# ---- chat members -------------------------------------------------------------------


async def apply_members(session: AsyncSession, org_id: int, members: Iterable[ChatMember], now: datetime) -> MemberCounts:
    await lock_directory(session, org_id)
    counts = MemberCounts()
    for member in members:
        outcome, _ = await apply_member(session, org_id, member, now, locked=True)
        setattr(counts, outcome, getattr(counts, outcome) + 1)
    return counts


async def apply_member(session: AsyncSession, org_id: int, member: ChatMember, now: datetime, *,
                       locked: bool = False) -> tuple[str, Person | None]:
    """Upsert one chat account. Returns (new / updated / unchanged / deactivated / skipped, the person)."""
    if not locked:
        await lock_directory(session, org_id)
    by_id = await person_by_chat_id(session, org_id, member.user_id)
    if member.deleted:
        # A deleted account deactivates its own row only: its e-mail may already belong to a new account.
        if by_id is None:
            return "skipped", None
        if not by_id.active:
            return "unchanged", by_id
        by_id.active, by_id.deactivated_at, by_id.updated_at = False, now, now
        await session.flush()
        return "deactivated", by_id

    email = member.email.strip().lower() if member.email else None
    by_email = await person_by_email(session, org_id, email) if email else None
    if by_email is not None and by_id is not None and by_email.id != by_id.id:
        await merge_people(session, keep=by_email, drop=by_id)
        by_id = None
    person = by_email or by_id
    if person is None:
        person = Person(org_id=org_id, slack_user_id=member.user_id, name=member.name, email=email,
                        locale=member.locale, tz=member.tz, active=True, in_hr_file=False,
                        created_at=now, updated_at=now)
        session.add(person)
        await session.flush()
        return "new", person

    values: dict[str, Any] = {"slack_user_id": member.user_id}
    if email:
        values["email"] = email
    if member.locale:
        values["locale"] = member.locale
    if member.tz:
        values["tz"] = member.tz
    if member.name and (not person.in_hr_file or not person.name):
        values["name"] = member.name  # the HR file's name is the official one
    if not person.in_hr_file and not person.active:
        values.update(active=True, deactivated_at=None)  # the account was reactivated
    if not _assign(person, values):
        return "unchanged", person
    person.updated_at = now
    await session.flush()
    return "updated", person


async def merge_people(session: AsyncSession, *, keep: Person, drop: Person) -> None:
    """`drop` is the same person as `keep`: move everything that points at it to `keep`, then remove it."""
    await session.flush()
    roles = await roles_by_person(session, [keep.id, drop.id])
    for role in sorted(roles.get(drop.id, set()) - roles.get(keep.id, set())):
        session.add(PersonRole(person_id=keep.id, role=role))
    await session.execute(delete(PersonRole).where(PersonRole.person_id == drop.id))
    people = Person.__table__
    for table in Base.metadata.sorted_tables:
        if table is PersonRole.__table__:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is people:
                await session.execute(update(table).where(fk.parent == drop.id).values({fk.parent.name: keep.id}))
    for name in ("locale", "tz", "dm_channel_id", "name"):
        if getattr(keep, name) is None:
            setattr(keep, name, getattr(drop, name))
    # Unique per organisation: taken over only once the duplicate is gone.
    teams = {name: getattr(drop, name) for name in TEAMS_IDENTITY if getattr(keep, name) is None}
    await session.delete(drop)
    await session.flush()
    for name, value in teams.items():
        setattr(keep, name, value)
    await session.refresh(keep)
    if keep.manager_id == keep.id:
        keep.manager_id = None
