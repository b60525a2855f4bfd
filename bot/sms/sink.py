"""The local sink: where the sender delivers when there is no Twilio account.

A Redis stream the agent console and tests read, so the product runs offline.
"""

from __future__ import annotations

import redis.asyncio as aioredis

STREAM = "kefu:sms:sink"
MAXLEN = 10_000


async def read(
    redis: aioredis.Redis, *, to: str | None = None, count: int = 100
) -> list[dict[str, str]]:
    """The newest `count` delivered messages, oldest first, optionally for one phone."""
    entries = await redis.xrevrange(STREAM, count=count if to is None else MAXLEN)
    out = [dict(fields, entry_id=entry_id) for entry_id, fields in entries]
    if to is not None:
        out = [m for m in out if m.get("to") == to][:count]
    out.reverse()
    return out
