"""TicketStore: tickets in Redis, the system of record.

Layout (prefix `kefu:tickets`):
- `t:<number>`            hash: the ticket (Ticket.to_redis)
- `t:<number>:history`    stream: append-only history (at, actor, action, data JSON)
- `idx:all`, `idx:status:<s>`, `idx:grade:<g>`, `idx:phone:<e164>`, `idx:owner:<id>`,
  `idx:category:<c>`, `idx:conversation:<id>`
                          sorted sets, member = number, score = seq (global creation order)
- `idem:<key>`            string: the number created for an idempotency key (a re-run turn
                          gets the same ticket back), expires after IDEMPOTENCY_TTL_S
- `sla`                   sorted set, member = `<number>|first_response` or `<number>|resolve`,
                          score = deadline (epoch seconds); removed when the deadline is met
- `seq`, `counter:<YYYYMMDD>`  INCR counters: list order and the human-friendly number
- `escalations`           stream: feed of SLA escalations for the console
- `resolutions`           stream: one entry per move to resolved (number, resolution = how
                          many times that ticket was resolved, at = epoch seconds), written
                          in the same MULTI/EXEC as the move; the return visits read it
                          (bot/surveys). The count is the ticket hash's `resolutions` field.

Every write is one Lua script (create, escalate) or one WATCH/MULTI/EXEC (changes), so a
ticket is never half-written, and with the project's `appendfsync always` Redis replies
only after the AOF is fsynced: when create() returns, the number can be given to the
customer. Single Redis (not Cluster).
"""

from __future__ import annotations

import builtins  # TicketStore.list (a method) shadows list[...] in annotations after it
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from bot.settings import DEFAULT_TIMEZONE
from bot.tickets.errors import ConcurrentUpdate, IllegalTransition, TicketNotFound
from bot.tickets.models import (
    KIND_COMPLAINT,
    RESPONDED_STATUSES,
    HistoryEntry,
    NewTicket,
    Page,
    Status,
    Ticket,
    TicketFilter,
    can_transition,
)
from bot.tickets.sla import FIRST_RESPONSE, RESOLVE, Clock, SlaPolicy, utc_now

log = logging.getLogger(__name__)

PHONE_SCAN_LIMIT = 200  # a customer's most recent tickets considered for repeat/open checks
_MAX_WATCH_RETRIES = 20
RESOLUTIONS_FIELD = "resolutions"  # on the ticket hash: how many times it was resolved

# Atomic escalation: whoever removes the due member from the SLA set escalates; a second
# monitor running the same script finds it gone and does nothing (exactly once).
_ESCALATE_LUA = """
local sla, ticket, history, feed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, now, now_iso, actor = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local number, kind, grade_prefix, feed_maxlen = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local score = redis.call('ZSCORE', sla, member)
if not score or tonumber(score) > now then return false end
redis.call('ZREM', sla, member)
if redis.call('EXISTS', ticket) == 0 then return false end
local met_field = 'resolved_at'
local due_field = 'resolve_due'
if kind == 'first_response' then
  met_field = 'first_response_at'
  due_field = 'first_response_due'
end
if redis.call('HEXISTS', ticket, met_field) == 1 then return false end
local old = redis.call('HGET', ticket, 'grade')
local new = old
for i = 10, #ARGV do
  if ARGV[i] == old then new = ARGV[i - 1] end
end
if new ~= old then
  local seq = redis.call('HGET', ticket, 'seq')
  redis.call('ZREM', grade_prefix .. old, number)
  redis.call('ZADD', grade_prefix .. new, seq, number)
end
local deadline = redis.call('HGET', ticket, due_field)
redis.call('HSET', ticket, 'grade', new, 'updated_at', now_iso)
redis.call('HINCRBY', ticket, 'escalations', 1)
local data = cjson.encode({kind = kind, deadline = deadline, from = old, to = new})
redis.call('XADD', history, '*', 'at', now_iso, 'actor', actor, 'action', 'escalated',
  'data', data)
redis.call('XADD', feed, 'MAXLEN', '~', feed_maxlen, '*', 'number', number, 'kind', kind,
  'from', old, 'to', new, 'at', now_iso)
return {old, new, deadline}
"""


# Atomic creation. Keys that depend on the allocated number are built in the script from
# the prefix, which is fine on a single Redis (not Cluster).
_CREATE_LUA = """
local daily, seq_key, sla, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, day, ttl = ARGV[1], ARGV[2], ARGV[3]
local fields = cjson.decode(ARGV[4])
local indexes = cjson.decode(ARGV[5])
local deadlines = cjson.decode(ARGV[6])
local history = cjson.decode(ARGV[7])
local idem_ttl = ARGV[8]
-- The same request again (a crashed turn re-run): the ticket it already created.
if idem then
  local existing = redis.call('GET', idem)
  if existing then
    local seq = redis.call('HGET', prefix .. ':t:' .. existing, 'seq')
    if seq then return {existing, seq, 1} end
  end
end
local number, key
-- Never reuse a number, even if the day's counter was lost: skip numbers already taken.
for _ = 1, 100000 do
  local candidate = string.format('TK%s-%04d', day, redis.call('INCR', daily))
  if redis.call('EXISTS', prefix .. ':t:' .. candidate) == 0 then
    number = candidate
    key = prefix .. ':t:' .. candidate
    break
  end
end
if not number then return redis.error_reply('no free ticket number for ' .. day) end
redis.call('EXPIRE', daily, ttl)
local seq = redis.call('INCR', seq_key)
local flat = {'number', number, 'seq', seq}
for name, value in pairs(fields) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
redis.call('HSET', key, unpack(flat))
-- The owner/phone/... index keys were computed before the number existed.
for _, index in ipairs(indexes) do
  redis.call('ZADD', index, seq, number)
end
for kind, due in pairs(deadlines) do
  redis.call('ZADD', sla, due, number .. '|' .. kind)
end
for _, e in ipairs(history) do
  redis.call('XADD', key .. ':history', '*', 'at', e.at, 'actor', e.actor,
    'action', e.action, 'data', e.data)
end
if idem then redis.call('SET', idem, number, 'EX', idem_ttl) end
return {number, seq, 0}
"""
_COUNTER_TTL_S = 3 * 24 * 3600  # a day's counter is only needed on that day
# A repeated request comes minutes after the first (a crash and its recovery); a week
# also covers a conversation resumed from the widget's storage.
IDEMPOTENCY_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Escalation:
    number: str
    kind: str  # first_response | resolve
    deadline: datetime
    from_grade: str
    to_grade: str


class Keys:
    def __init__(self, prefix: str = "kefu:tickets") -> None:
        self.prefix = prefix
        self.all = f"{prefix}:idx:all"
        self.sla = f"{prefix}:sla"
        self.seq = f"{prefix}:seq"
        self.escalations = f"{prefix}:escalations"
        self.resolutions = f"{prefix}:resolutions"
        self.grade_prefix = f"{prefix}:idx:grade:"

    def ticket(self, number: str) -> str:
        return f"{self.prefix}:t:{number}"

    def history(self, number: str) -> str:
        return f"{self.prefix}:t:{number}:history"

    def daily(self, day: str) -> str:
        return f"{self.prefix}:counter:{day}"

    def index(self, name: str, value: str) -> str:
        return f"{self.prefix}:idx:{name}:{value}"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    def indexes_of(self, ticket: Ticket) -> set[str]:
        keys = {
            self.all,
            self.index("status", ticket.status.value),
            self.index("grade", ticket.grade),
            self.index("phone", ticket.phone),
            self.index("category", ticket.category),
        }
        if ticket.owner:
            keys.add(self.index("owner", ticket.owner))
        if ticket.conversation_id:
            keys.add(self.index("conversation", ticket.conversation_id))
        return keys


def sla_member(number: str, kind: str) -> str:
    return f"{number}|{kind}"


@dataclass
class _Change:
    """What a mutation does, computed from the current ticket (under WATCH)."""

    ticket: Ticket
    history: list[tuple[str, dict[str, Any]]]
    sla_add: dict[str, float]
    sla_remove: list[str]
    resolved: bool = False  # a move to resolved: record a resolution in the same transaction


class TicketStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        sla: SlaPolicy,
        *,
        grades: tuple[str, ...] = ("P1", "P2", "P3", "P4"),
        tz: ZoneInfo | None = None,
        clock: Clock = utc_now,
        keys: Keys | None = None,
    ) -> None:
        self._r = redis
        self._sla = sla
        self._grades = grades  # most severe first: escalation raises one step left
        self._tz = tz or ZoneInfo(DEFAULT_TIMEZONE)
        self._clock = clock
        self.keys = keys or Keys()
        self._create = redis.register_script(_CREATE_LUA)
        self._escalate = redis.register_script(_ESCALATE_LUA)

    # ---------------------------------------------------------------- durability
    async def check_durability(self) -> list[str]:
        """Warnings if Redis could lose a ticket whose number the customer was told."""
        try:
            conf = await self._r.config_get("append*")
        except RedisError as exc:
            return [f"cannot read Redis AOF settings ({exc}); need appendonly yes, fsync always"]
        warnings = []
        if conf.get("appendonly") != "yes":
            warnings.append("Redis appendonly is not 'yes': tickets are lost on restart")
        elif conf.get("appendfsync") != "always":
            warnings.append(
                f"Redis appendfsync is {conf.get('appendfsync')!r}, not 'always': a power cut "
                "can lose tickets whose numbers customers were already given"
            )
        return warnings

    # ---------------------------------------------------------------- create
    async def create(self, new: NewTicket, *, idempotency_key: str | None = None) -> Ticket:
        """Write a new ticket in ONE atomic script (one round trip, one fsync).

        The script allocates the number (daily counter) and the list order (global seq)
        and writes the hash, indexes, SLA deadlines and first history entries together.
        With `idempotency_key`, a second call with the same key (e.g. a bot turn re-run
        after a crash) writes nothing and returns the ticket the first call created.
        """
        day = new.created_at.astimezone(self._tz).strftime("%Y%m%d")
        first_due, resolve_due = self._sla.deadlines(new.grade, new.created_at)
        draft = Ticket(
            number="",  # allocated by the script
            seq=0,
            kind=new.kind,
            category=new.category,
            description=new.description,
            location=new.location,
            account_id=new.account_id,
            channel=new.channel,
            phone=new.phone,
            language=new.language,
            grade=new.grade,
            grade_reasons=new.grade_reasons,
            owner=new.owner,
            status=Status.ASSIGNED if new.owner else Status.NEW,
            created_at=new.created_at,
            updated_at=new.created_at,
            first_response_due=first_due,
            resolve_due=resolve_due,
            conversation_id=new.conversation_id,
            phone_verified=new.phone_verified,
        )
        fields = {k: v for k, v in draft.to_redis().items() if k not in ("number", "seq")}
        at = new.created_at.isoformat()
        created = {
            "status": Status.NEW.value,
            "grade": draft.grade,
            "reasons": [r.rule for r in draft.grade_reasons],
            "channel": draft.channel,
            "phone_verified": draft.phone_verified,
        }
        history = [_entry(at, new.actor, "created", created)]
        if draft.owner:
            assigned = {"owner": draft.owner, "reason": new.assign_reason, "to": "assigned"}
            history.append(_entry(at, "system", "assigned", assigned))
        deadlines = {
            FIRST_RESPONSE: repr(first_due.timestamp()),
            RESOLVE: repr(resolve_due.timestamp()),
        }
        keys = [self.keys.daily(day), self.keys.seq, self.keys.sla]
        if idempotency_key is not None:
            keys.append(self.keys.idempotency(idempotency_key))
        number, seq, repeated = await self._create(
            keys=keys,
            args=[
                self.keys.prefix,
                day,
                _COUNTER_TTL_S,
                json.dumps(fields, ensure_ascii=False),
                json.dumps(sorted(self.keys.indexes_of(draft))),
                json.dumps(deadlines),
                json.dumps(history, ensure_ascii=False),
                IDEMPOTENCY_TTL_S,
            ],
        )
        if int(repeated):
            log.warning("ticket %s requested again (same idempotency key): not re-created", number)
            return await self.require(number)
        ticket = draft.with_changes(number=number, seq=int(seq))
        log.info(
            "ticket %s created: %s %s owner=%s phone=%s",
            ticket.number,
            ticket.grade,
            ticket.category,
            ticket.owner or "-",
            ticket.phone,
        )
        return ticket

    # ---------------------------------------------------------------- read
    async def get(self, number: str) -> Ticket | None:
        raw = await self._r.hgetall(self.keys.ticket(number))
        return Ticket.from_redis(raw) if raw else None

    async def require(self, number: str) -> Ticket:
        ticket = await self.get(number)
        if ticket is None:
            raise TicketNotFound(f"no ticket {number}")
        return ticket

    async def history(self, number: str) -> list[HistoryEntry]:
        rows = await self._r.xrange(self.keys.history(number))
        return [_history_entry(entry_id, fields) for entry_id, fields in rows]

    async def _get_many(self, numbers: Iterable[str]) -> list[Ticket]:
        numbers = list(numbers)
        if not numbers:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hgetall(self.keys.ticket(number))
            raws = await pipe.execute()
        return [Ticket.from_redis(raw) for raw in raws if raw]

    async def list(
        self, flt: TicketFilter | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page:
        """Newest first. `cursor` is the opaque next_cursor of the previous page."""
        flt = flt or TicketFilter()
        if limit < 1:
            raise ValueError("limit must be positive")
        index = await self._narrowest_index(flt)
        upper = f"({int(cursor)}" if cursor else "+inf"
        batch = max(2 * limit, 50)
        found: list[Ticket] = []
        while len(found) <= limit:
            rows = await self._r.zrevrangebyscore(
                index, upper, "-inf", start=0, num=batch, withscores=True
            )
            if not rows:
                break
            # Filter on the hashes themselves: exact even for combined filters.
            for ticket in await self._get_many(number for number, _ in rows):
                if flt.matches(ticket):
                    found.append(ticket)
                    if len(found) > limit:
                        break
            upper = f"({int(rows[-1][1])}"
            if len(rows) < batch:
                break
        items = found[:limit]
        more = len(found) > limit
        return Page(items=items, next_cursor=str(items[-1].seq) if more else None)

    async def _narrowest_index(self, flt: TicketFilter) -> str:
        candidates = [
            self.keys.index(name, value)
            for name, value in (
                ("status", flt.status.value if flt.status else None),
                ("grade", flt.grade),
                ("phone", flt.phone),
                ("owner", flt.owner),
                ("category", flt.category),
            )
            if value is not None
        ]
        if not candidates:
            return self.keys.all
        async with self._r.pipeline(transaction=False) as pipe:
            for key in candidates:
                pipe.zcard(key)
            sizes = await pipe.execute()
        return min(zip(sizes, candidates, strict=True))[1]

    async def _recent_for_phone(self, phone: str) -> builtins.list[Ticket]:
        numbers = await self._r.zrevrange(self.keys.index("phone", phone), 0, PHONE_SCAN_LIMIT - 1)
        return await self._get_many(numbers)

    async def open_tickets_for_phone(
        self, phone: str, *, conversation_id: str | None = None
    ) -> builtins.list[Ticket]:
        """The phone's open tickets that may be disclosed to it, newest first: verified
        ones, and unverified ones filed by `conversation_id` (Ticket.disclosable_to)."""
        return [
            t
            for t in await self._recent_for_phone(phone)
            if t.is_open and t.disclosable_to(phone, conversation_id)
        ]

    async def count_recent_complaints(
        self, phone: str, days: int = 30, now: datetime | None = None
    ) -> int:
        """Complaints filed with this phone verified: an unverified one could be anyone's
        typing, and must not raise the real owner's repeat grade."""
        since = (now or self._clock()) - timedelta(days=days)
        return sum(
            1
            for t in await self._recent_for_phone(phone)
            if t.kind == KIND_COMPLAINT and t.phone_verified and t.created_at >= since
        )

    async def tickets_of_conversation(self, conversation_id: str) -> builtins.list[Ticket]:
        """The tickets a conversation filed, newest first."""
        numbers = await self._r.zrevrange(
            self.keys.index("conversation", conversation_id), 0, PHONE_SCAN_LIMIT - 1
        )
        return await self._get_many(numbers)

    # ---------------------------------------------------------------- change
    async def transition(
        self, number: str, target: Status, *, actor: str, note: str | None = None
    ) -> Ticket:
        def build(ticket: Ticket, now: datetime) -> _Change:
            if not can_transition(ticket.status, target):
                raise IllegalTransition(
                    f"cannot change status from {ticket.status.value} to {target.value}"
                )
            if target == Status.ASSIGNED and not ticket.owner:
                raise IllegalTransition("the ticket has no owner; assign one first", "owner")
            changes: dict[str, Any] = {"status": target, "updated_at": now}
            sla_add: dict[str, float] = {}
            sla_remove: list[str] = []
            if target in RESPONDED_STATUSES and ticket.first_response_at is None:
                changes["first_response_at"] = now
                sla_remove.append(sla_member(number, FIRST_RESPONSE))
            if target == Status.RESOLVED:
                changes["resolved_at"] = now
                sla_remove.append(sla_member(number, RESOLVE))
            elif target == Status.CLOSED:
                changes["closed_at"] = now
            elif target == Status.REOPENED:
                # A reopened case gets a fresh resolve clock for its current grade.
                resolve_due = now + self._sla.terms(ticket.grade).resolve
                changes.update(
                    resolved_at=None,
                    closed_at=None,
                    resolve_due=resolve_due,
                    reopen_count=ticket.reopen_count + 1,
                )
                sla_add[sla_member(number, RESOLVE)] = resolve_due.timestamp()
            data: dict[str, Any] = {"from": ticket.status.value, "to": target.value}
            if note:
                data["note"] = note
            return _Change(
                ticket.with_changes(**changes),
                [("status", data)],
                sla_add,
                sla_remove,
                resolved=target == Status.RESOLVED,
            )

        ticket, _ = await self._mutate(number, actor, build)
        return ticket

    async def reassign(
        self, number: str, owner: str, *, actor: str, note: str | None = None
    ) -> Ticket:
        def build(ticket: Ticket, now: datetime) -> _Change:
            if ticket.status == Status.CLOSED:
                raise IllegalTransition("a closed ticket cannot be reassigned; reopen it first")
            if ticket.owner == owner:
                return _Change(ticket, [], {}, [])  # idempotent: nothing to record
            status = Status.ASSIGNED if ticket.status == Status.NEW else ticket.status
            data: dict[str, Any] = {"from": ticket.owner, "owner": owner}
            if status != ticket.status:
                data["to"] = status.value
            if note:
                data["note"] = note
            changed = ticket.with_changes(owner=owner, status=status, updated_at=now)
            return _Change(changed, [("assigned", data)], {}, [])

        ticket, _ = await self._mutate(number, actor, build)
        return ticket

    async def add_note(self, number: str, text: str, *, actor: str) -> HistoryEntry:
        def build(ticket: Ticket, now: datetime) -> _Change:
            return _Change(ticket.with_changes(updated_at=now), [("note", {"text": text})], {}, [])

        _, entries = await self._mutate(number, actor, build)
        return entries[0]

    async def rate(
        self, number: str, rating: int, comment: str | None = None, *, actor: str
    ) -> Ticket:
        if not 1 <= rating <= 5:
            raise ValueError("rating must be 1..5")

        def build(ticket: Ticket, now: datetime) -> _Change:
            if ticket.status not in (Status.RESOLVED, Status.CLOSED):
                raise IllegalTransition("only a resolved or closed ticket can be rated")
            changed = ticket.with_changes(rating=rating, rating_comment=comment, updated_at=now)
            data: dict[str, Any] = {"rating": rating}
            if comment:
                data["comment"] = comment
            return _Change(changed, [("rated", data)], {}, [])

        ticket, _ = await self._mutate(number, actor, build)
        return ticket

    async def mark_phone_verified(
        self, conversation_id: str, phone: str, *, actor: str = "system"
    ) -> builtins.list[Ticket]:
        """The conversation proved it owns `phone`: its unverified tickets with that phone
        become verified (listed to the phone, counted for its repeat grade). Returns them."""

        def build(ticket: Ticket, now: datetime) -> _Change:
            if ticket.phone_verified or ticket.phone != phone:
                return _Change(ticket, [], {}, [])  # raced: already done, nothing to record
            changed = ticket.with_changes(phone_verified=True, updated_at=now)
            return _Change(changed, [("phone_verified", {"channel": ticket.channel})], {}, [])

        flipped = []
        for candidate in await self.tickets_of_conversation(conversation_id):
            if candidate.phone == phone and not candidate.phone_verified:
                ticket, entries = await self._mutate(candidate.number, actor, build)
                if entries:
                    flipped.append(ticket)
        return flipped

    async def _mutate(
        self, number: str, actor: str, build: Callable[[Ticket, datetime], _Change]
    ) -> tuple[Ticket, builtins.list[HistoryEntry]]:
        """Optimistic transaction: WATCH the ticket, decide, MULTI/EXEC; retry on conflict."""
        key = self.keys.ticket(number)
        for _ in range(_MAX_WATCH_RETRIES):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)
                    if not raw:
                        raise TicketNotFound(f"no ticket {number}")
                    old = Ticket.from_redis(raw)
                    now = self._clock()
                    change = build(old, now)
                    if not change.history:
                        await pipe.unwatch()
                        return old, []
                    new = change.ticket
                    pipe.multi()
                    new_fields = new.to_redis()
                    gone = [f for f in old.to_redis() if f not in new_fields]
                    if gone:
                        pipe.hdel(key, *gone)
                    pipe.hset(key, mapping=new_fields)
                    old_idx, new_idx = self.keys.indexes_of(old), self.keys.indexes_of(new)
                    for index in old_idx - new_idx:
                        pipe.zrem(index, number)
                    for index in new_idx - old_idx:
                        pipe.zadd(index, {number: new.seq})
                    if change.sla_remove:
                        pipe.zrem(self.keys.sla, *change.sla_remove)
                    if change.sla_add:
                        pipe.zadd(self.keys.sla, change.sla_add)
                    if change.resolved:
                        # Counted under WATCH, so two concurrent moves cannot share a number;
                        # not a Ticket field, so the hash rewrite above leaves it alone.
                        resolution = int(raw.get(RESOLUTIONS_FIELD) or 0) + 1
                        pipe.hset(key, RESOLUTIONS_FIELD, resolution)
                        pipe.xadd(
                            self.keys.resolutions,
                            {
                                "number": number,
                                "resolution": str(resolution),
                                "at": repr(now.timestamp()),
                            },
                        )
                    entries = [_entry(now.isoformat(), actor, a, d) for a, d in change.history]
                    for fields in entries:
                        pipe.xadd(self.keys.history(number), fields)
                    results = await pipe.execute()
                    ids = results[-len(entries) :]
                    return new, [_history_entry(i, f) for i, f in zip(ids, entries, strict=True)]
                except WatchError:
                    continue
        raise ConcurrentUpdate(f"ticket {number} is being changed by others; retry")

    # ---------------------------------------------------------------- SLA
    async def due_deadlines(self, now: datetime, limit: int) -> builtins.list[str]:
        numbers: builtins.list[str] = await self._r.zrangebyscore(
            self.keys.sla, "-inf", now.timestamp(), start=0, num=limit
        )
        return numbers

    async def escalate(
        self, member: str, now: datetime, actor: str = "sla-monitor"
    ) -> Escalation | None:
        number, _, kind = member.rpartition("|")
        result = await self._escalate(
            keys=[
                self.keys.sla,
                self.keys.ticket(number),
                self.keys.history(number),
                self.keys.escalations,
            ],
            args=[
                member,
                now.timestamp(),
                now.isoformat(),
                actor,
                number,
                kind,
                self.keys.grade_prefix,
                10000,
                *self._grades,
            ],
        )
        if not result:
            return None
        old, new, deadline = result
        return Escalation(number, kind, datetime.fromisoformat(deadline), old, new)


def _entry(at: str, actor: str, action: str, data: dict[str, Any]) -> dict[str, str]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "data": json.dumps(data, ensure_ascii=False),
    }


def _history_entry(entry_id: str, fields: dict[str, str]) -> HistoryEntry:
    return HistoryEntry(
        id=entry_id,
        at=datetime.fromisoformat(fields["at"]),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        data=json.loads(fields.get("data") or "{}"),
    )
