"""Who may see what. Private by default: a case is visible to its reporter and to the roles entitled to it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import Actor
from storage.models import Incident, Person, PersonRole

COORDINATOR = "informationssakerhetssamordnare"
DPO = "dataskyddsombud"
MANAGER = "chef"
OBJECT_OWNER = "objektledare"
CEO = "bolagschef"
ADMIN = "admin"
ROLES = (MANAGER, OBJECT_OWNER, COORDINATOR, DPO, CEO, ADMIN)


async def roles_of(session: AsyncSession, person_id: int) -> set[str]:
    return set((await session.execute(select(PersonRole.role).where(PersonRole.person_id == person_id))).scalars())


def is_personal_data(incident: Incident) -> bool:
    return "personal_data" in incident.kind_codes or incident.personal_data in ("yes", "unknown")


@dataclass(frozen=True)
class CaseAccess:
    """What one person may do with one case."""

    see: bool       # the report itself
    internal: bool  # timeline, notes, handler, GDPR record: more than the reporter sees
    triage: bool    # take the case, assess it
    act: bool       # notes, status, GDPR and work-environment facts


NO_ACCESS = CaseAccess(False, False, False, False)


async def case_access(session: AsyncSession, actor: Actor, incident: Incident) -> CaseAccess:
    if incident.org_id != actor.org_id:
        return NO_ACCESS
    roles = await roles_of(session, actor.person_id)
    triage = COORDINATOR in roles or (DPO in roles and is_personal_data(incident))
    act = triage or incident.handler_id == actor.person_id
    manager = False
    if MANAGER in roles and "work_env" in incident.kind_codes and incident.department_id is not None:
        me = await session.get(Person, actor.person_id)
        manager = me is not None and me.department_id == incident.department_id
    internal = act or manager
    return CaseAccess(see=internal or incident.reporter_id == actor.person_id, internal=internal, triage=triage, act=act)


async def may_see_incident(session: AsyncSession, actor: Actor, incident: Incident) -> bool:
    return (await case_access(session, actor, incident)).see
