"""Supervisor alerts, the mechanism shared by the probable-outage alerts
(bot/outages/reports.py), the low-rating alerts (bot/surveys/alerts.py) and the
complaint-spike alerts (bot/reports/prewarning.py).

Redis, under a kind's prefix:
- `alerts`          sorted set: alert id -> raised at (epoch seconds)
- `alert:<id>`      hash: id, at, the kind's fields, acknowledged_by, acknowledged_at
- `alerts:seq`      INCR counter of alert ids (kinds without ids of their own)

An alert is raised once, atomically (one Lua script, so concurrent processes raise it
once): once per id (the alert's hash exists), or once per window (a marker key holding
when the last one was raised). Alerts live the kind's `ttl_s`; the console lists them
newest first until a supervisor acknowledges them (the first acknowledgement stays).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

Row = dict[str, str]


@dataclass(frozen=True)
class Stream:
    """A stream that gets one entry (`type`, `id`, the fields, `at`) per alert raised."""

    name: str
    type: str
    maxlen: int


# KEYS: alerts, seq, marker ('' unless once per window), stream ('' for none).
# ARGV: prefix, id ('' to number it from seq), at, ttl, window ('' for once per id),
# fields (JSON [name, value, ...]), grow (JSON [name, ...]), stream type, stream maxlen.
# Raised again (same id): when `grow` is given and the new value of its first field is
# larger, the `grow` fields are updated (and `updated_at`). Returns the id, or false.
_RAISE_LUA = """
local alerts, seq_key, marker, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, id, at, ttl, window = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local fields, grow = cjson.decode(ARGV[6]), cjson.decode(ARGV[7])
local stream_type, maxlen = ARGV[8], ARGV[9]
if window ~= '' then
  -- The marker holds when the last alert was raised (the caller's clock, so a simulated
  -- clock works); its expiry only cleans up.
  local last = redis.call('GET', marker)
  if last and tonumber(last) > tonumber(at) - tonumber(window) then return false end
  redis.call('SET', marker, at, 'EX', math.ceil(tonumber(window)) + 60)
elseif redis.call('EXISTS', prefix .. ':alert:' .. id) == 1 then
  if #grow > 0 then
    local key = prefix .. ':alert:' .. id
    local new = {}
    for i = 1, #fields, 2 do new[fields[i]] = fields[i + 1] end
    local old = tonumber(redis.call('HGET', key, grow[1]) or '0')
    if tonumber(new[grow[1]]) > old then
      local flat = {}
      for _, name in ipairs(grow) do
        flat[#flat + 1] = name
        flat[#flat + 1] = new[name]
      end
      flat[#flat + 1] = 'updated_at'
      flat[#flat + 1] = at
      redis.call('HSET', key, unpack(flat))
    end
  end
  return false
end
if id == '' then id = tostring(redis.call('INCR', seq_key)) end
local key = prefix .. ':alert:' .. id
local flat = {'id', id}
for i = 1, #fields do flat[#flat + 1] = fields[i] end
flat[#flat + 1] = 'at'
flat[#flat + 1] = at
redis.call('HSET', key, unpack(flat))
redis.call('EXPIRE', key, ttl)
redis.call('ZADD', alerts, at, id)
if stream ~= '' then
  local entry = {'type', stream_type}
  for i = 1, #flat do entry[#entry + 1] = flat[i] end
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(entry))
end
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


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert: its Redis prefix (e.g. "kefu:outages"), how long its alerts
    live, how a stored alert is shown (`shape`) and which ids may be acknowledged. A
    module's public `alerts` and `acknowledge` are its kind's bound methods."""

    prefix: str
    ttl_s: int
    shape: Callable[[Row], dict[str, Any]]
    valid_id: Callable[[str], bool]

    @property
    def index(self) -> str:
        return f"{self.prefix}:alerts"

    @property
    def seq(self) -> str:
        return f"{self.index}:seq"

    def key(self, alert_id: str) -> str:
        return f"{self.prefix}:alert:{alert_id}"

    async def raise_once(
        self,
        redis: aioredis.Redis,
        at: float,
        fields: Sequence[tuple[str, str]],
        *,
        alert_id: str | None = None,
        marker: str | None = None,
        window_s: float | None = None,
        grow: Sequence[str] = (),
        stream: Stream | None = None,
    ) -> str | None:
        """Raises an alert with `fields` at `at`: once per `alert_id` (its hash exists),
        or, with `marker` and `window_s`, once per window (then `alert_id` may be None:
        the id is numbered from the kind's counter). Returns the new alert's id, None if
        not raised."""
        if window_s is None and not alert_id:
            raise ValueError("an alert raised once per id needs its id")
        if window_s is not None and not marker:
            raise ValueError("an alert raised once per window needs its marker key")
        flat = [part for pair in fields for part in pair]
        raised = await redis.eval(
            _RAISE_LUA,
            4,
            self.index,
            self.seq,
            marker or "",
            stream.name if stream else "",
            self.prefix,
            alert_id or "",
            repr(at),
            str(self.ttl_s),
            "" if window_s is None else repr(window_s),
            json.dumps(flat, ensure_ascii=False),
            json.dumps(list(grow)),
            stream.type if stream else "",
            str(stream.maxlen) if stream else "0",
        )
        if not raised:
            return None
        return raised.decode() if isinstance(raised, bytes) else str(raised)

    async def alerts(
        self,
        redis: aioredis.Redis,
        now: float,
        *,
        include_acknowledged: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """The kind's alerts, newest first, shaped (unacknowledged ones only by default);
        drops those older than the kind's retention from the index."""
        await redis.zremrangebyscore(self.index, "-inf", f"({now - self.ttl_s!r}")
        ids = await redis.zrevrange(self.index, 0, max(limit, 1) * 4 - 1)
        if not ids:
            return []
        async with redis.pipeline(transaction=False) as pipe:
            for alert_id in ids:
                pipe.hgetall(self.key(alert_id))
            rows = await pipe.execute()
        out: list[dict[str, Any]] = []
        for row in rows:
            if not row or (row.get("acknowledged_by") and not include_acknowledged):
                continue
            out.append(self.shape(row))
            if len(out) >= limit:
                break
        return out

    async def acknowledge(
        self, redis: aioredis.Redis, alert_id: str, actor: str, now: float
    ) -> bool:
        """Marks the alert seen by `actor` (the first acknowledgement stays). False: no
        such alert (or an id the kind never makes)."""
        if not self.valid_id(alert_id):
            return False
        return bool(await redis.eval(_ACK_LUA, 1, self.key(alert_id), actor, repr(now)))


def acknowledged_at(row: Row) -> float | None:
    return float(row["acknowledged_at"]) if row.get("acknowledged_at") else None
