"""Is a web customer's chat open right now? One sorted set per conversation.

`kefu:web:open:<conversation id>`: socket id -> expiry (epoch seconds). The web chat
channel (bot/channels/webchat.py) adds its socket when the conversation is bound to it and
on every turn, and removes it on disconnect; the return visits read it. The expiry only
covers a Rasa process killed without its disconnects: an idle tab still connected after
OPEN_TTL_S counts as closed, and its visit goes by SMS.
"""

from __future__ import annotations

import redis.asyncio as aioredis

PREFIX = "kefu:web:open:"
OPEN_TTL_S = 6 * 3600


def open_key(conversation_id: str) -> str:
    return f"{PREFIX}{conversation_id}"


async def opened(redis: aioredis.Redis, conversation_id: str, socket_id: str, now: float) -> None:
    key = open_key(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {socket_id: now + OPEN_TTL_S})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.expire(key, OPEN_TTL_S + 60)
        await pipe.execute()


async def closed(redis: aioredis.Redis, conversation_id: str, socket_id: str) -> None:
    await redis.zrem(open_key(conversation_id), socket_id)


async def is_open(redis: aioredis.Redis, conversation_id: str, now: float) -> bool:
    """True if some socket of the conversation is connected (as of its last sign)."""
    return bool(await redis.zcount(open_key(conversation_id), f"({now!r}", "+inf"))
