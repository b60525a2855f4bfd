"""Return-visit times: the delay, the reminder, quiet hours (SMS_QUIET_HOURS)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.settings import Settings
from bot.sms.settings import QuietHours
from bot.surveys.timing import Timing

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def test_defaults_come_from_the_settings() -> None:
    timing = Timing.from_settings(Settings())
    assert (timing.delay_s, timing.reminder_s, timing.window_s) == (7200, 172800, 1209600)
    assert timing.quiet == QuietHours.parse("21:00-08:00", "Asia/Shanghai")


def test_due_is_moved_out_of_quiet_hours() -> None:
    timing = Timing(quiet=QuietHours.parse("21:00-08:00", "Asia/Shanghai"))
    assert timing.due(at(25, 10)) == at(25, 12)
    assert timing.due(at(25, 18, 59)) == at(25, 20, 59)
    assert timing.due(at(25, 19)) == at(26, 8)  # 21:00 is quiet
    assert timing.due(at(26, 5)) == at(26, 8)  # 07:00 is quiet
    assert timing.reminder_due(at(25, 22)) == at(28, 8)


def test_without_quiet_hours_nothing_moves() -> None:
    assert Timing(quiet=None).due(at(25, 22)) == at(26, 0)
