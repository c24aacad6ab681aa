"""Engine, sessions and migrations. DATABASE_URL takes the ordinary forms; the async driver is picked here."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# Arbitrary but fixed: replicas starting together take turns migrating.
MIGRATION_LOCK_KEY = 0x11590B07

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class DatabaseUrlError(ValueError):
    pass


def async_url(url: str) -> str:
    """`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`, `postgresql://…` -> `postgresql+asyncpg://…`."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"not a database URL: {url!r}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseUrlError(f"unsupported database {backend!r}; use sqlite:/// or postgresql://")
    if driver in ("aiosqlite", "asyncpg"):
        return parsed.render_as_string(hide_password=False)
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # A short busy timeout keeps a locked database from eating Slack's 3-second ack window.
        engine = create_async_engine(url, connect_args={"timeout": 2.0})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=2000")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=2.0,
        connect_args={"timeout": 2.0, "command_timeout": 10.0, "server_settings": {"lock_timeout": "2000"}},
    )


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time and makes the others spin on "database is locked"; in one
        # process it is cheaper and fairer to queue transactions here. PostgreSQL needs no such thing.
        self._turn = _TaskLock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self._turn is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._turn:
            async with self.sessions() as session, session.begin():
                yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 — health check reports, never raises
            return False

    async def close(self) -> None:
        await self.engine.dispose()

    async def upgrade(self) -> None:
        """Apply pending migrations; on PostgreSQL under an advisory lock so replicas take turns."""
        if self.is_sqlite:
            await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            try:
                await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})


class _TaskLock:
    """An asyncio lock that the task holding it may take again (a transaction opened inside another
    must not wait for itself)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not task:
            await self._lock.acquire()
            self._owner = task
        self._depth += 1

    async def __aexit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = async_url(url)
    return cfg
