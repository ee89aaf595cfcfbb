"""The bank's calendar, in one place: its time zone, "today", and month arithmetic.

The bank works on Beijing time (China has one time zone and no daylight saving since 1991),
whatever the server's own zone: a task due "today", a contact "this month" and a yearly
quota all count in bank days."""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, timezone

from integration.db import utcnow

BANK_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def bank_today() -> date:
    """The bank's calendar date now."""
    return utcnow().astimezone(BANK_TZ).date()


def bank_date(moment: datetime) -> date:
    """The bank's calendar date of an aware moment."""
    return moment.astimezone(BANK_TZ).date()


def day_start(day: date) -> datetime:
    """The first moment of a bank day (aware), for comparing stored UTC timestamps."""
    return datetime.combine(day, time.min, tzinfo=BANK_TZ)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the end of a shorter month
    (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_end(day: date) -> date:
    """The last day of the day's month."""
    return add_months(month_start(day), 1) - timedelta(days=1)
