"""An SMS conversation: its id (one per phone) and what Redis keeps about it between turns."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from bot.phones import InvalidPhone, to_e164

BUTTONS_TTL_S = 24 * 3600


def conversation_id(phone: str) -> str:
    """The same phone always continues the same conversation."""
    return f"sms:{phone}"


def phone_of(conversation: str) -> str | None:
    """The phone of an SMS conversation id; None for any other channel's conversation."""
    if not conversation.startswith("sms:"):
        return None
    try:
        return to_e164(conversation[4:])
    except InvalidPhone:
        return None


def buttons_key(conversation: str) -> str:
    return f"kefu:sms:buttons:{conversation}"


def last_inbound_key(phone: str) -> str:
    """When the customer last wrote (not counting STOP/START/HELP): what an agent's
    message answers, for the opt-out rule (outbox.may_reach_opted_out)."""
    return f"kefu:sms:last_inbound:{phone}"


async def remember_buttons(redis: aioredis.Redis, conversation: str, payloads: list[str]) -> None:
    """The numbered choices just sent: the customer answers "2" for the second payload.
    No choices this time forgets the last ones."""
    if payloads:
        await redis.set(
            buttons_key(conversation), json.dumps(payloads, ensure_ascii=False), ex=BUTTONS_TTL_S
        )
    else:
        await redis.delete(buttons_key(conversation))


async def button_choices(redis: aioredis.Redis, conversation: str) -> list[str]:
    raw = await redis.get(buttons_key(conversation))
    return json.loads(raw) if raw else []
