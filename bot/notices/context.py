"""The last notice each phone was sent, so a reply (什么时候来电) is understood in context."""

from __future__ import annotations

import json
from collections.abc import Iterable

import redis.asyncio as aioredis

from bot.notices.subscriptions import PREFIX

# A reply to a notice comes within days; after that the context is stale.
TTL_S = 7 * 24 * 3600


def key(phone: str) -> str:
    return f"{PREFIX}last:{phone}"


def record(
    pipe: aioredis.client.Pipeline, phones: Iterable[str], outage_id: str, change: str, at: float
) -> None:
    """Queues on `pipe` the writes for a batch of phones (the broadcast records them with the
    enqueue of their notices)."""
    value = json.dumps({"outage_id": outage_id, "change": change, "at": at})
    for phone in phones:
        pipe.set(key(phone), value, ex=TTL_S)


async def last_notice(redis: aioredis.Redis, phone: str) -> dict[str, object] | None:
    """{"outage_id", "change", "at" (Unix time)} of the latest outage notice queued for this
    phone (within the last week), or None."""
    raw = await redis.get(key(phone))
    if not raw:
        return None
    data = json.loads(raw)
    return {"outage_id": data["outage_id"], "change": data["change"], "at": float(data["at"])}
