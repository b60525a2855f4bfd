"""Refusing limits ("at most N per period"), held in Redis and shared by every process.

`bot.sms.ratelimit.RateLimiter` paces a sender: it always grants a slot and says how
long to wait for it. Customer input needs the opposite: over the limit, refuse now
and say when to try again. This is GCRA with a burst of the whole allowance (N events
at once, then one every period/N), so it never lets through more than N in any
window of one period, unlike a fixed per-minute counter that allows 2N across a
minute boundary. Times come from Redis's clock so processes on different hosts agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS = one theoretical-arrival-time key per quota; ARGV[2i-1] = interval (µs),
# ARGV[2i] = period (µs) of KEYS[i]. Either every quota grants the event and all are
# charged, or none is charged and the reply is the wait (µs) until all would grant it.
_TRY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local nexts = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local nxt = tat + interval
  if nxt - now > period and nxt - now - period > wait then wait = nxt - now - period end
  nexts[i] = nxt
end
if wait > 0 then return string.format('%.0f', wait) end
for i, key in ipairs(KEYS) do
  local ttl_ms = math.ceil((nexts[i] - now) / 1000) + 1000
  redis.call('SET', key, string.format('%.0f', nexts[i]), 'PX', ttl_ms)
end
return '0'
"""


@dataclass(frozen=True)
class Quota:
    """At most `limit` events per `period_s` for the subject named by `key`."""

    key: str
    limit: int
    period_s: float = 60.0

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period_s <= 0:
            raise ValueError("a quota needs a positive limit and period")


class Limiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._script = redis.register_script(_TRY)

    async def try_acquire(self, *quotas: Quota) -> float:
        """Charges one event to every quota if all allow it and returns 0.0; otherwise
        charges nothing and returns the seconds until all of them would allow it."""
        keys: list[str] = []
        args: list[int] = []
        for quota in quotas:
            period_us = int(quota.period_s * 1_000_000)
            keys.append(quota.key)
            args += [period_us // quota.limit, period_us]
        waited = await self._script(keys=keys, args=args)
        return int(waited) / 1_000_000
