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

Alerts live ALERT_TTL_S; the console lists them (so a reload still shows them) until a
supervisor acknowledges them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import redis.asyncio as aioredis

from bot.accounts.areas import load_areas
from bot.outages.registry import PREFIX, OutageRegistry
from bot.settings import get as settings

log = logging.getLogger(__name__)

ALERTS = f"{PREFIX}:alerts"
ALERT_TTL_S = 7 * 24 * 3600
MAX_REPORTER = 128

# Atomic: whoever sets the window's marker raises the alert; concurrent reports from
# several processes raise it once.
_RAISE_LUA = """
local marker, alerts, seq_key = KEYS[1], KEYS[2], KEYS[3]
local prefix, area, reports, at, window, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
-- The marker holds when the area's last alert was raised (the caller's clock, so a
-- simulated clock works); its expiry only cleans up.
local last = redis.call('GET', marker)
if last and tonumber(last) > tonumber(at) - tonumber(window) then return false end
redis.call('SET', marker, at, 'EX', math.ceil(tonumber(window)) + 60)
local id = tostring(redis.call('INCR', seq_key))
local key = prefix .. ':alert:' .. id
redis.call('HSET', key, 'id', id, 'area', area, 'reports', reports, 'at', at)
redis.call('EXPIRE', key, ttl)
redis.call('ZADD', alerts, at, id)
return id
"""

_ACK_LUA = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return false end
if redis.call('HEXISTS', key, 'acknowledged_by') == 0 then
  redis.call('HSET', key, 'acknowledged_by', ARGV[1], 'acknowledged_at', ARGV[2])
end
return 1
"""


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
    raised = await redis.eval(
        _RAISE_LUA,
        3,
        f"{PREFIX}:probable:{area}",
        ALERTS,
        f"{ALERTS}:seq",
        PREFIX,
        area,
        str(int(count)),
        repr(now),
        repr(window_s),
        str(ALERT_TTL_S),
    )
    if raised:
        log.warning("probable outage in %s: %s reporters within %ss", area, count, window_s)
    return True


async def alerts(
    redis: aioredis.Redis, now: float, *, include_acknowledged: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The probable-outage alerts, newest first (unacknowledged ones only by default)."""
    await redis.zremrangebyscore(ALERTS, "-inf", f"({now - ALERT_TTL_S!r}")
    ids = await redis.zrevrange(ALERTS, 0, max(limit, 1) * 4 - 1)
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for alert_id in ids:
        pipe.hgetall(f"{PREFIX}:alert:{alert_id}")
    out: list[dict[str, Any]] = []
    for row in await pipe.execute():
        if not row or (row.get("acknowledged_by") and not include_acknowledged):
            continue
        out.append(_alert(row))
        if len(out) >= limit:
            break
    return out


async def acknowledge(redis: aioredis.Redis, alert_id: str, actor: str, now: float) -> bool:
    """Marks the alert seen by `actor` (the first acknowledgement stays). False: no such
    alert."""
    if not alert_id.isascii() or not alert_id.isdigit() or len(alert_id) > 18:
        return False
    done = await redis.eval(_ACK_LUA, 1, f"{PREFIX}:alert:{alert_id}", actor, repr(now))
    return bool(done)


def _alert(row: dict[str, str]) -> dict[str, Any]:
    area = load_areas().get(row.get("area", ""))
    return {
        "id": row.get("id", ""),
        "area": row.get("area", ""),
        "area_name": {"zh": area.zh, "en": area.en} if area else None,
        "reports": int(row.get("reports") or 0),
        "at": float(row.get("at") or 0),
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": float(row["acknowledged_at"]) if row.get("acknowledged_at") else None,
    }
