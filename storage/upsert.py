"""INSERT … ON CONFLICT for both backends: the race-free way to create-if-missing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, model):
    """The INSERT of the session's backend, which has ON CONFLICT."""
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def insert_ignore(session: AsyncSession, model, values: dict[str, Any], conflict: list[str]) -> bool:
    """Insert unless a row with the same `conflict` columns exists. True when this call inserted it."""
    stmt = dialect_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = await session.execute(stmt)
    return result.rowcount == 1


async def insert_ignore_many(session: AsyncSession, model, rows: list[dict[str, Any]], conflict: list[str]) -> None:
    """`insert_ignore` for many rows in one round trip. Given as executemany rather than one multi-row
    VALUES, so the compiled statement is cached instead of compiled anew for every number of rows."""
    if rows:  # the Core table, not the mapped class: the ORM's bulk path costs more than the insert itself
        await session.execute(dialect_insert(session, model.__table__).on_conflict_do_nothing(index_elements=conflict), rows)


async def upsert(session: AsyncSession, model, values: dict[str, Any], conflict: list[str], update: list[str]) -> None:
    stmt = dialect_insert(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=conflict, set_={c: stmt.excluded[c] for c in update})
    await session.execute(stmt)
