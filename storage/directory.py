"""Organisations and the people in them, as chat platforms identify them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Organisation, Person, PersonRole
from storage.upsert import insert_ignore


async def ensure_organisation(session: AsyncSession, platform: str, external_id: str, now: datetime) -> Organisation:
    await insert_ignore(session, Organisation, {"platform": platform, "external_id": external_id, "created_at": now},
                        ["platform", "external_id"])
    return (await session.execute(
        select(Organisation).where(Organisation.platform == platform, Organisation.external_id == external_id)
    )).scalar_one()


async def ensure_slack_person(session: AsyncSession, org_id: int, slack_user_id: str, now: datetime) -> Person:
    await insert_ignore(session, Person, {"org_id": org_id, "slack_user_id": slack_user_id,
                                          "created_at": now, "updated_at": now}, ["org_id", "slack_user_id"])
    return (await session.execute(
        select(Person).where(Person.org_id == org_id, Person.slack_user_id == slack_user_id)
    )).scalar_one()


async def update_slack_profile(session: AsyncSession, person_id: int, *, name: str | None, email: str | None,
                               locale: str | None, tz: str | None, now: datetime) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(
        name=name, email=email, locale=locale, tz=tz, updated_at=now))


async def remember_dm_channel(session: AsyncSession, person_id: int, channel_id: str) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(dm_channel_id=channel_id))


async def people_with_role(session: AsyncSession, org_id: int, role: str) -> list[Person]:
    return list((await session.execute(
        select(Person).join(PersonRole, PersonRole.person_id == Person.id)
        .where(Person.org_id == org_id, PersonRole.role == role, Person.active.is_(True))
        .order_by(Person.id)
    )).scalars())


async def get_person(session: AsyncSession, org_id: int, person_id: int) -> Person | None:
    return (await session.execute(
        select(Person).where(Person.org_id == org_id, Person.id == person_id))).scalar_one_or_none()
