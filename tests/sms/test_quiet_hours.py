from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.sms.quiet_hours import release_time
from bot.sms.settings import QuietHours, SettingsError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours.parse("21:00-08:00", "Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "release"),
    [
        ("2026-11-27 20:59", None),
        ("2026-11-27 21:00", "2026-11-28 08:00"),
        ("2026-11-27 23:30", "2026-11-28 08:00"),
        ("2026-11-28 03:00", "2026-11-28 08:00"),
        ("2026-11-28 08:00", None),
        ("2026-11-28 12:00", None),
    ],
)
def test_night_window_wraps_midnight(now: str, release: str | None) -> None:
    got = release_time(NIGHT, at(now))
    assert got == (at(release) if release else None)


def test_company_time_zone_applies_to_utc_clocks() -> None:
    # 14:00 UTC is 22:00 in Shanghai: quiet.
    utc = datetime.fromisoformat("2026-11-27T14:00:00+00:00")
    assert release_time(NIGHT, utc) == at("2026-11-28 08:00")


def test_same_day_window_and_off() -> None:
    lunch = QuietHours.parse("12:00-14:00", "Asia/Shanghai")
    assert release_time(lunch, at("2026-11-27 13:00")) == at("2026-11-27 14:00")
    assert release_time(lunch, at("2026-11-27 15:00")) is None
    assert QuietHours.parse("off", "Asia/Shanghai") is None
    assert release_time(None, at("2026-11-27 23:00")) is None


@pytest.mark.parametrize(
    ("spec", "zone"), [("9pm-8am", "Asia/Shanghai"), ("21:00-08:00", "Mars/Base")]
)
def test_bad_settings_name_the_variable(spec: str, zone: str) -> None:
    with pytest.raises(SettingsError):
        QuietHours.parse(spec, zone)
