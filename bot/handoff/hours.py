"""Business hours for human agents (content/handoff/business_hours.yml), in the company zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.handoff.errors import HandoffConfigError
from bot.settings import DEFAULT_TIMEZONE

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")
END_OF_DAY = 24 * 60

# A day's hours: (start minute, end minute) ranges, end exclusive, 0..1440.
Ranges = tuple[tuple[int, int], ...]


def _parse_ranges(value: object, where: str) -> Ranges:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise HandoffConfigError(f"{where}: expected a list of 'HH:MM-HH:MM'")
    ranges: list[tuple[int, int]] = []
    for item in value:
        match = _RANGE.match(str(item).strip())
        if not match:
            raise HandoffConfigError(f"{where}: {item!r} is not 'HH:MM-HH:MM'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start > END_OF_DAY or end > END_OF_DAY or start >= end:
            raise HandoffConfigError(f"{where}: {item!r} must start before it ends, within a day")
        ranges.append((start, end))
    return tuple(sorted(ranges))


def _parse_date(value: object, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise HandoffConfigError(f"{where}: {value!r} is not YYYY-MM-DD") from exc


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    weekly: dict[int, Ranges]  # 0 = Monday
    closed_dates: frozenset[date]
    special_dates: dict[date, Ranges]
    summary: dict[str, str]

    @classmethod
    def from_yaml(cls, path: Path | str, default_timezone: str = DEFAULT_TIMEZONE) -> BusinessHours:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise HandoffConfigError(f"{path}: {exc}") from exc
        if not isinstance(data, dict):
            raise HandoffConfigError(f"{path}: expected a mapping")
        zone_name = str(data.get("timezone") or default_timezone)
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise HandoffConfigError(f"{path}: unknown time zone {zone_name!r}") from exc
        weekly_raw = data.get("weekly") or {}
        if not isinstance(weekly_raw, dict) or set(weekly_raw) - set(WEEKDAYS):
            raise HandoffConfigError(f"{path}: weekly must map {', '.join(WEEKDAYS)} to hours")
        weekly = {
            i: _parse_ranges(weekly_raw.get(day), f"{path}: weekly.{day}")
            for i, day in enumerate(WEEKDAYS)
        }
        closed = frozenset(
            _parse_date(d, f"{path}: closed_dates") for d in data.get("closed_dates") or ()
        )
        special_raw = data.get("special_dates") or {}
        if not isinstance(special_raw, dict):
            raise HandoffConfigError(f"{path}: special_dates must be a mapping")
        special = {
            _parse_date(d, f"{path}: special_dates"): _parse_ranges(r, f"{path}: {d}")
            for d, r in special_raw.items()
        }
        summary = data.get("summary") or {}
        if not isinstance(summary, dict) or not {"zh", "en"} <= set(summary):
            raise HandoffConfigError(f"{path}: summary needs zh and en")
        return cls(zone, weekly, closed, special, {k: str(v) for k, v in summary.items()})

    def _ranges(self, day: date) -> Ranges:
        if day in self.closed_dates:
            return ()
        if day in self.special_dates:
            return self.special_dates[day]
        return self.weekly[day.weekday()]

    def is_open(self, now: datetime) -> bool:
        local = _aware(now).astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._ranges(local.date()))

    def next_open(self, now: datetime, horizon_days: int = 31) -> datetime | None:
        """When agents are next available (now if open); None if not within the horizon."""
        local = _aware(now).astimezone(self.zone)
        if self.is_open(now):
            return local
        minute = local.hour * 60 + local.minute
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            for start, _end in self._ranges(day):
                if offset > 0 or start > minute:
                    at = datetime.combine(day, time(0), tzinfo=self.zone)
                    return at + timedelta(minutes=start)
        return None

    def describe(self, language: str) -> str:
        return self.summary.get(language) or self.summary["zh"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
