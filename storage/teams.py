"""Microsoft Teams identities: which organisation a tenant is, who an account is, where to send to it.

One organisation, one set of people, whichever client they use. A Teams tenant becomes an organisation
once, through `organisation_links`, and stays so:
  1. a link made before;
  2. else an organisation of the tenant itself (platform "teams"), made before;
  3. else the Slack workspace named by LISBOT_TEAMS_ORG ("slack:T0123ABC");
  4. else the only organisation there is (a Slack deployment that now also gets Teams);
  5. else a new organisation for the tenant.
People are matched by their Entra object id, then by their Teams account id, then by e-mail (the HR file
or their Slack profile), so a coordinator in Slack and in Teams is one person with one set of roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.directory import ensure_organisation
from storage.models import Organisation, OrganisationLink, Person, TeamsConversation
from storage.people import find_organisation, lock_directory, person_by_email
from storage.upsert import insert_ignore

PLATFORM = "teams"


@dataclass(frozen=True)
class TeamsAccount:
    """What an activity (and, the first time, the member lookup) tells about its sender."""

    user_id: str  # 29:…
    aad_object_id: str | None
    name: str | None = None
    email: str | None = None
    locale: str | None = None
    tz: str | None = None


async def teams_organisation(session: AsyncSession, tenant_id: str, *, link_to: str | None, now: datetime) -> Organisation:
    """The organisation of a tenant, deciding (once, recorded) when it is seen for the first time."""
    link = await session.get(OrganisationLink, (PLATFORM, tenant_id))
    if link is not None:
        return await session.get(Organisation, link.org_id)
    org = await find_organisation(session, PLATFORM, tenant_id)
    if org is None and link_to:
        platform, _, external_id = link_to.partition(":")
        org = await ensure_organisation(session, platform, external_id, now)
    if org is None:
        existing = list((await session.execute(select(Organisation).limit(2))).scalars())
        org = existing[0] if len(existing) == 1 else await ensure_organisation(session, PLATFORM, tenant_id, now)
    await insert_ignore(session, OrganisationLink, {"platform": PLATFORM, "external_id": tenant_id, "org_id": org.id,
                                                    "created_at": now}, ["platform", "external_id"])
    link = await session.get(OrganisationLink, (PLATFORM, tenant_id), populate_existing=True)
    return await session.get(Organisation, link.org_id)


async def linked_organisation(session: AsyncSession, tenant_id: str) -> Organisation | None:
    link = await session.get(OrganisationLink, (PLATFORM, tenant_id))
    return await session.get(Organisation, link.org_id) if link else await find_organisation(session, PLATFORM, tenant_id)


async def person_by_teams_id(session: AsyncSession, org_id: int, user_id: str, aad_object_id: str | None) -> Person | None:
    match = Person.teams_user_id == user_id
    if aad_object_id:
        match = or_(match, Person.aad_object_id == aad_object_id)
    rows = list((await session.execute(select(Person).where(Person.org_id == org_id, match))).scalars())
    # The Entra object id is the stronger identity: prefer the row that has it.
    rows.sort(key=lambda p: p.aad_object_id != aad_object_id)
    return rows[0] if rows else None


async def attach_teams_account(session: AsyncSession, org_id: int, account: TeamsAccount, now: datetime) -> Person:
    """The person behind a Teams account: found by id, or by e-mail (then the account is attached to them),
    or created."""
    await lock_directory(session, org_id)
    person = await person_by_teams_id(session, org_id, account.user_id, account.aad_object_id)
    email = account.email.strip().lower() if account.email else None
    if person is None and email:
        person = await person_by_email(session, org_id, email)
    if person is None:
        person = Person(org_id=org_id, name=account.name, email=email, locale=account.locale, tz=account.tz,
                        active=True, in_hr_file=False, created_at=now, updated_at=now)
        session.add(person)
    person.teams_user_id = account.user_id
    if account.aad_object_id:
        person.aad_object_id = account.aad_object_id
    if email and person.email is None:
        person.email = email
    if account.name and (not person.in_hr_file or not person.name):
        person.name = account.name
    if account.locale and person.locale is None:
        person.locale = account.locale
    if account.tz and person.tz is None:
        person.tz = account.tz
    person.updated_at = now
    await session.flush()
    return person


async def remember_conversation(session: AsyncSession, org_id: int, conversation_id: str, *, kind: str | None,
                                service_url: str, tenant_id: str | None, now: datetime) -> None:
    """Where a conversation is served from: a channel the bot must post to later needs it."""
    row = await session.get(TeamsConversation, conversation_id)
    if row is None:
        await insert_ignore(session, TeamsConversation, {
            "conversation_id": conversation_id, "org_id": org_id, "kind": kind, "service_url": service_url,
            "tenant_id": tenant_id, "updated_at": now}, ["conversation_id"])
        return
    if (row.service_url, row.kind, row.tenant_id) != (service_url, kind, tenant_id):
        row.service_url, row.kind, row.tenant_id, row.updated_at = service_url, kind, tenant_id, now


async def remember_personal_conversation(session: AsyncSession, person: Person, conversation_id: str, *,
                                         service_url: str, tenant_id: str | None) -> None:
    """The person's 1:1 chat with the bot: where receipts and reminders go."""
    if (person.teams_conversation_id, person.teams_service_url, person.teams_tenant_id) != (
            conversation_id, service_url, tenant_id):
        person.teams_conversation_id, person.teams_service_url, person.teams_tenant_id = (
            conversation_id, service_url, tenant_id)


async def conversation_of(session: AsyncSession, conversation_id: str) -> TeamsConversation | None:
    return await session.get(TeamsConversation, conversation_id)


async def people_to_pick(session: AsyncSession, org_id: int, limit: int = 200) -> dict[int, str]:
    """Active people by name, for a person field: id -> name (or e-mail)."""
    rows = await session.execute(
        select(Person.id, Person.name, Person.email).where(Person.org_id == org_id, Person.active.is_(True))
        .order_by(func.lower(func.coalesce(Person.name, Person.email, ""))).limit(limit))
    return {pid: name or email or f"#{pid}" for pid, name, email in rows}


async def names_by_slack_id(session: AsyncSession, slack_ids: set[str]) -> dict[str, str]:
    if not slack_ids:
        return {}
    rows = await session.execute(select(Person.slack_user_id, Person.name).where(Person.slack_user_id.in_(slack_ids)))
    return {uid: name for uid, name in rows if name}
