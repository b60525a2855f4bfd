"""VisitStore: return visits in Redis, shared by every desk process.

Layout (prefix `kefu:surveys`):
- `v:<visit id>`            hash: the visit (Visit.to_redis), plus `asking` ("ask" or
                            "remind") while a trigger to Rasa may be in flight
- `ticket:<number>`         sorted set: visit id -> resolution (a ticket's visits in order)
- `resolved`                sorted set: visit id -> resolved_at (reports by date range)
- `due`                     sorted set: visit id -> when the scheduler next looks at it
                            (scheduled: its time; sent: the reminder; reminded: no_response).
                            A worker claims a member by pushing its score one lease ahead
                            (atomic), so a crashed worker's visit comes back by itself.
- `conversation:<id>`       sorted set: visit id -> when it was asked there (the dialogue
                            finds the open survey of a conversation)

Every status change is one Lua script that checks the status it expects, so two desks (or
a desk and an answer) can never both move the same visit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from bot.surveys.models import AWAITING, Visit

PREFIX = "kefu:surveys"
DUE = f"{PREFIX}:due"
RESOLVED = f"{PREFIX}:resolved"
LOOKBACK = 20  # a conversation's most recent visits considered for the open one

_CREATE_LUA = """
local key, due, resolved, by_ticket = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, due_at, resolved_at, resolution = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', key) == 1 then return 0 end
local fields = cjson.decode(ARGV[5])
local flat = {}
for name, value in pairs(fields) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
redis.call('HSET', key, unpack(flat))
redis.call('ZADD', due, due_at, id)
redis.call('ZADD', resolved, resolved_at, id)
redis.call('ZADD', by_ticket, resolution, id)
return 1
"""

_CLAIM_LUA = """
local due, now, lease = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, 1)
if #ids == 0 then return false end
redis.call('ZADD', due, now + lease, ids[1])
return ids[1]
"""

_ADVANCE_LUA = """
local key, due = KEYS[1], KEYS[2]
local prefix, id, expected, next_due, conversation, asked_at =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', key, 'status') ~= expected then return 0 end
local changes = cjson.decode(ARGV[7])
local flat = {}
for name, value in pairs(changes) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
redis.call('HDEL', key, 'asking')
if next_due ~= '' then
  redis.call('ZADD', due, next_due, id)
else
  redis.call('ZREM', due, id)
end
if conversation ~= '' then
  redis.call('ZADD', prefix .. ':conversation:' .. conversation, asked_at, id)
end
return 1
"""

_ANSWER_LUA = """
local key, due = KEYS[1], KEYS[2]
local id, now = ARGV[1], tonumber(ARGV[2])
local status = redis.call('HGET', key, 'status')
if status ~= 'sent' and status ~= 'reminded' and status ~= 'no_response' then return 0 end
local closes = tonumber(redis.call('HGET', key, 'closes_at') or '0')
if now > closes then return 0 end
local changes = cjson.decode(ARGV[3])
local flat = {'status', 'answered', 'answered_at', ARGV[2]}
for name, value in pairs(changes) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
redis.call('HSET', key, unpack(flat))
redis.call('HDEL', key, 'asking')
redis.call('ZREM', due, id)
return 1
"""


def visit_key(visit_id: str) -> str:
    return f"{PREFIX}:v:{visit_id}"


def ticket_key(number: str) -> str:
    return f"{PREFIX}:ticket:{number}"


def conversation_key(conversation_id: str) -> str:
    return f"{PREFIX}:conversation:{conversation_id}"


class VisitStore:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._r = redis
        self._clock = clock
        self._create = redis.register_script(_CREATE_LUA)
        self._claim = redis.register_script(_CLAIM_LUA)
        self._advance = redis.register_script(_ADVANCE_LUA)
        self._answer = redis.register_script(_ANSWER_LUA)

    # ---------------------------------------------------------------- read
    async def get(self, visit_id: str) -> Visit | None:
        raw = await self._r.hgetall(visit_key(visit_id))
        return Visit.from_redis(raw) if raw else None

    async def _get_many(self, ids: Iterable[str]) -> list[Visit]:
        ids = list(ids)
        if not ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for visit_id in ids:
                pipe.hgetall(visit_key(visit_id))
            raws = await pipe.execute()
        return [Visit.from_redis(raw) for raw in raws if raw]

    async def for_ticket(self, number: str) -> list[Visit]:
        """All the ticket's visits, oldest resolution first."""
        return await self._get_many(await self._r.zrange(ticket_key(number), 0, -1))

    async def open_for_conversation(self, conversation_id: str) -> Visit | None:
        """The newest visit asked in this conversation that still takes an answer (sent,
        reminded or no_response, and its window not over), or None."""
        ids = await self._r.zrevrange(conversation_key(conversation_id), 0, LOOKBACK - 1)
        now = self._clock()
        for visit in await self._get_many(ids):
            if visit.status in AWAITING and visit.closes_at is not None and now <= visit.closes_at:
                return visit
        return None

    async def in_range(self, start: float, end: float) -> list[Visit]:
        """Visits whose resolution happened in [start, end] (epoch seconds), oldest first."""
        return await self._get_many(await self._r.zrangebyscore(RESOLVED, start, end))

    async def asking(self, visit_id: str) -> str | None:
        """The step (JSON: step and route) whose trigger may already have reached Rasa."""
        value: str | None = await self._r.hget(visit_key(visit_id), "asking")
        return value

    # ---------------------------------------------------------------- write
    async def create(self, visit: Visit) -> bool:
        """Stores a new visit and schedules it at visit.due_at; False (nothing written) if
        a visit with that id exists: one visit per resolution however often it is asked."""
        assert visit.due_at is not None and visit.resolved_at is not None
        fields = visit.to_redis()
        created = await self._create(
            keys=[visit_key(visit.id), DUE, RESOLVED, ticket_key(visit.ticket)],
            args=[
                visit.id,
                repr(visit.due_at),
                repr(visit.resolved_at),
                visit.resolution,
                json.dumps(fields, ensure_ascii=False),
            ],
        )
        return bool(created)

    async def claim_due(self, now: float, lease_s: float) -> str | None:
        """One visit whose time has come, leased for `lease_s` (its due score moves to
        now + lease_s: if this worker dies, another takes it after the lease)."""
        claimed: str | None = await self._claim(keys=[DUE], args=[repr(now), repr(lease_s)])
        return claimed

    async def mark_asking(self, visit_id: str, step: str) -> None:
        """`step`: what is about to be asked and where (the scheduler's JSON). Written
        BEFORE the trigger: a worker that finds it set after a crash checks the
        conversation's tracker instead of asking again."""
        await self._r.hset(visit_key(visit_id), "asking", step)

    async def clear_asking(self, visit_id: str) -> None:
        await self._r.hdel(visit_key(visit_id), "asking")

    async def advance(
        self,
        visit: Visit,
        expected: str,
        *,
        next_due: float | None,
        asked_in: str | None = None,
        asked_at: float | None = None,
    ) -> bool:
        """Writes `visit` (its new status and times) if the stored status is still
        `expected`; reschedules it at `next_due` (None: out of the schedule). `asked_in`:
        the conversation it was asked in, indexed for the dialogue. False if it moved on."""
        changes = {k: v for k, v in visit.to_redis().items() if k != "id"}
        moved = await self._advance(
            keys=[visit_key(visit.id), DUE],
            args=[
                PREFIX,
                visit.id,
                expected,
                "" if next_due is None else repr(next_due),
                asked_in or "",
                repr(asked_at or 0.0),
                json.dumps(changes, ensure_ascii=False),
            ],
        )
        return bool(moved)

    async def answer(
        self, visit_id: str, now: float, rating: int | None, comment: str | None, low: bool
    ) -> bool:
        """Marks the visit answered if it takes an answer at `now` (asked, not answered,
        window open). False otherwise: the first answer is the one kept."""
        changes: dict[str, str] = {"low": "1" if low else "0"}
        if rating is not None:
            changes["rating"] = str(rating)
        if comment:
            changes["comment"] = comment
        answered = await self._answer(
            keys=[visit_key(visit_id), DUE],
            args=[visit_id, repr(now), json.dumps(changes, ensure_ascii=False)],
        )
        return bool(answered)
