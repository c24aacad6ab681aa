"""Who may see what. Private by default: a case is visible to its reporter and to the roles entitled to it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import Actor
from storage.models import Incident, PersonRole

COORDINATOR = "informationssakerhetssamordnare"
DPO = "dataskyddsombud"
MANAGER = "chef"
OBJECT_OWNER = "objektledare"
CEO = "bolagschef"
ADMIN = "admin"
ROLES = (MANAGER, OBJECT_OWNER, COORDINATOR, DPO, CEO, ADMIN)


async def roles_of(session: AsyncSession, person_id: int) -> set[str]:
    return set((await session.execute(select(PersonRole.role).where(PersonRole.person_id == person_id))).scalars())


async def may_see_incident(session: AsyncSession, actor: Actor, incident: Incident) -> bool:
    if incident.org_id != actor.org_id:
        return False
    if incident.reporter_id == actor.person_id:
        return True
    roles = await roles_of(session, actor.person_id)
    if COORDINATOR in roles:
        return True
    personal = "personal_data" in incident.kind_codes or incident.personal_data in ("yes", "unknown")
    return DPO in roles and personal
