"""The management review's figures (issue 6) straight from a real database (SQLite, or PostgreSQL with
LISBOT_TEST_DATABASE_URL): months counted in local time, the GDPR clock, and a number of statements that does
not grow with the data."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert

from bot.clock import FrozenClock
from bot.config import load_settings
from bot.i18n import Texts
from handlers import review_data
from handlers.services import Services
from storage.models import (
    ActionItem, Asset, Base, BreachRecord, Classification, ClassificationRound, ContinuityPlan, Department, Incident,
    IncidentKind, Organisation, Person, RoundRequest, TrainingAssignment, TrainingCampaign,
)

UTC = timezone.utc
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
ORG = 1


@pytest.fixture
def svc(db, database_url):
    settings = load_settings(env_file=None, DATABASE_URL=database_url)
    assert settings.timezone == "Europe/Stockholm"
    return Services(db=db, texts=Texts(default_lang=settings.language), clock=FrozenClock(NOW), settings=settings)


class Rows:
    """Rows for the tables by name, inserted in bulk."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict]] = {}
        self.add(Organisation, id=ORG, platform="slack", external_id="T1", name="Bolaget",
                 created_at=NOW - timedelta(days=1000))
        self.add(Person, **self.person(1))
        self.incidents = 0

    @staticmethod
    def person(pid: int, **extra) -> dict:
        return {"id": pid, "org_id": ORG, "name": f"Person Nummer{pid}", "active": True,
                "slack_user_id": f"U{pid}", "created_at": NOW, "updated_at": NOW, **extra}

    def add(self, model, **row) -> dict:
        self.tables.setdefault(model.__tablename__, []).append(row)
        return row

    def incident(self, reported_at: datetime, *kinds: str, status: str = "closed", discovered_at=None,
                 personal_data: str = "no", **extra) -> int:
        self.incidents += 1
        iid = self.incidents
        self.add(Incident, id=iid, org_id=ORG, reference=f"INC-{iid}", reporter_id=1, status=status,
                 description="Något hände.", discovered_at=discovered_at or reported_at, reported_at=reported_at,
                 source_key=f"test:{iid}", personal_data=personal_data, **extra)
        for kind in kinds:
            self.add(IncidentKind, incident_id=iid, kind=kind)
        return iid

    async def store(self, db) -> None:
        async with db.engine.begin() as conn:
            for table in Base.metadata.sorted_tables:  # parents first
                rows = self.tables.get(table.name)
                if not rows:
                    continue
                keys = {key for row in rows for key in row}  # one statement per table needs the same keys
                await conn.execute(insert(table), [dict.fromkeys(keys) | row for row in rows])
        self.tables.clear()


def local(*args, fold: int = 0) -> datetime:
    """A Stockholm wall-clock time as UTC (fold=1: the second 02:30 of the night summer time ends)."""
    return datetime(*args, tzinfo=ZoneInfo("Europe/Stockholm"), fold=fold).astimezone(UTC)


async def test_incidents_count_in_the_local_month_and_year_they_were_reported(db, svc):
    rows = Rows()
    for when in (
        local(2026, 1, 1, 0, 30),  # 2025-12-31 23:30 UTC: January, and 2026, in Stockholm
        local(2026, 3, 29, 1, 30),  # the night summer time begins (last Sunday of March), before the change
        local(2026, 3, 29, 3, 30),  # ... and after it
        local(2026, 3, 31, 23, 30),  # 21:30 UTC: still March
        local(2026, 4, 1, 0, 30),  # 2026-03-31 22:30 UTC (summer time, +2): April
        local(2026, 10, 25, 2, 30, fold=0),  # the night summer time ends: 02:30 comes twice; both October
        local(2026, 10, 25, 2, 30, fold=1),
        local(2026, 10, 31, 23, 30),  # 22:30 UTC: October
        local(2026, 11, 1, 0, 30),  # 2026-10-31 23:30 UTC (winter time, +1): November
        local(2026, 12, 31, 23, 59),  # the last minute of the review's year
        local(2027, 1, 1, 0, 30),  # 2026-12-31 23:30 UTC: next year, not in this review
        local(2024, 1, 1, 0, 30),  # 2023-12-31 23:30 UTC: the first of the trend's three years
        local(2023, 12, 31, 23, 30),  # before the trend
    ):
        rows.incident(when, "infosec")
    rows.incident(local(2026, 5, 1, 0, 15), "infosec", "personal_data")  # two kinds: counted under each
    rows.incident(local(2026, 5, 1, 0, 20), "infosec", status="not_incident")  # not an incident: not counted
    await rows.store(db)

    inputs = await review_data.gather(svc, ORG, 2026)

    months = inputs["incidents"]["by_month"]
    assert months["infosec"] == [1, 0, 3, 1, 1, 0, 0, 0, 0, 3, 1, 1]
    assert months["personal_data"] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert inputs["incidents"]["by_year"] == {
        "2024": {"infosec": 1, "personal_data": 0, "work_env": 0, "other": 0},
        "2025": {"infosec": 0, "personal_data": 0, "work_env": 0, "other": 0},
        "2026": {"infosec": 11, "personal_data": 1, "work_env": 0, "other": 0}}
    # The year's counts by status use the same local year: 11 incidents and the one that was not.
    assert (inputs["incidents"]["total"], inputs["incidents"]["not_incident"]) == (11, 1)


async def test_the_72_hour_clock_for_personal_data_incidents(db, svc):
    rows = Rows()
    found = datetime(2026, 6, 1, 8, 0, 0, tzinfo=UTC)

    def breach(status: str = "closed", discovered=found, **record) -> None:
        iid = rows.incident(discovered + timedelta(hours=1), "personal_data", status=status, discovered_at=discovered,
                            personal_data="yes")
        if record:
            rows.add(BreachRecord, incident_id=iid, nature=["confidentiality"], updated_at=found, **record)

    h72 = found + timedelta(hours=72)
    breach(notify_imy="yes", decided_at=found, notified_at=h72)  # on the last second: on time
    breach(notify_imy="yes", decided_at=found, notified_at=h72 + timedelta(seconds=1))  # one second late
    breach(notify_imy="no", decided_at=found + timedelta(hours=5))  # decided not to notify in time
    breach(notify_imy="no", decided_at=h72 + timedelta(minutes=1))  # ... too late
    breach(notify_imy="yes", decided_at=found)  # to be notified, never was, case closed
    breach()  # no breach record, case closed
    breach(status="investigating")  # open, clock run out long ago
    breach(status="investigating", discovered=NOW - timedelta(hours=71))  # open, clock still running
    breach(status="triage", discovered=NOW - timedelta(hours=73), notify_imy="yes", decided_at=NOW)  # run out
    # Personal data marked on the report only ("unknown" counts too), without the kind.
    rows.incident(found, "infosec", personal_data="unknown", discovered_at=found)
    rows.incident(found, "infosec", personal_data="no")  # not personal data
    rows.incident(found, "personal_data", status="not_incident", personal_data="yes")  # not an incident
    await rows.store(db)

    incidents = (await review_data.gather(svc, ORG, 2026))["incidents"]

    assert incidents["timeliness"] == {"on_time": 2, "late": 2, "overdue_open": 2, "running": 1,
                                       "closed_undecided": 3}
    assert incidents["personal_data"] == 10


def register(rows: Rows, first: int, n: int) -> None:
    """n more people, assets (classified twice, with action items and plans) and incidents of three years, from
    id `first` on; with first == 1 also the departments, a training campaign for each of two years and a round,
    which asks about every asset."""
    if first == 1:
        rows.add(Department, id=1, org_id=ORG, name="Ekonomi")
        rows.add(Department, id=2, org_id=ORG, name="IT")
        for year in (2025, 2026):
            rows.add(TrainingCampaign, id=year, org_id=ORG, year=year, courses=["Grund"], joiner_days=30,
                     deadline=date(year, 11, 30), remind_every_days=7, max_reminders=3, status="active",
                     started_at=NOW)
        rows.add(ClassificationRound, id=1, org_id=ORG, kind="scheduled", due=date(2026, 11, 1),
                 started_at=datetime(2026, 10, 1, tzinfo=UTC))
    ids = range(first, first + n)
    for pid in ids:
        rows.add(Person, **rows.person(pid + 1, department_id=1 + pid % 2, active=pid % 7 != 0))
        for year in (2025, 2026):
            rows.add(TrainingAssignment, campaign_id=year, person_id=pid + 1, department_id=1 + pid % 2,
                     deadline=date(year, 11, 30), status=("done", "not_yet", "exempt")[pid % 3],
                     reminders_sent=0, exemption_rejected=False, updated_at=NOW)
    for aid in ids:
        rows.add(Asset, id=aid, org_id=ORG, name=f"System {aid}", kind="system", owner_id=first + 1 + aid % n,
                 department_id=1 + aid % 2, personal_data=aid % 3 == 0, special_categories=False,
                 continuity_relevant=aid % 4 == 0, active=aid % 10 != 0, created_at=NOW, updated_at=NOW)
        for cls, on in ((2 * aid, date(2025, 1, 1) + timedelta(days=aid % 300)),
                        (2 * aid + 1, date(2025, 12, 1) + timedelta(days=aid % 30))):
            rows.add(Classification, id=cls, asset_id=aid, confidentiality=aid % 5, integrity=2, availability=aid % 4,
                     classified_on=on, next_review=on + timedelta(days=365), source="import", created_at=NOW)
            rows.add(ActionItem, asset_id=aid, classification_id=cls, requirement="Logga.", status="in_progress",
                     due=date(2026, 6, 1), updated_at=NOW)
        rows.add(ContinuityPlan, asset_id=aid, has_plan=aid % 2 == 0, last_exercised=date(2026, 3, 1),
                 updated_at=NOW)
        rows.add(RoundRequest, round_id=1, asset_id=aid, owner_id=first + 1 + aid % n, reminders_sent=0,
                 answered_at=datetime(2026, 10, 5, tzinfo=UTC) if aid % 2 else None)
    for i in ids:
        rows.incident(datetime(2024, 1, 2, tzinfo=UTC) + timedelta(hours=20 * i), ("infosec", "personal_data")[i % 2],
                      personal_data=("no", "yes")[i % 2], lessons=f"Lärdom {i}.", closed_at=NOW - timedelta(days=1))


async def counted_gather(db, svc) -> tuple[int, dict]:
    count = [0]

    def counted(*_args) -> None:
        count[0] += 1
    event.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    try:
        inputs = await review_data.gather(svc, ORG, 2026)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", counted)
    return count[0], inputs


async def test_the_number_of_statements_does_not_grow_with_the_data(db, svc):
    """1,200 more people, assets and incidents run the same statements as 3 (ids used to go in chunks of 500)."""
    rows = Rows()
    register(rows, 1, 3)
    await rows.store(db)
    small, inputs = await counted_gather(db, svc)
    assert inputs["classification"]["assets"] == 3
    assert sum(sum(k.values()) for k in inputs["incidents"]["by_year"].values()) == 3

    register(rows, 4, 1200)
    rows.incidents = 3
    await rows.store(db)
    large, inputs = await counted_gather(db, svc)

    assert large == small
    cov = inputs["classification"]
    assert cov["assets"] == 1203 - 120  # every tenth asset is retired
    assert sum(cov["levels"]["confidentiality"]) == cov["classified"] == cov["assets"]
    assert cov["routine"]["asked"] == 1203 and cov["routine"]["on_time"] == 602
    assert inputs["training"]["overall"]["audience"] == 1203
    assert sum(sum(k.values()) for k in inputs["incidents"]["by_year"].values()) == 1203
