"""What the benchmarks share: a throwaway PostgreSQL database beside the one named, and what backend ran."""

from __future__ import annotations

import sqlite3


def pg_urls(url: str, name: str) -> tuple[str, str]:
    """(admin URL for asyncpg, URL of the throwaway bench database `name` on the same server)."""
    from sqlalchemy.engine import make_url
    parsed = make_url(url).set(drivername="postgresql")
    return (parsed.render_as_string(hide_password=False),
            parsed.set(database=name).render_as_string(hide_password=False))


async def pg_recreate(url: str, name: str) -> str:
    """Drop the bench database `name` if a previous run left it, create it empty, and return its URL.
    The database named in `url` itself is never touched."""
    import asyncpg
    admin, bench = pg_urls(url, name)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
        return bench
    finally:
        await conn.close()


async def pg_drop(url: str, name: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(pg_urls(url, name)[0])
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


async def backend_facts(db) -> str:
    from sqlalchemy import text
    if db.is_sqlite:
        return f"SQLite {sqlite3.sqlite_version} (file, WAL)"
    async with db.engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version"))).scalar_one()
    return f"PostgreSQL {version} ({db.engine.url.host}:{db.engine.url.port})"
