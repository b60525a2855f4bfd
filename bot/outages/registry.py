"""OutageRegistry: outages in Redis, the system of record, and their change stream.

Layout (prefix `kefu:outages`):
- `o:<id>`              hash: `doc` (the outage as JSON, without id and revision),
                        `revision` (int), `seq` (creation order)
- `idx:all`, `idx:status:<status>`, `idx:area:<area>`
                        sorted sets, member = id, score = seq (listing, newest first)
- `open:<area>`         set: the open (announced / in progress) outages covering the area,
                        so active_for_area / planned_for_area read a handful of records,
                        never the whole history
- `seq`, `counter:<YYYYMMDD>`   INCR counters: order and the human-friendly id
- stream `kefu:outages:changes` (CHANGES): one entry per change, fields outage_id, change,
                        revision, at (epoch seconds); bot.notices broadcasts from it

Every write is ONE Lua script that writes the record, its indexes and its change-stream
entries together: a crash never leaves a change without its broadcast entry, nor an entry
for a change that was not stored. Updates are optimistic: the script applies only if the
revision is still the one the change was computed from (else it is recomputed).
Single Redis (not Cluster): keys that depend on the allocated id are built in the script.
"""

from __future__ import annotations

import builtins  # OutageRegistry.list (a method) shadows list[...] in annotations after it
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.outages.errors import ConcurrentUpdate, IllegalTransition, OutageNotFound
from bot.outages.models import (
    ANNOUNCED,
    ETA_CHANGED,
    MAX_CAUSE,
    OPEN_STATUSES,
    PLANNED,
    PUBLISHED,
    STATUSES,
    TEXT_CHANGED,
    Outage,
    can_transition,
    clean_actor,
    clean_areas,
    clean_eta,
    clean_kind,
    clean_line,
    clean_status,
    clean_texts,
    is_outage_id,
    iso,
    parse_datetime,
)
from bot.settings import DEFAULT_TIMEZONE

Clock = Callable[[], datetime]

PREFIX = "kefu:outages"
CHANGES = "kefu:outages:changes"  # the change stream; bot.notices.worker consumes it
# Outage changes are rare (a few a day); the cap only bounds a stream nobody reads.
CHANGES_MAXLEN = 100_000
# An announced outage starting within this is already "active": a customer without power
# a few minutes before the announced start is most likely in it.
ACTIVE_LEAD = timedelta(minutes=15)
_COUNTER_TTL_S = 3 * 24 * 3600  # a day's counter is only needed on that day
_MAX_RETRIES = 20


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()  # update(): this field does not change


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


_CREATE_LUA = """
local daily, seq_key, stream = KEYS[1], KEYS[2], KEYS[3]
local prefix, day, ttl, doc = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local areas = cjson.decode(ARGV[5])
local at, maxlen, status = ARGV[6], ARGV[7], ARGV[8]
local id, key
-- Never reuse an id, even if the day's counter was lost: skip ids already taken.
for _ = 1, 100000 do
  local candidate = string.format('OG%s-%04d', day, redis.call('INCR', daily))
  if redis.call('EXISTS', prefix .. ':o:' .. candidate) == 0 then
    id = candidate
    key = prefix .. ':o:' .. candidate
    break
  end
end
if not id then return redis.error_reply('no free outage id for ' .. day) end
redis.call('EXPIRE', daily, ttl)
local seq = redis.call('INCR', seq_key)
redis.call('HSET', key, 'doc', doc, 'revision', 1, 'seq', seq)
redis.call('ZADD', prefix .. ':idx:all', seq, id)
redis.call('ZADD', prefix .. ':idx:status:' .. status, seq, id)
for _, area in ipairs(areas) do
  redis.call('ZADD', prefix .. ':idx:area:' .. area, seq, id)
  redis.call('SADD', prefix .. ':open:' .. area, id)
end
redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'outage_id', id,
  'change', 'published', 'revision', 1, 'at', at)
return id
"""

_UPDATE_LUA = """
local key, stream = KEYS[1], KEYS[2]
local prefix, id, expected, doc = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old_status, new_status = ARGV[5], ARGV[6]
local areas = cjson.decode(ARGV[7])
local changes = cjson.decode(ARGV[8])
local at, maxlen, still_open = ARGV[9], ARGV[10], ARGV[11]
local current = redis.call('HGET', key, 'revision')
if not current then return -1 end
if current ~= expected then return 0 end
local revision = tonumber(current)
for _, change in ipairs(changes) do
  revision = revision + 1
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'outage_id', id,
    'change', change, 'revision', revision, 'at', at)
end
redis.call('HSET', key, 'doc', doc, 'revision', revision)
if old_status ~= new_status then
  local seq = redis.call('HGET', key, 'seq')
  redis.call('ZREM', prefix .. ':idx:status:' .. old_status, id)
  redis.call('ZADD', prefix .. ':idx:status:' .. new_status, seq, id)
end
if still_open == '0' then
  for _, area in ipairs(areas) do
    redis.call('SREM', prefix .. ':open:' .. area, id)
  end
end
return revision
"""


class OutageRegistry:
    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock = utc_now,
        timezone_name: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.zone = ZoneInfo(timezone_name)  # the day in an id is the operators' day
        self._create = redis.register_script(_CREATE_LUA)
        self._update = redis.register_script(_UPDATE_LUA)

    # ------------------------------------------------------------ keys
    @staticmethod
    def key(outage_id: str) -> str:
        return f"{PREFIX}:o:{outage_id}"

    # ------------------------------------------------------------ writes
    async def publish(
        self,
        *,
        areas: Sequence[str],
        kind: str,
        starts_at: datetime | str,
        eta: datetime | str | None,
        cause: str,
        text: Mapping[str, str],
        actor: str,
    ) -> Outage:
        """Records a new outage (status announced, revision 1) and its `published` change."""
        now = self._now()
        clean_areas_ = clean_areas(areas)
        start = parse_datetime("starts_at", starts_at)
        outage = Outage(
            id="",
            areas=clean_areas_,
            kind=clean_kind(kind),
            starts_at=start,
            eta=clean_eta(eta, start),
            cause=clean_line("cause", cause, MAX_CAUSE),
            text=clean_texts(text),
            status=ANNOUNCED,
            revision=1,
            history=[_entry(now, clean_actor(actor), PUBLISHED, None, ANNOUNCED)],
            created_at=now,
            updated_at=now,
        )
        day = now.astimezone(self.zone).strftime("%Y%m%d")
        outage_id = await self._create(
            keys=[f"{PREFIX}:counter:{day}", f"{PREFIX}:seq", CHANGES],
            args=[
                PREFIX,
                day,
                _COUNTER_TTL_S,
                _doc(outage),
                json.dumps(outage.areas),
                repr(now.timestamp()),
                CHANGES_MAXLEN,
                ANNOUNCED,
            ],
        )
        outage.id = outage_id.decode() if isinstance(outage_id, bytes) else str(outage_id)
        return outage

    async def update(
        self,
        outage_id: str,
        *,
        actor: str,
        eta: datetime | str | None | _Unset = UNSET,
        text: Mapping[str, str] | _Unset = UNSET,
        status: str | _Unset = UNSET,
    ) -> Outage:
        """Changes the ETA, the text (a language left out keeps its text) and/or the
        status. Each actual change bumps the revision and adds one change-stream entry, in
        the order text, ETA, status; a value equal to the current one is no change (a
        retried request changes nothing twice). Restored and cancelled are final."""
        actor = clean_actor(actor)
        for _ in range(_MAX_RETRIES):
            current = await self.require(outage_id)
            changed, changes = self._apply(current, actor, eta, text, status)
            if not changes:
                return current
            result = await self._update(
                keys=[self.key(current.id), CHANGES],
                args=[
                    PREFIX,
                    current.id,
                    str(current.revision),
                    _doc(changed),
                    current.status,
                    changed.status,
                    json.dumps(changed.areas),
                    json.dumps(changes),
                    repr(self._now().timestamp()),
                    CHANGES_MAXLEN,
                    "1" if changed.is_open else "0",
                ],
            )
            if int(result) == -1:
                raise OutageNotFound(f"no outage {outage_id}")
            if int(result) > 0:
                changed.revision = int(result)
                return changed
        raise ConcurrentUpdate("the outage kept changing; retry", "id")

    def _apply(
        self,
        current: Outage,
        actor: str,
        eta: datetime | str | None | _Unset,
        text: Mapping[str, str] | _Unset,
        status: str | _Unset,
    ) -> tuple[Outage, builtins.list[str]]:
        now = self._now()
        new = Outage.from_json(current.to_json())
        changes: builtins.list[str] = []
        if not isinstance(text, _Unset):
            new_text = clean_texts(text, current.text)
            if new_text != current.text:
                new.text = new_text
                new.history.append(_entry(now, actor, TEXT_CHANGED, current.text, new_text))
                changes.append(TEXT_CHANGED)
        if not isinstance(eta, _Unset):
            new_eta = clean_eta(eta, current.starts_at)
            if new_eta != current.eta:
                new.eta = new_eta
                new.history.append(
                    _entry(
                        now, actor, ETA_CHANGED, _iso_or_none(current.eta), _iso_or_none(new_eta)
                    )
                )
                changes.append(ETA_CHANGED)
        if not isinstance(status, _Unset):
            new_status = clean_status(status)
            if new_status != current.status:
                if not can_transition(current.status, new_status):
                    raise IllegalTransition(
                        f"an outage cannot go from {current.status} to {new_status}"
                    )
                new.status = new_status
                new.history.append(_entry(now, actor, new_status, current.status, new_status))
                changes.append(new_status)
        if changes and not current.is_open:
            raise IllegalTransition(f"the outage is {current.status}; it cannot change any more")
        new.updated_at = now
        return new, changes

    # ------------------------------------------------------------ reads
    async def get(self, outage_id: str) -> Outage | None:
        if not isinstance(outage_id, str) or not is_outage_id(outage_id):
            return None
        fields = await self.redis.hmget(self.key(outage_id), ["doc", "revision"])
        return _load(outage_id, fields[0], fields[1])

    async def require(self, outage_id: str) -> Outage:
        outage = await self.get(outage_id)
        if outage is None:
            raise OutageNotFound(f"no outage {str(outage_id)[:40]}")
        return outage

    async def list(
        self, *, status: str | None = None, area: str | None = None, limit: int = 100
    ) -> builtins.list[Outage]:
        """Newest first; at most `limit`."""
        if status is not None and status not in STATUSES:
            return []
        if area is not None:
            ids = await self._ids(f"{PREFIX}:idx:area:{area}")
            if status is not None:
                wanted = set(await self._ids(f"{PREFIX}:idx:status:{status}"))
                ids = [i for i in ids if i in wanted]
        elif status is not None:
            ids = await self._ids(f"{PREFIX}:idx:status:{status}")
        else:
            ids = await self._ids(f"{PREFIX}:idx:all")
        return await self._many(ids[: max(limit, 0)])

    async def active_for_area(self, area: str, now: datetime) -> builtins.list[Outage]:
        """Open outages covering `area` that have started, or start within ACTIVE_LEAD;
        earliest start first."""
        horizon = now + ACTIVE_LEAD
        return [o for o in await self._open_in(area) if o.starts_at <= horizon]

    async def planned_for_area(
        self, area: str, now: datetime, days: int = 7
    ) -> builtins.list[Outage]:
        """Open planned outages covering `area` that start within `days`, or have started
        and are not over yet (their ETA, if known, is still ahead); earliest first."""
        horizon = now + timedelta(days=days)
        return [
            o
            for o in await self._open_in(area)
            if o.kind == PLANNED and o.starts_at <= horizon and (o.eta is None or o.eta > now)
        ]

    async def _open_in(self, area: str) -> builtins.list[Outage]:
        ids = sorted(await self.redis.smembers(f"{PREFIX}:open:{area}"))
        outages = await self._many([i.decode() if isinstance(i, bytes) else i for i in ids])
        return sorted((o for o in outages if o.status in OPEN_STATUSES), key=lambda o: o.starts_at)

    async def _ids(self, index: str) -> builtins.list[str]:
        raw = await self.redis.zrevrange(index, 0, -1)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in raw]

    async def _many(self, ids: builtins.list[str]) -> builtins.list[Outage]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for outage_id in ids:
            pipe.hmget(self.key(outage_id), ["doc", "revision"])
        rows = await pipe.execute()
        out = []
        for outage_id, (doc, revision) in zip(ids, rows, strict=True):
            outage = _load(outage_id, doc, revision)
            if outage is not None:
                out.append(outage)
        return out

    def _now(self) -> datetime:
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)


def _entry(now: datetime, actor: str, change: str, old: Any, new: Any) -> dict[str, Any]:
    return {"at": iso(now), "actor": actor, "change": change, "from": old, "to": new}


def _iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value else None


def _doc(outage: Outage) -> str:
    data = outage.to_json()
    del data["id"], data["revision"]  # the key and the revision field hold those
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _load(outage_id: str, doc: Any, revision: Any) -> Outage | None:
    if doc is None or revision is None:
        return None
    data = json.loads(doc)
    data["id"] = outage_id
    data["revision"] = int(revision)
    return Outage.from_json(data)
