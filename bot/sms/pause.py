"""Sending paused: Twilio rejected our credentials (HTTP 401, e.g. a rotated auth token).

A 401 fails every message the same way until someone fixes the credentials, so failing
each message (or burning its attempts) would only lose the queue. Instead the first 401
pauses sending for every desk, through one Redis flag, and raises one supervisor alert
(bot.alerts). Messages stay queued. While paused, one send at a time is let through every
`probe_s` (any desk may take the turn, SET NX); the first that succeeds resumes sending
for all and marks the alert resolved.

Redis (prefix `kefu:sms`):
- `paused`          string: the pause's episode id (milliseconds when it began); absent
                    while sending normally. It has no expiry: a pause outlives desk
                    restarts, and only a successful send ends it;
- `paused:probe`    string with a TTL: the desk allowed one send now;
- `alerts`, `alert:<id>`  the alerts (bot.alerts), id `twilio-auth-<episode>`, with
                    `error`, `at` and, once sending works again, `resolved_at`.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from bot.alerts import AlertKind, acknowledged_at

PREFIX = "kefu:sms"
PAUSED = f"{PREFIX}:paused"
PROBE = f"{PREFIX}:paused:probe"
ALERT_TTL_S = 30 * 24 * 3600
ALERT_PREFIX = "twilio-auth-"


def _alert(row: dict[str, str]) -> dict[str, Any]:
    resolved = row.get("resolved_at")
    return {
        "id": row.get("id", ""),
        "kind": "twilio_auth",
        "error": row.get("error", ""),
        "at": float(row.get("at") or 0),
        "resolved_at": float(resolved) if resolved else None,
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": acknowledged_at(row),
    }


def _valid_id(alert_id: str) -> bool:
    rest = alert_id.removeprefix(ALERT_PREFIX)
    return rest != alert_id and rest.isdigit() and len(rest) <= 16


KIND = AlertKind(PREFIX, ALERT_TTL_S, _alert, _valid_id)
# Sending alerts, newest first (unacknowledged ones only by default).
alerts = KIND.alerts
acknowledge = KIND.acknowledge


async def pause(redis: aioredis.Redis, error: str, now: float | None = None) -> tuple[str, bool]:
    """Pauses sending (if not paused already) and makes sure the pause's alert exists;
    returns (the episode id, whether this call began it). Safe in every desk at once: one
    episode, one alert."""
    now = time.time() if now is None else now
    began = bool(await redis.set(PAUSED, str(int(now * 1000)), nx=True))
    episode = await redis.get(PAUSED) or str(int(now * 1000))  # resumed meanwhile: ours
    # Raised by every desk that meets the 401, once per id: a desk that died between the
    # flag and the alert cannot leave a pause nobody was told about.
    await KIND.raise_once(
        redis,
        now,
        [("error", error[:300]), ("episode", episode)],
        alert_id=ALERT_PREFIX + episode,
    )
    return str(episode), began


async def paused(redis: aioredis.Redis) -> str | None:
    """The current pause's episode id, or None while sending normally."""
    value = await redis.get(PAUSED)
    return str(value) if value else None


async def may_probe(redis: aioredis.Redis, consumer: str, probe_s: float) -> bool:
    """Whether this worker may try one send now (at most one per probe_s, across desks)."""
    return bool(await redis.set(PROBE, consumer, nx=True, px=max(1, int(probe_s * 1000))))


# Ends the pause and marks its alert resolved, in one step (the alert only if it exists).
_RESUME = """
local episode = redis.call('GET', KEYS[1])
if not episode then return false end
redis.call('DEL', KEYS[1], KEYS[2])
local key = ARGV[1] .. episode
if redis.call('EXISTS', key) == 1 then redis.call('HSETNX', key, 'resolved_at', ARGV[2]) end
return episode
"""


async def resume(redis: aioredis.Redis, now: float | None = None) -> str | None:
    """Ends the pause after a send succeeded; returns the episode ended (None: not paused)."""
    now = time.time() if now is None else now
    episode = await redis.eval(_RESUME, 2, PAUSED, PROBE, KIND.key(ALERT_PREFIX), repr(now))
    return str(episode) if episode else None
