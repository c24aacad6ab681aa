"""INSERT … ON CONFLICT for both backends: the race-free way to create-if-missing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, model):
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def insert_ignore(session: AsyncSession, model, values: dict[str, Any], conflict: list[str]) -> bool:
    """Insert unless a row with the same `conflict` columns exists. True when this call inserted it."""
    stmt = _insert(session, model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = await session.execute(stmt)
    return result.rowcount == 1


async def insert_ignore_many(session: AsyncSession, model, rows: list[dict[str, Any]], conflict: list[str]) -> int:
    """`insert_ignore` for many rows in one statement. Returns how many were inserted."""
    if not rows:
        return 0
    stmt = _insert(session, model).values(rows).on_conflict_do_nothing(index_elements=conflict)
    return (await session.execute(stmt)).rowcount


async def upsert(session: AsyncSession, model, values: dict[str, Any], conflict: list[str], update: list[str]) -> None:
    stmt = _insert(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=conflict, set_={c: stmt.excluded[c] for c in update})
    await session.execute(stmt)
