"""Business hours from YAML, in the company's time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.handoff.errors import HandoffConfigError
from bot.handoff.hours import BusinessHours
from bot.handoff.policy import HandoffConfig
from bot.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def hours(tmp_path: Path, text: str) -> BusinessHours:
    path = tmp_path / "hours.yml"
    path.write_text(text, encoding="utf-8")
    return BusinessHours.from_yaml(path)


SAMPLE = """
timezone: Asia/Shanghai
weekly:
  mon: ["08:30-12:00", "13:00-17:30"]
  tue: ["08:30-17:30"]
  sat: []
closed_dates: ["2026-11-24"]
special_dates:
  "2026-11-28": ["09:00-12:00"]
summary: {zh: 工作日白天, en: weekdays}
"""


def test_ranges_weekdays_holidays_and_special_days(tmp_path: Path) -> None:
    h = hours(tmp_path, SAMPLE)
    assert not h.is_open(local(2026, 11, 23, 8, 29))  # Monday before opening
    assert h.is_open(local(2026, 11, 23, 8, 30))
    assert not h.is_open(local(2026, 11, 23, 12, 30))  # lunch
    assert h.is_open(local(2026, 11, 23, 17, 29))
    assert not h.is_open(local(2026, 11, 23, 17, 30))  # the end is exclusive
    assert not h.is_open(local(2026, 11, 24, 10, 0))  # a closed date (Tuesday)
    assert not h.is_open(local(2026, 11, 25, 10, 0))  # Wednesday: not listed = closed
    assert h.is_open(local(2026, 11, 28, 10, 0))  # a working Saturday
    assert not h.is_open(local(2026, 11, 28, 13, 0))
    assert h.describe("en") == "weekdays" and h.describe("fr") == "工作日白天"


def test_the_company_time_zone_decides_not_utc(tmp_path: Path) -> None:
    h = hours(tmp_path, SAMPLE)
    # 01:00 UTC Monday = 09:00 in Shanghai: open.
    assert h.is_open(datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc))
    # 09:00 UTC Monday = 17:00 Shanghai: open; 10:00 UTC = 18:00: closed.
    assert h.is_open(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    assert not h.is_open(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))


def test_next_open_skips_lunch_holidays_and_closed_days(tmp_path: Path) -> None:
    h = hours(tmp_path, SAMPLE)
    assert h.next_open(local(2026, 11, 23, 12, 15)) == local(2026, 11, 23, 13, 0)
    # Monday evening -> Tuesday is a holiday, Wednesday-Friday are closed -> Saturday 9:00.
    assert h.next_open(local(2026, 11, 23, 18, 0)) == local(2026, 11, 28, 9, 0)
    assert h.next_open(local(2026, 11, 23, 9, 0)) == local(2026, 11, 23, 9, 0)


def test_whole_day(tmp_path: Path) -> None:
    text = SAMPLE.replace("sat: []", 'sat: ["00:00-24:00"]')
    h = hours(tmp_path, text)
    assert h.is_open(local(2026, 11, 21, 0, 0)) and h.is_open(local(2026, 11, 21, 23, 59))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("timezone: Mars/Olympus", "time zone"),
        ('weekly: {mon: ["9-17"]}', "HH:MM"),
        ('weekly: {mon: ["17:00-09:00"]}', "start before"),
        ("weekly: {funday: []}", "weekly"),
        ('closed_dates: ["2026-13-01"]', "YYYY-MM-DD"),
        ("summary: {zh: only}", "summary"),
    ],
)
def test_bad_files_fail_at_load(tmp_path: Path, bad: str, message: str) -> None:
    lines = {"timezone": "timezone: Asia/Shanghai", "summary": "summary: {zh: a, en: b}"}
    key = bad.split(":")[0]
    lines[key] = bad
    with pytest.raises(HandoffConfigError, match=message):
        hours(tmp_path, "\n".join(lines.values()))


def test_project_files_load() -> None:
    config = HandoffConfig.load()
    assert (Settings.from_env({}).handoff_dir / "business_hours.yml").exists()
    assert config.hours.zone.key == "Asia/Shanghai"
    assert config.queue.grades[0] == "P1" and config.queue.default_grade in config.queue.grades
    assert "{agent}" not in config.messages.text("agent_joined", "en", agent="Wang Fang")
    assert "Wang Fang" in config.messages.text("agent_joined", "en", agent="Wang Fang")
