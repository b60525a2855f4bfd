"""Which phone a conversation has proven it holds (web), kept in Redis.

kefu:identity:verified:{conversation_id} -> E.164, for KEFU_VERIFIED_PHONE_TTL_S seconds
(default 30 days). Written only after the customer typed the one-time code sent to that
phone (bot/identity/otp.py, actions/verification.py).

Actions never read this directly: they call actions.identity.verified_phone(tracker), the
one check for every disclosure (it also knows that SMS numbers are carrier-verified).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot import settings
from bot.phones import InvalidPhone, to_e164

PREFIX = "kefu:identity:verified:"
DEFAULT_TTL_S: int = settings.Settings.__fields__["verified_phone_ttl_s"].default


def verified_key(conversation_id: str) -> str:
    return f"{PREFIX}{conversation_id}"


def ttl_s() -> int:
    """How long a verified phone stays on a conversation (KEFU_VERIFIED_PHONE_TTL_S)."""
    return settings.get().verified_phone_ttl_s


async def record_verified(redis: aioredis.Redis, conversation_id: str, phone: str) -> str:
    """Remembers that `conversation_id` proved it holds `phone`; returns the E.164 stored."""
    e164 = to_e164(phone)
    await redis.set(verified_key(conversation_id), e164, ex=ttl_s())
    return e164


async def verified_phone(redis: aioredis.Redis, conversation_id: str) -> str | None:
    """The phone this conversation proved it holds, or None (never verified, or expired)."""
    value = await redis.get(verified_key(conversation_id))
    if not value:
        return None
    try:
        return to_e164(value)
    except InvalidPhone:  # not something record_verified wrote: trust nothing
        return None


async def forget(redis: aioredis.Redis, conversation_id: str) -> None:
    await redis.delete(verified_key(conversation_id))
