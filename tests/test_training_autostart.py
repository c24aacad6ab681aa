"""Issue #4: the year's campaign starts itself on a configured date (LISBOT_TRAINING_AUTOSTART), once a year,
however many ticks and replicas see the day; time is moved with the clock."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from bot.config import ConfigError, load_settings
from bot.runtime import Runtime
from storage.models import TrainingCampaign
from tests.conftest import bot_settings
from tests.test_incident_report import ANNA, ERIK, SAM
from tests.test_training import prompts

AUTOSTART = {"LISBOT_TRAINING_AUTOSTART": "11-30", "LISBOT_TRAINING_COURSES": "Informationssäkerhet grund; Dataskydd grund",
             "LISBOT_TRAINING_DEADLINE_DAYS": "60"}


async def campaigns(bot) -> list[TrainingCampaign]:
    async with bot.db.transaction() as session:
        return list((await session.execute(select(TrainingCampaign).order_by(TrainingCampaign.year))).scalars())


async def test_the_campaign_starts_itself_on_the_day_once_across_replicas_and_ticks(bot, database_url, fake_slack,
                                                                                    clock):
    for user in (ANNA, ERIK, SAM):
        await bot.runtime.slack.actor("T0001", user)
    replicas = [Runtime(bot_settings(database_url, fake_slack, **AUTOSTART), clock=clock) for _ in range(2)]
    for replica in replicas:
        await replica.start(migrate=False, deliver=False)
    try:
        await asyncio.gather(*(r.tick() for r in replicas))  # Wednesday 25 November: not yet
        assert await campaigns(bot) == []

        clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc))  # Monday 30 November, 09:00 in Stockholm
        await asyncio.gather(*(r.tick() for r in replicas), bot.runtime.tick())
        await replicas[0].tick()
        [campaign] = await campaigns(bot)
        assert (campaign.year, campaign.courses, campaign.deadline, campaign.started_by) == (
            2026, ["Informationssäkerhet grund", "Dataskydd grund"], date(2027, 1, 29), None)
        await bot.deliver()
        for user in (ANNA, ERIK, SAM):
            assert len(prompts(bot, user)) == 1, user
            assert "Dataskydd grund" in prompts(bot, user)[0]

        clock.set(datetime(2027, 11, 29, 8, 0, tzinfo=timezone.utc))  # a year on, the day before
        await replicas[1].tick()
        assert [c.year for c in await campaigns(bot)] == [2026]
        clock.set(datetime(2027, 11, 30, 8, 0, tzinfo=timezone.utc))
        await asyncio.gather(*(r.tick() for r in replicas))
        assert [c.year for c in await campaigns(bot)] == [2026, 2027]
    finally:
        for replica in replicas:
            await replica.stop()


async def test_a_campaign_started_by_hand_before_the_day_is_the_year_s_campaign(bot, database_url, fake_slack, clock):
    from handlers.training import CampaignSettings, start_campaign

    anna = await bot.runtime.slack.actor("T0001", ANNA)
    await start_campaign(bot.runtime.svc, anna.org_id, CampaignSettings(("Egen kurs",), date(2026, 12, 15)),
                         started_by=None)
    replica = Runtime(bot_settings(database_url, fake_slack, **AUTOSTART), clock=clock)
    await replica.start(migrate=False, deliver=False)
    try:
        clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc))
        await replica.tick()
    finally:
        await replica.stop()
    [campaign] = await campaigns(bot)
    assert campaign.courses == ["Egen kurs"]


@pytest.mark.parametrize("value", ["13-01", "9-1", "02-30", "1 september"])
def test_a_malformed_autostart_date_stops_the_bot_with_the_setting_named(value):
    with pytest.raises(ConfigError, match="LISBOT_TRAINING_AUTOSTART"):
        load_settings(env_file=None, LISBOT_TRAINING_AUTOSTART=value)
