"""Quiet hours: when a non-urgent SMS may not go out, and when it may again."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.sms.settings import QuietHours


def release_time(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """The end of the quiet period containing `now` (aware), or None if `now` is not quiet."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(quiet.zone)
    t = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:  # e.g. 12:00-14:00, within one day
        inside = quiet.start <= t < quiet.end
        end_day = local.date()
    else:  # wraps midnight, e.g. 21:00-08:00
        inside = t >= quiet.start or t < quiet.end
        end_day = local.date() + timedelta(days=1) if t >= quiet.start else local.date()
    if not inside:
        return None
    # Built from the wall-clock date so a DST change inside the period is handled by zoneinfo.
    return datetime.combine(end_day, quiet.end, tzinfo=quiet.zone)
