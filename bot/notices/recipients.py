"""Who gets an area's outage notices: its outage subscribers and its account holders,
each in their own language, minus the numbers that opted out of SMS."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from bot.accounts.backend import AccountBackend
from bot.notices import subscriptions
from bot.phones import InvalidPhone, to_e164
from bot.sms import optout

BATCH = 2000


async def for_areas(
    redis: aioredis.Redis, backend: AccountBackend, areas: Sequence[str]
) -> dict[str, str]:
    """phone (E.164) -> language ("zh" or "en"), in a stable order. A subscriber's chosen
    language wins over the account's. Raises BackendUnavailable if the backend is down (the
    broadcast is retried: holders must not be silently left out)."""
    chosen: dict[str, str] = {}
    for account in await backend.holders_in_areas(list(areas)):
        try:
            phone = to_e164(account.holder_phone)
        except InvalidPhone:
            continue
        chosen.setdefault(phone, "zh" if account.language.startswith("zh") else "en")
    for area in areas:
        for phone, language in await subscriptions.subscribers(redis, area, "outage"):
            chosen[phone] = language
    phones = sorted(chosen)
    opted_out: set[str] = set()
    for start in range(0, len(phones), BATCH):
        batch = phones[start : start + BATCH]
        flags = await redis.hmget(optout.REGISTRY, batch)
        opted_out.update(phone for phone, flag in zip(batch, flags, strict=True) if flag)
    return {phone: chosen[phone] for phone in phones if phone not in opted_out}
