"""Working days and working hours, in a person's own time zone, with Swedish public holidays."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WORK_START = time(8, 0)
WORK_END = time(17, 0)


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> frozenset[date]:
    days = set(holidays.country_holidays("SE", years=year, language="sv").keys())
    # Days that Swedish employers treat as holidays although the law does not name them.
    midsummer_day = next(d for d in days if d.month == 6 and 20 <= d.day <= 26 and d.weekday() == 5)
    days |= {midsummer_day - timedelta(days=1), date(year, 12, 24), date(year, 12, 31)}
    return frozenset(days)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


def next_working_time(moment: datetime, tz: str) -> datetime:
    """`moment` if it falls in working hours on a working day in `tz`; else the next start of a working day."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    if is_working_day(local.date()) and WORK_START <= local.time() < WORK_END:
        return moment
    day = local.date() if local.time() < WORK_START else local.date() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, WORK_START, zone).astimezone(moment.tzinfo)


def add_working_days(moment: datetime, days: int, tz: str) -> datetime:
    """The same local time `days` working days later."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    day, remaining = local.date(), days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), zone).astimezone(moment.tzinfo)
