"""A report's date range: whole days in the company time zone (KEFU_TIMEZONE)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.jsonapi import InvalidField

MAX_DAYS = 366  # a year (leap years included); longer reports are not what the page is for
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidRange(InvalidField):
    """A query's date range is missing, malformed or too long; `field` names the parameter."""


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date  # inclusive
    tz: ZoneInfo

    @property
    def start(self) -> float:
        """Epoch seconds of `first` 00:00 in the company time zone."""
        return day_start(self.first, self.tz)

    @property
    def end(self) -> float:
        """Epoch seconds of the midnight after `last` (exclusive)."""
        return day_start(self.last + timedelta(days=1), self.tz)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def day_of(self, epoch: float) -> date:
        return datetime.fromtimestamp(epoch, self.tz).date()


def day_start(day: date, tz: ZoneInfo) -> float:
    # Local midnight through the zone: days with a DST change are 23 or 25 hours long.
    return datetime.combine(day, time(0), tz).timestamp()


def parse_day(field: str, value: str | None) -> date:
    if value is None or value == "":
        raise InvalidRange(field, f"{field} is required (YYYY-MM-DD)")
    if not _DATE.fullmatch(value):
        raise InvalidRange(field, f"{field} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRange(field, f"{field} is not a calendar date") from exc


def parse_range(first: str | None, last: str | None, tz: ZoneInfo) -> DateRange:
    """`from` and `to` (inclusive) as given in the query; InvalidRange names the field."""
    start = parse_day("from", first)
    end = parse_day("to", last)
    if start > end:
        raise InvalidRange("to", "to must not be before from")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRange("to", f"the range may cover at most {MAX_DAYS} days")
    return DateRange(start, end, tz)


def last_days(today: date, days: int, tz: ZoneInfo) -> DateRange:
    """The `days` days ending with `today` (the console's default)."""
    return DateRange(today - timedelta(days=days - 1), today, tz)
