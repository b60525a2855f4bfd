"""The handoff state machine and queue in Redis.

States of a conversation (docs/architecture.md, "Handoff: conversation states"):

    bot ──request──> queued ──claim──> agent ──hand back──> bot
                       │                 │
                       └─────close───────┴──────close─────> closed

Every transition is one Lua script, so it is atomic across desk processes and action
servers: of two agents claiming at once exactly one wins, and a conversation is never in
the queue and with an agent at the same time. Each transition also appends to the
`changes` stream that every desk process reads for its live view.

Keys (prefix kefu:handoff:):
- conv:{id}       hash: state, channel, language, grade, reason, phone, enqueued_at,
                  claimed_at, agent, preferred_agent, preferred_until, ticket_id, episode,
                  last_text, last_customer_at, ended_at, ended_by, sync
- queue           sorted set of queued ids; score = grade rank * 1e13 + enqueue time (ms),
                  so P1 comes first and, within a grade, whoever has waited longest
- active          sorted set of ids with an agent (score: claim time)
- handle_times    list of recent handle times (ms), newest first
- pending_sync    sorted set of ids whose hand-back/close Rasa has not confirmed yet
- notes:{id}      list of internal notes (JSON); never sent to the customer
- changes         stream of transitions (bounded)

The scripts touch only keys under this prefix; claim_next reads conv hashes it finds in
the queue, which is fine on a single Redis (not Redis Cluster).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

from bot.handoff.errors import HandoffError
from bot.handoff.policy import QueuePolicy
from bot.phones import mask

PREFIX = "kefu:handoff:"
QUEUE = PREFIX + "queue"
ACTIVE = PREFIX + "active"
HANDLE_TIMES = PREFIX + "handle_times"
PENDING_SYNC = PREFIX + "pending_sync"
CHANGES = PREFIX + "changes"
CHANGES_MAXLEN = 10_000
RANK_FACTOR = 10**13  # > any epoch-millisecond timestamp until the year 2286
RETENTION_S = 30 * 24 * 3600  # finished conversations' records
NOTES_MAX = 500
NOTE_RETENTION_S = 180 * 24 * 3600
SCAN_LIMIT = 500  # claim_next looks at most this far down the queue

QUEUED, AGENT, BOT, CLOSED = "queued", "agent", "bot", "closed"
ACTIVE_STATES = (QUEUED, AGENT)
EXPIRED_BY = "system:queue_timeout"  # ended_by of a handoff nobody claimed in time


def conv_key(conversation_id: str) -> str:
    return f"{PREFIX}conv:{conversation_id}"


def notes_key(conversation_id: str) -> str:
    return f"{PREFIX}notes:{conversation_id}"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


_ENQUEUE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'agent' then return 0 end
local episode = tonumber(redis.call('HGET', KEYS[1], 'episode') or '0') + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'queued', 'episode', episode,
           unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'conversation', ARGV[1],
           'change', 'queued', 'at', ARGV[3], 'episode', episode)
return 1
"""

# Shared by claim and claim_next: is `agent` allowed to take this conversation now?
_CAN_TAKE = """
local function can_take(f, agent, now)
  if f[1] ~= 'queued' then return false end
  local preferred, until_ms = f[2], tonumber(f[3] or '0') or 0
  if preferred and preferred ~= '' and preferred ~= agent and until_ms > now then
    return false
  end
  return true
end
local function take(key, id, agent, now, queue, active, changes, maxlen)
  redis.call('HSET', key, 'state', 'agent', 'agent', agent, 'claimed_at', now)
  redis.call('ZREM', queue, id)
  redis.call('ZADD', active, now, id)
  redis.call('XADD', changes, 'MAXLEN', '~', maxlen, '*', 'conversation', id,
             'change', 'claimed', 'agent', agent, 'at', now)
end
"""

_CLAIM = (
    _CAN_TAKE
    + """
local id, agent, now, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local f = redis.call('HMGET', KEYS[1], 'state', 'preferred_agent', 'preferred_until', 'agent')
if f[1] == 'agent' then return {'taken', f[4] or ''} end
if f[1] ~= 'queued' then return {'not_queued', f[1] or 'bot'} end
if not can_take(f, agent, now) then return {'reserved', f[2]} end
take(KEYS[1], id, agent, now, KEYS[2], KEYS[3], KEYS[4], maxlen)
return {'ok', ''}
"""
)

_CLAIM_NEXT = (
    _CAN_TAKE
    + """
local agent, now, maxlen, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
for _, id in ipairs(ids) do
  local key = prefix .. 'conv:' .. id
  local f = redis.call('HMGET', key, 'state', 'preferred_agent', 'preferred_until')
  if can_take(f, agent, now) then
    take(key, id, agent, now, KEYS[1], KEYS[2], KEYS[3], maxlen)
    return id
  end
end
return false
"""
)

_RELEASE = """
local id, actor, now, target, owner = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local maxlen, samples, max_ms, ttl = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local f = redis.call('HMGET', KEYS[1], 'state', 'agent', 'claimed_at', 'episode')
local state = f[1]
if target == 'bot' and state ~= 'agent' then return {'not_active', state or 'bot'} end
if target == 'closed' and state ~= 'agent' and state ~= 'queued' then
  return {'not_active', state or 'bot'}
end
if state == 'agent' and owner ~= '' and f[2] ~= owner then return {'forbidden', f[2] or ''} end
local handled = -1
if state == 'agent' then
  handled = now - (tonumber(f[3] or now) or now)
  if handled < 0 then handled = 0 end
  if handled > max_ms then handled = max_ms end
  redis.call('LPUSH', KEYS[5], handled)
  redis.call('LTRIM', KEYS[5], 0, samples - 1)
end
redis.call('HSET', KEYS[1], 'state', target, 'ended_at', now, 'ended_by', actor,
           'previous_state', state, 'sync', 'pending')
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[6], now, id)
local change = 'handed_back'
if target == 'closed' then change = 'closed' end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'conversation', id, 'change', change,
           'agent', f[2] or '', 'actor', actor, 'at', now)
return {'ok', state, tostring(handled), f[4] or '0'}
"""

_MARK_SYNCED = """
if redis.call('HGET', KEYS[1], 'episode') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'sync')
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

_CUSTOMER_MESSAGE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'agent' then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'last_customer_at') or '0') or 0
if tonumber(ARGV[2]) < last then return 0 end
redis.call('HSET', KEYS[1], 'last_text', ARGV[1], 'last_customer_at', ARGV[2])
return 1
"""

# Only a conversation still queued, and queued before the cutoff, expires: a claim that
# won the race stands.
_EXPIRE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'enqueued_at')
if f[1] ~= 'queued' then return 0 end
if tonumber(f[2] or '0') > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closed', 'ended_at', ARGV[3], 'ended_by', ARGV[6],
           'previous_state', 'queued', 'sync', 'pending')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'conversation', ARGV[1],
           'change', 'expired', 'actor', ARGV[6], 'at', ARGV[3])
return 1
"""

_SET_TICKET = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
redis.call('HSET', KEYS[1], 'ticket_id', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'conversation', ARGV[1],
           'change', 'ticket', 'ticket_id', ARGV[2], 'actor', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Conversation:
    id: str
    state: str
    channel: str
    language: str
    grade: str
    reason: str
    phone: str | None
    enqueued_at: float
    episode: int
    claimed_at: float | None = None
    agent: str | None = None
    preferred_agent: str | None = None
    preferred_until: float | None = None
    ticket_id: str | None = None
    last_text: str | None = None
    last_customer_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    sync_pending: bool = False

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Conversation:
        def seconds(name: str) -> float | None:
            value = raw.get(name)
            return int(value) / 1000 if value else None

        return cls(
            id=raw["id"],
            state=raw.get("state", BOT),
            channel=raw.get("channel", ""),
            language=raw.get("language", "zh"),
            grade=raw.get("grade", ""),
            reason=raw.get("reason", ""),
            phone=raw.get("phone") or None,
            enqueued_at=seconds("enqueued_at") or 0.0,
            episode=int(raw.get("episode") or 0),
            claimed_at=seconds("claimed_at"),
            agent=raw.get("agent") or None,
            preferred_agent=raw.get("preferred_agent") or None,
            preferred_until=seconds("preferred_until"),
            ticket_id=raw.get("ticket_id") or None,
            last_text=raw.get("last_text") or None,
            last_customer_at=seconds("last_customer_at"),
            ended_at=seconds("ended_at"),
            ended_by=raw.get("ended_by") or None,
            sync_pending=raw.get("sync") == "pending",
        )

    def reserved_for(self, now: float) -> str | None:
        """The ticket owner who alone may claim it right now (首问负责), if any."""
        if self.state == QUEUED and self.preferred_agent and (self.preferred_until or 0) > now:
            return self.preferred_agent
        return None

    def to_json(self, now: float, *, full_phone: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sync_pending")
        data["phone"] = self.phone if full_phone else None
        data["phone_masked"] = mask(self.phone) if self.phone else None
        data["waiting_s"] = max(0.0, now - self.enqueued_at) if self.state == QUEUED else None
        data["reserved_for"] = self.reserved_for(now)
        return data


@dataclass(frozen=True)
class Released:
    conversation: Conversation
    previous_state: str
    handle_time_s: float | None


class HandoffStore:
    def __init__(self, redis: aioredis.Redis, policy: QueuePolicy) -> None:
        self._r = redis
        self.policy = policy
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._claim_next = redis.register_script(_CLAIM_NEXT)
        self._release = redis.register_script(_RELEASE)
        self._mark_synced = redis.register_script(_MARK_SYNCED)
        self._customer_message = redis.register_script(_CUSTOMER_MESSAGE)
        self._set_ticket = redis.register_script(_SET_TICKET)
        self._expire = redis.register_script(_EXPIRE)

    @property
    def redis(self) -> aioredis.Redis:
        return self._r

    # ---- transitions ------------------------------------------------------------------

    async def enqueue(
        self,
        conversation_id: str,
        *,
        channel: str,
        language: str,
        grade: str | None,
        reason: str,
        phone: str | None = None,
        preferred_agent: str | None = None,
        preferred_until: float | None = None,
        ticket_id: str | None = None,
        now: float | None = None,
    ) -> bool:
        """bot/closed -> queued. False (and no change) if it is already queued or with an agent."""
        now = time.time() if now is None else now
        grade = grade if grade in self.policy.grades else self.policy.default_grade
        score = self.policy.rank(grade) * RANK_FACTOR + _ms(now)
        fields = {
            "channel": channel,
            "language": language,
            "grade": grade,
            "reason": reason,
            "phone": phone or "",
            "enqueued_at": str(_ms(now)),
            "preferred_agent": preferred_agent or "",
            "preferred_until": str(_ms(preferred_until)) if preferred_until else "",
            "ticket_id": ticket_id or "",
        }
        flat = [x for pair in fields.items() for x in pair]
        created = await self._enqueue(
            keys=[conv_key(conversation_id), QUEUE, CHANGES],
            args=[conversation_id, score, _ms(now), CHANGES_MAXLEN, *flat],
        )
        return bool(created)

    async def claim(self, conversation_id: str, agent: str, now: float | None = None) -> None:
        """queued -> agent, atomically. Raises HandoffError (taken, reserved, not_queued)."""
        now = time.time() if now is None else now
        outcome, detail = await self._claim(
            keys=[conv_key(conversation_id), QUEUE, ACTIVE, CHANGES],
            args=[conversation_id, agent, _ms(now), CHANGES_MAXLEN],
        )
        if outcome == "ok":
            return
        messages = {
            "taken": f"already taken by {detail}",
            "reserved": f"reserved for {detail}, the owner of the customer's open ticket",
            "not_queued": f"not waiting for an agent (state: {detail})",
        }
        raise HandoffError(outcome, messages.get(outcome, outcome), "conversation")

    async def claim_next(self, agent: str, now: float | None = None) -> str | None:
        """Takes the first conversation in queue order that `agent` may take (or None)."""
        now = time.time() if now is None else now
        taken = await self._claim_next(
            keys=[QUEUE, ACTIVE, CHANGES],
            args=[agent, _ms(now), CHANGES_MAXLEN, PREFIX, SCAN_LIMIT],
        )
        return taken or None

    async def release(
        self,
        conversation_id: str,
        *,
        target: str,
        actor: str,
        owner: str | None,
        now: float | None = None,
    ) -> Released:
        """agent -> bot (hand back), or queued/agent -> closed.

        `owner`: the agent who must hold the conversation (None: anyone, for supervisors).
        The conversation is marked as waiting for Rasa (sync) until mark_synced().
        """
        if target not in (BOT, CLOSED):
            raise ValueError(target)
        now = time.time() if now is None else now
        result = await self._release(
            keys=[conv_key(conversation_id), QUEUE, ACTIVE, CHANGES, HANDLE_TIMES, PENDING_SYNC],
            args=[
                conversation_id,
                actor,
                _ms(now),
                target,
                owner or "",
                CHANGES_MAXLEN,
                self.policy.handle_time_samples,
                _ms(self.policy.max_handle_time_s),
                RETENTION_S,
            ],
        )
        if result[0] == "not_active":
            raise HandoffError("not_active", f"no agent conversation (state: {result[1]})")
        if result[0] == "forbidden":
            raise HandoffError("forbidden", f"this conversation is with {result[1]}")
        conversation = await self.get(conversation_id)
        assert conversation is not None
        handled = int(result[2])
        return Released(conversation, result[1], handled / 1000 if handled >= 0 else None)

    async def mark_synced(self, conversation_id: str, episode: int) -> None:
        await self._mark_synced(
            keys=[conv_key(conversation_id), PENDING_SYNC], args=[conversation_id, episode]
        )

    async def pending_sync(self, older_than: float) -> list[str]:
        """Conversations released before `older_than` that Rasa has not confirmed."""
        ids: list[str] = await self._r.zrangebyscore(PENDING_SYNC, "-inf", _ms(older_than))
        return ids

    async def expire_due(self, now: float | None = None) -> list[Conversation]:
        """queued -> closed for conversations queued longer than the policy's
        queue_timeout_s; returns those this call expired (each expires exactly once)."""
        now = time.time() if now is None else now
        cutoff = _ms(now - self.policy.queue_timeout_s)
        candidates: list[str] = []
        for rank in range(len(self.policy.grades)):  # the queue's score is rank, then time
            low = rank * RANK_FACTOR
            candidates += await self._r.zrangebyscore(QUEUE, low, low + cutoff)
        expired = []
        for conversation_id in candidates:
            done = await self._expire(
                keys=[conv_key(conversation_id), QUEUE, CHANGES, PENDING_SYNC],
                args=[conversation_id, cutoff, _ms(now), CHANGES_MAXLEN, RETENTION_S, EXPIRED_BY],
            )
            conversation = await self.get(conversation_id) if done else None
            if conversation is not None:
                expired.append(conversation)
        return expired

    async def record_customer_message(self, conversation_id: str, text: str, at: float) -> bool:
        return bool(
            await self._customer_message(
                keys=[conv_key(conversation_id)], args=[text[:200], _ms(at)]
            )
        )

    async def set_ticket(self, conversation_id: str, number: str, actor: str) -> bool:
        return bool(
            await self._set_ticket(
                keys=[conv_key(conversation_id), CHANGES],
                args=[conversation_id, number, actor, CHANGES_MAXLEN],
            )
        )

    # ---- reading ----------------------------------------------------------------------

    async def get(self, conversation_id: str) -> Conversation | None:
        raw = await self._r.hgetall(conv_key(conversation_id))
        return Conversation.from_hash(raw) if raw.get("id") else None

    async def _many(self, ids: list[str]) -> list[Conversation]:
        if not ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                pipe.hgetall(conv_key(conversation_id))
            raws = await pipe.execute()
        return [Conversation.from_hash(raw) for raw in raws if raw.get("id")]

    async def queue(self, limit: int = 200) -> list[Conversation]:
        """Waiting conversations in serving order (priority, then waiting time)."""
        return await self._many(await self._r.zrange(QUEUE, 0, limit - 1))

    async def active(self, limit: int = 500) -> list[Conversation]:
        return await self._many(await self._r.zrange(ACTIVE, 0, limit - 1))

    async def queue_length(self) -> int:
        return int(await self._r.zcard(QUEUE))

    async def active_count(self) -> int:
        return int(await self._r.zcard(ACTIVE))

    async def position(self, conversation_id: str) -> int | None:
        """1 for the next to be served; None if not queued."""
        rank = await self._r.zrank(QUEUE, conversation_id)
        return None if rank is None else int(rank) + 1

    async def average_handle_time(self) -> float:
        """Seconds: mean of the recent handle times, or the policy default without any."""
        samples = await self._r.lrange(HANDLE_TIMES, 0, self.policy.handle_time_samples - 1)
        if not samples:
            return self.policy.default_handle_time_s
        return sum(int(s) for s in samples) / len(samples) / 1000

    # ---- internal notes ---------------------------------------------------------------

    async def add_note(
        self, conversation_id: str, author: str, text: str, now: float | None = None
    ) -> dict[str, Any]:
        note = {"at": time.time() if now is None else now, "author": author, "text": text}
        key = notes_key(conversation_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(note, ensure_ascii=False))
            pipe.ltrim(key, -NOTES_MAX, -1)
            pipe.expire(key, NOTE_RETENTION_S)
            pipe.xadd(
                CHANGES,
                {"conversation": conversation_id, "change": "note", "actor": author},
                maxlen=CHANGES_MAXLEN,
                approximate=True,
            )
            await pipe.execute()
        return note

    async def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        return [json.loads(n) for n in await self._r.lrange(notes_key(conversation_id), 0, -1)]
