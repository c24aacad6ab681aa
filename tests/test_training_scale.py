"""Issue #4 at a city's scale: the minute tick queues a whole campaign's prompts in chunks, each person's own
(their assignment on the buttons, their language), once, however many ticks and replicas run."""

from __future__ import annotations

import asyncio
import json
from datetime import date

from sqlalchemy import func, insert, select

from bot.runtime import Runtime
from handlers import training
from handlers.training import CampaignSettings, start_campaign
from storage.models import OutboxMessage, Person, TrainingAssignment
from tests.conftest import T0, bot_settings
from tests.test_incident_report import ANNA

PEOPLE = 1234  # more than two of the tick's chunks


async def add_people(bot, n: int) -> int:
    org_id = (await bot.runtime.slack.actor("T0001", ANNA)).org_id
    async with bot.db.transaction() as session:
        await session.execute(insert(Person), [
            {"org_id": org_id, "slack_user_id": f"UBULK{i:05d}", "name": f"Person {i}",
             "email": f"bulk{i}@example.se", "locale": "en-GB" if i % 10 == 0 else "sv-SE", "tz": "Europe/Stockholm",
             "employment": "employee", "active": True, "in_hr_file": False, "created_at": T0, "updated_at": T0}
            for i in range(n)])
    return org_id


async def test_one_tick_queues_every_prompt_once_each_with_its_own_assignment_and_language(bot, database_url,
                                                                                           fake_slack, clock):
    org_id = await add_people(bot, PEOPLE)
    settings = CampaignSettings(courses=("Informationssäkerhet grund",), deadline=date(2026, 12, 31))
    started = await start_campaign(bot.runtime.svc, org_id, settings, started_by=None)
    audience = started.audience
    assert audience == PEOPLE + 1  # Anna too
    replica = Runtime(bot_settings(database_url, fake_slack), clock=clock)
    await replica.start(migrate=False, deliver=False)
    try:
        await asyncio.gather(training.tick(bot.runtime.svc), training.tick(replica.svc))
        await training.tick(bot.runtime.svc)
    finally:
        await replica.stop()

    async with bot.db.transaction() as session:
        outbox = list((await session.execute(select(OutboxMessage))).scalars())
        assignment_of = dict((await session.execute(select(TrainingAssignment.person_id, TrainingAssignment.id))).all())
        locale_of = dict((await session.execute(select(Person.id, Person.locale))).all())
        reminded = dict((await session.execute(select(TrainingAssignment.reminders_sent, func.count())
                                                .group_by(TrainingAssignment.reminders_sent))).all())
    assert len(outbox) == audience and len({m.recipient for m in outbox}) == audience
    assert reminded == {1: audience}
    for message in outbox:
        person_id = int(message.recipient)
        assignment_id = assignment_of[person_id]
        assert message.dedupe_key == f"training:{assignment_id}:prompt:0"
        [buttons] = [b for b in message.payload["message"]["blocks"] if b["type"] == "buttons"]
        assert {b["value"] for b in buttons["buttons"]} == {str(assignment_id)}
        english = (locale_of[person_id] or "").startswith("en")
        assert ("Have you" in json.dumps(message.payload)) == english, message.payload
