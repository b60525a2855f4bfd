"""Low-rating alerts for supervisors: a return visit rated 2 or less, or saying the problem
is not solved, reopened its ticket; the console lists it until a supervisor acknowledges it.

Redis (prefix `kefu:surveys`), the same shape as the probable-outage alerts
(bot/outages/reports.py):
- `alerts`          sorted set: alert id (= the visit id) -> raised at (epoch seconds)
- `alert:<id>`      hash: id, ticket, rating, comment, owner, callback_by, at,
                    acknowledged_by, acknowledged_at

One alert per visit: an answer handled twice (a re-run turn) raises it once.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from bot.surveys.store import PREFIX

ALERTS = f"{PREFIX}:alerts"
ALERT_TTL_S = 30 * 24 * 3600
MAX_ID = 64

_RAISE_LUA = """
local key, alerts = KEYS[1], KEYS[2]
local id, at, ttl = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', key) == 1 then return 0 end
local fields = cjson.decode(ARGV[4])
local flat = {'id', id, 'at', at}
for name, value in pairs(fields) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
redis.call('HSET', key, unpack(flat))
redis.call('EXPIRE', key, ttl)
redis.call('ZADD', alerts, at, id)
return 1
"""

_ACK_LUA = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return false end
if redis.call('HEXISTS', key, 'acknowledged_by') == 0 then
  redis.call('HSET', key, 'acknowledged_by', ARGV[1], 'acknowledged_at', ARGV[2])
end
return 1
"""


def alert_key(alert_id: str) -> str:
    return f"{PREFIX}:alert:{alert_id}"


async def raise_alert(
    redis: aioredis.Redis, visit_id: str, at: float, details: dict[str, str]
) -> bool:
    """Raises the visit's alert (details: ticket, rating, comment, owner, callback_by...);
    False if it was already raised."""
    raised = await redis.eval(
        _RAISE_LUA,
        2,
        alert_key(visit_id),
        ALERTS,
        visit_id,
        repr(at),
        str(ALERT_TTL_S),
        json.dumps(details, ensure_ascii=False),
    )
    return bool(raised)


async def alerts(
    redis: aioredis.Redis, now: float, *, include_acknowledged: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """Low-rating alerts, newest first (unacknowledged ones only by default)."""
    await redis.zremrangebyscore(ALERTS, "-inf", f"({now - ALERT_TTL_S!r}")
    ids = await redis.zrevrange(ALERTS, 0, max(limit, 1) * 4 - 1)
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for alert_id in ids:
        pipe.hgetall(alert_key(alert_id))
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
    if not alert_id or len(alert_id) > MAX_ID or not alert_id.isprintable():
        return False
    done = await redis.eval(_ACK_LUA, 1, alert_key(alert_id), actor, repr(now))
    return bool(done)


def _alert(row: dict[str, str]) -> dict[str, Any]:
    rating = row.get("rating")
    return {
        "id": row.get("id", ""),
        "ticket": row.get("ticket", ""),
        "rating": int(rating) if rating else None,
        "comment": row.get("comment") or None,
        "owner": row.get("owner") or None,
        "callback_by": row.get("callback_by") or None,
        "at": float(row.get("at") or 0),
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": float(row["acknowledged_at"]) if row.get("acknowledged_at") else None,
    }
