"""Alembic migrations on the test database (SQLite, or PostgreSQL with LISBOT_TEST_DATABASE_URL): they go up
and down cleanly, and what they build is exactly what storage.models describes."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import Database, alembic_config
from storage.models import Base

APP_TABLES = set(Base.metadata.tables)


@pytest.fixture
async def database(database_url):
    database = Database(database_url)
    yield database
    await database.close()


def script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def differences(db: Database) -> list:
    def compare(sync_conn):
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True,
                                                              "compare_server_default": False})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


# env.py runs its own event loop (asyncio.run), so alembic commands go to a thread, as Database.upgrade does.
async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def upgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


def test_the_revisions_form_one_line():
    scripts = script("sqlite:///unused.db")
    heads = scripts.get_heads()
    assert len(heads) == 1, f"migrations branch: several heads {heads}; add a merge revision"
    assert len(scripts.get_bases()) == 1
    revisions = list(scripts.walk_revisions())
    assert revisions, "no migrations found"
    for revision in revisions:
        assert revision.module.__doc__, f"revision {revision.revision} has no message"


async def test_upgrade_downgrade_upgrade(database, database_url):
    head = script(database_url).get_current_head()

    await database.upgrade()
    assert await tables(database) == APP_TABLES | {"alembic_version"}
    assert await current_revision(database) == head

    await downgrade(database_url, "base")
    remaining = await tables(database)
    assert not remaining & APP_TABLES, f"left behind by the downgrade: {sorted(remaining & APP_TABLES)}"
    assert remaining <= {"alembic_version"}
    assert await current_revision(database) is None

    await database.upgrade()
    assert await tables(database) == APP_TABLES | {"alembic_version"}
    assert await current_revision(database) == head
    assert await differences(database) == []


async def test_every_revision_steps_down_and_up_again(database, database_url):
    """The stairway: each revision's downgrade undoes exactly its upgrade, so upgrading again works."""
    revisions = [r.revision for r in reversed(list(script(database_url).walk_revisions()))]
    for revision in revisions:
        await upgrade(database_url, revision)
        before = await tables(database)
        await downgrade(database_url, "-1")
        await upgrade(database_url, revision)
        assert await tables(database) == before, f"revision {revision} does not come back the same"
        assert await current_revision(database) == revision


async def test_upgrade_is_idempotent(database):
    await database.upgrade()
    await database.upgrade()
    assert await tables(database) == APP_TABLES | {"alembic_version"}


async def test_the_models_match_the_migrations(database):
    await database.upgrade()
    diff = await differences(database)
    assert diff == [], ("storage/models.py and the migrations disagree; generate a revision "
                        f"(alembic revision --autogenerate) for: {diff}")


async def test_the_comparison_sees_a_missing_table(database):
    """The comparison above is not vacuous: a table the models have and the database lacks is reported."""
    await database.upgrade()
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.tables["processed_events"].drop(sync))
    diff = await differences(database)
    assert [(d[0], d[1].name) for d in diff] == [("add_table", "processed_events")]
