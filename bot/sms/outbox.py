"""The one durable SMS outbox (Redis): every outbound SMS of the product goes through enqueue().

Layout (all keys under kefu:outbox:):
- msg:{id}      hash, the message and its delivery record (status, segments, encoding,
                attempts, error, Twilio SID, timestamps);
- idem:{key}    idempotency key -> id, so enqueueing twice creates one message;
- stream        Redis Stream of ids ready to send, consumer group "senders": several desk
                processes share the work, and a crashed worker's entries are reclaimed;
- delayed       sorted set id -> due time (quiet hours, retry backoff);
- recent        sorted set id -> created time, for the console;
- history:{id}  list of JSON status events (attempts, Twilio callbacks);
- parts:{key}   the ids of a message split in parts, by the caller's idempotency key.

Records expire after SMS_OUTBOX_RETENTION_S (default 90 days; bot.sms.settings.Retention).

A message's outcome, for the console: `status` (pending, deferred, sending, sent, delivered,
undelivered, failed, skipped, expired: its `valid_until` passed before it could be sent),
`reason` (a stable code; "opted_out" when the sender skipped it because the customer had
opted out), `error` (the same in words), `error_code` (Twilio's).
find(idempotency_key) gives a caller (e.g. an agent's composed reply) its message(s).

Every state change is one Lua script or MULTI, so a crash leaves each message either
queued, deferred, or finished, never lost. Redis runs with AOF (appendfsync always).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import redis.asyncio as aioredis

from bot import streams
from bot.ops.metrics import OUTBOX_FINISHED
from bot.phones import InvalidPhone, to_e164
from bot.sms import segments, sink
from bot.sms.settings import Retention

PREFIX = "kefu:outbox:"
STREAM = PREFIX + "stream"
GROUP = "senders"
DELAYED = PREFIX + "delayed"
RECENT = PREFIX + "recent"
RECENT_MAX = 50_000

KINDS = ("reply", "agent", "notice", "survey", "reminder", "otp")
# Live conversation: the customer is waiting, so quiet hours do not apply. "otp": a
# one-time code the customer is waiting for on the web (bot/identity/otp.py).
QUIET_HOURS_EXEMPT = frozenset({"reply", "agent", "otp"})
# Answers to the customer: they may reach an opted-out number, but only while they answer
# a message the customer sent (`answers_at`, see may_reach_opted_out).
OPT_OUT_EXEMPT = frozenset({"reply", "agent"})
# ...and a one-time code, but only one enqueued with customer_requested=True (the customer
# asked for it in this conversation).
OPT_OUT_EXEMPT_IF_REQUESTED = frozenset({"otp"})

# Our lifecycle. Twilio's own status is kept apart in twilio_status.
STATUS_RANK = {
    "pending": 0,
    "deferred": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "skipped": 3,
    "expired": 3,
}
# Statuses a message never leaves.
FINAL = frozenset({"delivered", "undelivered", "failed", "skipped", "expired"})
TWILIO_STATUSES = (
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "receiving",
    "received",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "canceled",
)


def msg_key(message_id: str) -> str:
    return f"{PREFIX}msg:{message_id}"


def idem_key(key: str) -> str:
    return f"{PREFIX}idem:{key}"


def sid_key(twilio_sid: str) -> str:
    return f"{PREFIX}sid:{twilio_sid}"


def history_key(message_id: str) -> str:
    return f"{PREFIX}history:{message_id}"


def parts_key(key: str) -> str:
    return f"{PREFIX}parts:{key}"


class OutboxError(ValueError):
    """enqueue() was given something that cannot be sent; `field` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class OutboxMessage:
    id: str
    to: str
    body: str
    kind: str
    urgent: bool
    status: str
    attempts: int = 0
    segments: int = 1
    encoding: str = "GSM-7"
    verify: bool = False  # the last attempt may have reached Twilio: check before resending
    attempt_started: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> OutboxMessage:
        return cls(
            id=data["id"],
            to=data["to"],
            body=data["body"],
            kind=data["kind"],
            urgent=data.get("urgent") == "1",
            status=data["status"],
            attempts=int(data.get("attempts") or 0),
            segments=int(data.get("segments") or 1),
            encoding=data.get("encoding") or "GSM-7",
            verify=data.get("verify") == "1",
            attempt_started=float(data.get("attempt_started") or 0),
            fields=data,
        )

    @property
    def opt_out_exempt(self) -> bool:
        """May be sent to a number that opted out, given the timing (may_reach_opted_out)."""
        return self.kind in OPT_OUT_EXEMPT or (
            self.kind in OPT_OUT_EXEMPT_IF_REQUESTED
            and self.fields.get("customer_requested") == "1"
        )


# `reason` of a message the sender skipped because the recipient opted out.
SKIPPED_OPTED_OUT = "opted_out"


def may_reach_opted_out(
    message: OutboxMessage, opted_out_at: float, now: float, window_s: float
) -> bool:
    """Whether a message may go to a number that opted out at `opted_out_at`.

    A code the customer asked for may. An answer (OPT_OUT_EXEMPT, with `answers_at`) may
    only while it answers a message sent after the opt-out (the customer wrote to us
    again), or goes out within `window_s` of the message it answers (the STOP confirmation
    itself, or the answer to a question sent just before STOP). So an agent who answers,
    hours later, a customer who has since opted out is skipped. Nothing else may.
    """
    if not message.opt_out_exempt:
        return False
    if message.kind in OPT_OUT_EXEMPT_IF_REQUESTED:
        return True
    try:
        answers_at = float(message.fields.get("answers_at") or 0)
    except ValueError:
        return False
    if answers_at <= 0:
        return False
    return answers_at > opted_out_at or now - answers_at <= window_s


def _event(**values: object) -> str:
    return json.dumps({"at": time.time(), **values}, ensure_ascii=False)


_ENQUEUE = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
local id, now, due, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('SET', KEYS[1], id, 'EX', ttl)
-- The record travels as one JSON object: packing ~40 arguments per message was the
-- larger cost of a 10,000-message broadcast.
local record = cjson.decode(ARGV[7])
local flat = {}
for k, v in pairs(record) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[2], unpack(flat))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[4], now, id)
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[5]) + 1))
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ttl))
if due > now then
  redis.call('ZADD', KEYS[5], due, id)
else
  redis.call('XADD', KEYS[3], '*', 'id', id)
end
redis.call('RPUSH', KEYS[6], ARGV[6])
redis.call('EXPIRE', KEYS[6], ttl)
return id
"""

# Replaces the body of a message nobody has started sending (pending or deferred) and maps
# another idempotency key to it; false if it is already being sent or done. Atomic against
# _CLAIM, so the sender sends either the old body or the new one, never both.
_REPLACE = """
local existing = redis.call('GET', KEYS[2])
if existing then return {existing, 0} end
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'pending' and st ~= 'deferred' then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
return {ARGV[1], 1}
"""

_CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
if st == 'pending' or st == 'deferred' then
  redis.call('HSET', KEYS[1], 'status', 'sending', 'updated_at', ARGV[1])
  return {'claimed', unpack(redis.call('HGETALL', KEYS[1]))}
elseif st == 'sending' then
  return {'resume', unpack(redis.call('HGETALL', KEYS[1]))}
end
return {'done'}
"""

_RELEASE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""

_RECORD_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local rank = {accepted=1, scheduled=1, queued=2, sending=3, sent=4, receiving=4, received=4,
              delivered=6, read=7, undelivered=5, failed=5, canceled=5}
local ours = {delivered='delivered', read='delivered', undelivered='undelivered',
              failed='failed', canceled='failed'}
local our_rank = {pending=0, deferred=0, sending=1, sent=2, delivered=3, undelivered=3,
                  failed=3, skipped=3, expired=3}
local now, st, code, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local known = redis.call('HGET', KEYS[1], 'twilio_sid')
if known and known ~= '' and sid ~= '' and known ~= sid then return -2 end
if (not known or known == '') and sid ~= '' then redis.call('HSET', KEYS[1], 'twilio_sid', sid) end
local cur = redis.call('HGET', KEYS[1], 'twilio_status') or ''
if (rank[st] or 0) >= (rank[cur] or 0) then
  redis.call('HSET', KEYS[1], 'twilio_status', st)
  if code ~= '' then redis.call('HSET', KEYS[1], 'twilio_error_code', code) end
end
local mapped = ours[st] or 'sent'
local mine = redis.call('HGET', KEYS[1], 'status')
if (our_rank[mapped] or 0) > (our_rank[mine] or 0) then
  redis.call('HSET', KEYS[1], 'status', mapped)
end
redis.call('HSET', KEYS[1], 'status_' .. st .. '_at', now, 'updated_at', now)
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""


def _new_id() -> str:
    # Sortable by creation time, unique across processes.
    return f"OB{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


@dataclass(frozen=True)
class Outgoing:
    """One SMS for enqueue_many(); the fields mean what enqueue()'s arguments mean."""

    to: str
    body: str
    kind: str = "reply"
    urgent: bool = False
    idempotency_key: str | None = None
    conversation_id: str | None = None
    not_before: float | None = None
    customer_requested: bool = False
    answers_at: float | None = None
    valid_until: float | None = None
    guard: str | None = None


@dataclass(frozen=True)
class Enqueued:
    """What enqueue_many() did with one Outgoing: its ids, and whether it was new (False:
    its idempotency key was already taken, nothing was added)."""

    ids: list[str]
    new: bool


@dataclass(frozen=True)
class _Part:
    key: str
    message_id: str
    keys: list[str]
    args: list[str | int]


@lru_cache(maxsize=256)
def _split(body: str) -> tuple[tuple[str, segments.SegmentInfo], ...]:
    # A broadcast sends a handful of distinct bodies to thousands: count each once.
    return tuple((text, segments.count(text)) for text in segments.split_message(body))


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _prepare(
    item: Outgoing, now: float, ttl: int, normalized: bool, events: dict[str, str]
) -> tuple[str, list[_Part]]:
    """Validates one message and builds the _ENQUEUE calls for its parts."""
    if item.kind not in KINDS:
        raise OutboxError("kind", f"kind must be one of {', '.join(KINDS)}")
    if normalized and _E164.fullmatch(item.to):
        phone = item.to
    else:
        try:
            phone = to_e164(item.to)
        except InvalidPhone as exc:
            raise OutboxError("to", "to is not a valid phone number") from exc
    texts = _split(item.body or "")
    if not texts:
        raise OutboxError("body", "body is empty")
    if item.guard is not None and ":" not in item.guard:
        raise OutboxError("guard", "guard must look like name:argument")
    key = item.idempotency_key or secrets.token_hex(16)
    parts: list[_Part] = []
    for index, (text, info) in enumerate(texts, start=1):
        part_key = key if len(texts) == 1 else f"{key}#{index}/{len(texts)}"
        message_id = _new_id()
        record = {
            "id": message_id,
            "to": phone,
            "body": text,
            "kind": item.kind,
            "urgent": "1" if item.urgent else "0",
            "idempotency_key": part_key,
            "conversation_id": item.conversation_id or "",
            "part": str(index),
            "parts": str(len(texts)),
            "status": "pending",
            "segments": str(info.segments),
            "encoding": info.encoding,
            "attempts": "0",
            "created_at": repr(now),
            "updated_at": repr(now),
            "not_before": repr(item.not_before or 0),
            "customer_requested": "1" if item.customer_requested else "0",
            "answers_at": repr(item.answers_at) if item.answers_at else "",
            "valid_until": repr(item.valid_until) if item.valid_until else "",
            "guard": item.guard or "",
        }
        if item.kind not in events:
            events[item.kind] = _event(event="enqueued", kind=item.kind)
        event = events[item.kind]
        parts.append(
            _Part(
                part_key,
                message_id,
                [
                    idem_key(part_key),
                    msg_key(message_id),
                    STREAM,
                    RECENT,
                    DELAYED,
                    history_key(message_id),
                ],
                [
                    message_id,
                    repr(now),
                    repr(item.not_before or 0),
                    ttl,
                    RECENT_MAX,
                    event,
                    json.dumps(record, ensure_ascii=False),
                ],
            )
        )
    return key, parts


async def enqueue(
    redis: aioredis.Redis,
    to: str,
    body: str,
    *,
    kind: str = "reply",
    urgent: bool = False,
    idempotency_key: str | None = None,
    conversation_id: str | None = None,
    not_before: float | None = None,
    customer_requested: bool = False,
    answers_at: float | None = None,
    valid_until: float | None = None,
    guard: str | None = None,
) -> list[str]:
    """Queues an SMS; returns the outbox ids (one per part: bodies over 1,600 characters
    are split at sentence boundaries).

    `idempotency_key`: enqueueing again with the same key returns the same ids and sends
    nothing new; pass one whenever a retry of the caller could enqueue twice (an agent
    reply: one key per composed message, not per HTTP attempt). find() looks it up.
    `answers_at`: when the customer's message this one answers arrived (kinds in
    OPT_OUT_EXEMPT); without it an opted-out number never gets the message.
    `customer_requested`: the customer asked for this message in this conversation (an
    OTP), so it may reach an opted-out number.
    `valid_until` (Unix time): not worth sending after it: the sender finishes it as
    "expired" instead, and tells Twilio the remaining time (ValidityPeriod).
    `guard` ("name:argument"): a pre-send check the sender resolves just before sending
    (bot.sms.sender.register_guard), e.g. "bill:{account}:{period}" skips a reminder for a
    bill paid in the meantime.
    """
    item = Outgoing(
        to,
        body,
        kind=kind,
        urgent=urgent,
        idempotency_key=idempotency_key,
        conversation_id=conversation_id,
        not_before=not_before,
        customer_requested=customer_requested,
        answers_at=answers_at,
        valid_until=valid_until,
        guard=guard,
    )
    [done] = await enqueue_many(redis, [item])
    return done.ids


async def enqueue_many(
    redis: aioredis.Redis,
    items: Sequence[Outgoing],
    *,
    batch: int = 1000,
    normalized: bool = False,
) -> list[Enqueued]:
    """enqueue() for many messages at once (broadcasts): the same script per message, with
    the same idempotency semantics, sent `batch` at a time in one MULTI/EXEC (one AOF
    fsync per batch; each message is atomic on its own anyway). Returns, per item, its ids and
    whether it is new. `normalized`: the numbers come from a store that keeps them as
    bot.phones.to_e164 made them (subscriptions, accounts), so an E.164-shaped `to` is not
    parsed again (parsing is most of the cost of a 10,000-message broadcast).
    Everything is validated before anything is queued."""
    now = time.time()
    ttl = Retention.from_env().outbox_s
    events: dict[str, str] = {}  # the "enqueued" history event, one per kind and call
    prepared = [_prepare(item, now, ttl, normalized, events) for item in items]
    calls = [part for _key, parts in prepared for part in parts]
    script = redis.register_script(_ENQUEUE)
    got: list[str] = []
    for start in range(0, len(calls), batch):
        # MULTI: with appendfsync always, Redis fsyncs once per event-loop turn, and a plain
        # pipeline of 1,000 scripts arrives over dozens of turns; a transaction is applied
        # (and fsynced) once. Each message stays atomic either way.
        async with redis.pipeline(transaction=True) as pipe:
            for part in calls[start : start + batch]:
                await script(keys=part.keys, args=part.args, client=pipe)
            got.extend(await pipe.execute())
    out: list[Enqueued] = []
    position = 0
    multi: dict[str, list[str]] = {}
    for key, parts in prepared:
        ids = got[position : position + len(parts)]
        position += len(parts)
        out.append(Enqueued(ids, ids[0] == parts[0].message_id))
        if len(ids) > 1:
            multi[key] = ids
    if multi:
        async with redis.pipeline(transaction=False) as pipe:
            for key, ids in multi.items():
                pipe.set(parts_key(key), json.dumps(ids), ex=ttl)
            await pipe.execute()
    return out


async def replace_pending(
    redis: aioredis.Redis,
    message_id: str,
    body: str,
    *,
    idempotency_key: str,
    valid_until: float | None = None,
) -> str | None:
    """Replaces the body of a queued, unsent message (pending or deferred: no sender has
    claimed it) and maps `idempotency_key` to it, atomically; returns its id. None when it
    is already being sent or finished (then enqueue a new one). If `idempotency_key` is
    already taken, returns that message's id and changes nothing (a re-run)."""
    [got] = await replace_pending_many(redis, [(message_id, body, idempotency_key, valid_until)])
    return got[0] if got else None


async def replace_pending_many(
    redis: aioredis.Redis,
    replacements: Sequence[tuple[str, str, str, float | None]],
    *,
    batch: int = 1000,
) -> list[tuple[str, bool] | None]:
    """replace_pending() for many (message_id, body, idempotency_key, valid_until),
    pipelined. Per item: None (not replaceable), or (id, True) when this call replaced the
    body, (id, False) when the key already had a message (a re-run)."""
    ttl = Retention.from_env().outbox_s
    script = redis.register_script(_REPLACE)
    results: list[tuple[str, bool] | None] = []
    for start in range(0, len(replacements), batch):
        async with redis.pipeline(transaction=True) as pipe:  # one fsync (enqueue_many)
            for message_id, body, key, valid_until in replacements[start : start + batch]:
                if len(segments.split_message(body)) != 1:
                    raise OutboxError("body", "a replacement must fit in one message")
                info = segments.count(body)
                now = repr(time.time())
                fields = {
                    "body": body,
                    "segments": str(info.segments),
                    "encoding": info.encoding,
                    "valid_until": repr(valid_until) if valid_until else "",
                    "replaced_key": key,
                    "updated_at": now,
                }
                await script(
                    keys=[msg_key(message_id), idem_key(key), history_key(message_id)],
                    args=[
                        message_id,
                        ttl,
                        _event(event="replaced", idempotency_key=key),
                        *[x for pair in fields.items() for x in pair],
                    ],
                    client=pipe,
                )
            for reply in await pipe.execute():
                results.append((str(reply[0]), bool(int(reply[1]))) if reply else None)
    return results


async def find(redis: aioredis.Redis, idempotency_key: str) -> list[dict[str, str]]:
    """The message(s) enqueued under a caller's idempotency key (all parts, in order);
    [] if none, or if they have expired."""
    raw = await redis.get(parts_key(idempotency_key))
    if raw:
        ids = json.loads(raw)
    else:
        single = await redis.get(idem_key(idempotency_key))
        ids = [single] if single else []
    records = [await get(redis, message_id) for message_id in ids]
    return [record for record in records if record]


async def ensure_group(redis: aioredis.Redis) -> None:
    # From id 0: entries queued before any sender ever ran are delivered too.
    await streams.ensure_group(redis, STREAM, GROUP, "0")


async def claim(redis: aioredis.Redis, message_id: str) -> tuple[str, OutboxMessage | None]:
    """('claimed' or 'resume', message) when this worker should handle it, else
    ('done' or 'missing', None). 'resume': an earlier worker took it and died mid-send.
    """
    result = await redis.register_script(_CLAIM)(
        keys=[msg_key(message_id)], args=[repr(time.time())]
    )
    state = result[0]
    if state not in ("claimed", "resume"):
        return state, None
    flat = result[1:]
    return state, OutboxMessage.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))


async def begin_attempt(
    redis: aioredis.Redis, message_id: str, *, rate_slot_at: float | None = None
) -> int:
    """Counts an attempt at Twilio's API, just before the call. `rate_slot_at`: the rate
    limiter's slot it went out in (for checking the rate afterwards)."""
    fields = {"attempt_started": repr(time.time())}
    if rate_slot_at is not None:
        fields["rate_slot_at"] = repr(rate_slot_at)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(msg_key(message_id), "attempts", 1)
        pipe.hset(msg_key(message_id), mapping=fields)
        attempts, _ = await pipe.execute()
    return int(attempts)


def _ack(pipe: aioredis.client.Pipeline, entry_id: str | None) -> None:
    if entry_id:
        pipe.xack(STREAM, GROUP, entry_id)
        pipe.xdel(STREAM, entry_id)  # the stream holds only work still to do


async def ack(redis: aioredis.Redis, entry_id: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        _ack(pipe, entry_id)
        await pipe.execute()


async def mark_sent(
    redis: aioredis.Redis,
    message_id: str,
    entry_id: str | None,
    *,
    twilio_sid: str,
    twilio_status: str,
) -> None:
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            msg_key(message_id),
            mapping={
                "status": "sent",
                "twilio_sid": twilio_sid,
                "twilio_status": twilio_status,
                "transport": "twilio",
                "sent_at": repr(now),
                "updated_at": repr(now),
                "verify": "0",
                "error": "",
                "error_code": "",
            },
        )
        pipe.set(sid_key(twilio_sid), message_id, ex=Retention.from_env().outbox_s)
        pipe.rpush(history_key(message_id), _event(event="sent", twilio_sid=twilio_sid))
        _ack(pipe, entry_id)
        await pipe.execute()
    OUTBOX_FINISHED.labels("sent").inc()


async def deliver_local(
    redis: aioredis.Redis,
    message: OutboxMessage,
    entry_id: str | None,
    *,
    rate_slot_at: float | None = None,
) -> None:
    """Offline mode: the sink write and the status change are one transaction."""
    now = time.time()
    slot = {"rate_slot_at": repr(rate_slot_at)} if rate_slot_at is not None else {}
    oldest_kept_ms = int((now - Retention.from_env().sink_s) * 1000)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(
            sink.STREAM,
            {
                "outbox_id": message.id,
                "to": message.to,
                "body": message.body,
                "kind": message.kind,
                "segments": str(message.segments),
                "encoding": message.encoding,
                "conversation_id": message.fields.get("conversation_id", ""),
                "at": repr(now),
            },
            maxlen=sink.MAXLEN,
            approximate=True,
        )
        # Entry ids are their creation time in ms: older ones are past the sink's retention.
        pipe.xtrim(sink.STREAM, minid=f"{oldest_kept_ms}-0", approximate=False)
        pipe.hset(
            msg_key(message.id),
            mapping={
                "status": "delivered",
                "transport": "local",
                "sent_at": repr(now),
                "updated_at": repr(now),
                **slot,
            },
        )
        pipe.hincrby(msg_key(message.id), "attempts", 1)
        pipe.rpush(history_key(message.id), _event(event="delivered", transport="local"))
        _ack(pipe, entry_id)
        await pipe.execute()
    OUTBOX_FINISHED.labels("delivered").inc()


async def defer(
    redis: aioredis.Redis,
    message_id: str,
    entry_id: str | None,
    *,
    due: float,
    reason: str,
    error: str = "",
    error_code: str = "",
    verify: bool = False,
) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            msg_key(message_id),
            mapping={
                "status": "deferred",
                "not_before": repr(due),
                "defer_reason": reason,
                "error": error,
                "error_code": error_code,
                "verify": "1" if verify else "0",
                "updated_at": repr(time.time()),
            },
        )
        pipe.zadd(DELAYED, {message_id: due})
        pipe.rpush(
            history_key(message_id),
            _event(event="deferred", reason=reason, until=due, error=error, error_code=error_code),
        )
        _ack(pipe, entry_id)
        await pipe.execute()


async def finish(
    redis: aioredis.Redis,
    message_id: str,
    entry_id: str | None,
    *,
    status: str,
    error: str = "",
    error_code: str = "",
    reason: str = "",
) -> None:
    """Ends a message that will not be sent (failed, skipped, expired). `reason`: a stable code
    (e.g. SKIPPED_OPTED_OUT) the console shows the agent; `error`: the words for it."""
    if status not in ("failed", "skipped", "expired"):
        raise ValueError(status)
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            msg_key(message_id),
            mapping={
                "status": status,
                "error": error,
                "error_code": error_code,
                "reason": reason,
                "finished_at": repr(now),
                "updated_at": repr(now),
            },
        )
        pipe.rpush(
            history_key(message_id),
            _event(event=status, reason=reason, error=error, error_code=error_code),
        )
        _ack(pipe, entry_id)
        await pipe.execute()
    OUTBOX_FINISHED.labels(status).inc()


async def release_due(redis: aioredis.Redis, now: float | None = None, limit: int = 100) -> int:
    """Moves deferred messages whose time has come back into the stream (atomically)."""
    script = redis.register_script(_RELEASE_DUE)
    return int(await script(keys=[DELAYED, STREAM], args=[repr(now or time.time()), limit]))


async def record_status(
    redis: aioredis.Redis,
    message_id: str | None,
    *,
    twilio_sid: str,
    twilio_status: str,
    error_code: str = "",
) -> bool:
    """Records a Twilio status callback; False if no outbox message matches.

    Callbacks arrive out of order: a later state (delivered) is never overwritten by an
    earlier one (sent) that arrives after it.
    """
    if not message_id and twilio_sid:
        message_id = await redis.get(sid_key(twilio_sid))
    if not message_id:
        return False
    event = _event(event="callback", status=twilio_status, error_code=error_code, sid=twilio_sid)
    result = await redis.register_script(_RECORD_STATUS)(
        keys=[msg_key(message_id), history_key(message_id)],
        args=[
            repr(time.time()),
            twilio_status,
            error_code,
            twilio_sid,
            event,
            Retention.from_env().outbox_s,
        ],
    )
    return int(result) == 1


async def get(redis: aioredis.Redis, message_id: str) -> dict[str, str] | None:
    data = await redis.hgetall(msg_key(message_id))
    return data or None


async def history(redis: aioredis.Redis, message_id: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in await redis.lrange(history_key(message_id), 0, -1)]


async def recent(redis: aioredis.Redis, limit: int = 50) -> list[dict[str, str]]:
    ids = await redis.zrevrange(RECENT, 0, max(0, limit - 1))
    async with redis.pipeline(transaction=False) as pipe:
        for message_id in ids:
            pipe.hgetall(msg_key(message_id))
        rows = await pipe.execute()
    return [row for row in rows if row]
