"""A report's range: whole days in the company time zone, 4xx naming the field."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.reports.dates import MAX_DAYS, InvalidRange, last_days, parse_range

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_days_start_at_local_midnight() -> None:
    dates = parse_range("2026-11-01", "2026-11-30", SHANGHAI)
    assert dates.start == datetime(2026, 11, 1, tzinfo=SHANGHAI).timestamp()
    assert dates.end == datetime(2026, 12, 1, tzinfo=SHANGHAI).timestamp()
    assert len(dates.days) == 30
    assert dates.day_of(datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC")).timestamp()) == (
        date(2026, 12, 1)
    )


def test_a_day_with_a_dst_change_is_23_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    dates = parse_range("2026-03-29", "2026-03-29", berlin)
    assert dates.end - dates.start == 23 * 3600


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (None, "2026-11-01", "from"),
        ("2026-11-01", "", "to"),
        ("2026-02-30", "2026-03-01", "from"),
        ("2026-11-01", "2026-11-01T00:00", "to"),
        ("2026-11-02", "2026-11-01", "to"),
        ("2025-01-01", "2026-01-02", "to"),  # 367 days
    ],
)
def test_bad_ranges_name_the_field(first: str | None, last: str | None, field: str) -> None:
    with pytest.raises(InvalidRange) as error:
        parse_range(first, last, SHANGHAI)
    assert error.value.field == field


def test_limits() -> None:
    assert len(parse_range("2024-01-01", "2024-12-31", SHANGHAI).days) == MAX_DAYS
    assert last_days(date(2026, 11, 30), 30, SHANGHAI).first == date(2026, 11, 1)
