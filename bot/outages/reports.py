"""Probable outages: several customers of one area reporting a power cut within minutes,
where no outage is known, raise an alert on the supervisor console.

Redis (prefix `kefu:outages`):
- `reports:<area>`      sorted set: reporter (phone) -> time of their latest report; only
                        the window is kept, so its size is the distinct reporters in it
- `probable:<area>`     string: when the area's last alert was raised (at most one alert
                        per area per window)
- `alerts`              sorted set: alert id -> raised at (epoch seconds)
- `alert:<id>`          hash: id, area, reports, at, acknowledged_by, acknowledged_at
- `alerts:seq`          INCR counter of alert ids

The alerts are bot.alerts's, raised once per area and window; they live ALERT_TTL_S; the
console lists them (so a reload still shows them) until a supervisor acknowledges them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import redis.asyncio as aioredis

from bot.accounts.areas import load_areas
from bot.alerts import AlertKind, acknowledged_at
from bot.outages.registry import PREFIX, OutageRegistry
from bot.settings import get as settings

log = logging.getLogger(__name__)

ALERT_TTL_S = 7 * 24 * 3600
MAX_REPORTER = 128


async def record_report(
    redis: aioredis.Redis,
    area: str,
    phone: str,
    now: float,
    *,
    threshold: int | None = None,
    window_s: float | None = None,
) -> bool:
    """Records that `phone` (or another stable id of the reporter) reports a power cut in
    `area` at `now` (epoch seconds). True when the area is a probable outage as of this
    report: at least `threshold` distinct reporters within `window_s` (defaults:
    KEFU_PROBABLE_OUTAGE_REPORTS / KEFU_PROBABLE_OUTAGE_WINDOW_S) and no open outage
    covers it. The supervisor alert is raised once per area and window, however many
    reports follow."""
    config = settings()
    threshold = config.probable_outage_reports if threshold is None else threshold
    window_s = config.probable_outage_window_s if window_s is None else window_s
    reporter = phone.strip()[:MAX_REPORTER] if isinstance(phone, str) else ""
    if area not in load_areas() or not reporter:
        return False
    key = f"{PREFIX}:reports:{area}"
    pipe = redis.pipeline(transaction=True)
    pipe.zadd(key, {reporter: now})
    pipe.zremrangebyscore(key, "-inf", f"({now - window_s!r}")
    pipe.zcard(key)
    pipe.expire(key, max(int(window_s) + 1, 1))
    _, _, count, _ = await pipe.execute()
    if int(count) < threshold:
        return False
    at = datetime.fromtimestamp(now, timezone.utc)
    if await OutageRegistry(redis).active_for_area(area, at):
        return False  # known: customers get its cause and ETA instead
    # Atomic: whoever sets the window's marker raises the alert; concurrent reports from
    # several processes raise it once.
    raised = await KIND.raise_once(
        redis,
        now,
        [("area", area), ("reports", str(int(count)))],
        marker=f"{PREFIX}:probable:{area}",
        window_s=window_s,
    )
    if raised:
        log.warning("probable outage in %s: %s reporters within %ss", area, count, window_s)
    return True


def _alert(row: dict[str, str]) -> dict[str, Any]:
    area = load_areas().get(row.get("area", ""))
    return {
        "id": row.get("id", ""),
        "area": row.get("area", ""),
        "area_name": {"zh": area.zh, "en": area.en} if area else None,
        "reports": int(row.get("reports") or 0),
        "at": float(row.get("at") or 0),
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": acknowledged_at(row),
    }


def _valid_id(alert_id: str) -> bool:
    return alert_id.isascii() and alert_id.isdigit() and len(alert_id) <= 18


KIND = AlertKind(PREFIX, ALERT_TTL_S, _alert, _valid_id)
ALERTS = KIND.index
# The probable-outage alerts, newest first (unacknowledged ones only by default).
alerts = KIND.alerts
# Marks the alert seen by `actor` (the first acknowledgement stays). False: no such alert.
acknowledge = KIND.acknowledge
