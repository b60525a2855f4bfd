"""Who asked for which notices: per phone, topic ("outage" or "bill") and area.

Redis layout (prefix kefu:notices:):
- sub:{phone}                  hash "{topic}:{area}" -> JSON {language, at}: one phone's list;
- subscribers:{topic}:{area}   hash phone -> language: the broadcast's index by area.
Bill notices are about the phone's own accounts, wherever they are: a bill subscription
has no area (stored as "*"). Both hashes change in one MULTI, so they never disagree.
"""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from bot.accounts.areas import load_areas
from bot.phones import InvalidPhone, to_e164

PREFIX = "kefu:notices:"
TOPICS = ("outage", "bill")
LANGUAGES = ("zh", "en")
ANY_AREA = "*"


class SubscriptionError(ValueError):
    """Bad input; `field` names the argument (for a 4xx naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def phone_key(phone: str) -> str:
    return f"{PREFIX}sub:{phone}"


def index_key(topic: str, area: str) -> str:
    return f"{PREFIX}subscribers:{topic}:{area}"


def _phone(phone: str) -> str:
    try:
        return to_e164(phone)
    except InvalidPhone as exc:
        raise SubscriptionError("phone", "phone is not a valid phone number") from exc


def _topic(topic: str) -> str:
    if topic not in TOPICS:
        raise SubscriptionError("topic", f"topic must be one of {', '.join(TOPICS)}")
    return topic


def _area(topic: str, area: str | None) -> str:
    if topic == "bill":
        return ANY_AREA
    if not area or area not in load_areas():
        raise SubscriptionError("area", "area must be a known area id")
    return area


async def subscribe(
    redis: aioredis.Redis, phone: str, *, topic: str, area: str | None, language: str
) -> bool:
    """Subscribes; False if it already was (its language is updated all the same)."""
    number, kind = _phone(phone), _topic(topic)
    where = _area(kind, area)
    if language not in LANGUAGES:
        raise SubscriptionError("language", "language must be zh or en")
    record = json.dumps({"language": language, "at": time.time()})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(phone_key(number), f"{kind}:{where}", record)
        pipe.hset(index_key(kind, where), number, language)
        created, _ = await pipe.execute()
    if not created:  # keep the original time, take the new language
        old = json.loads(await redis.hget(phone_key(number), f"{kind}:{where}") or "{}")
        old["language"] = language
        await redis.hset(phone_key(number), f"{kind}:{where}", json.dumps(old))
    return bool(created)


async def unsubscribe(
    redis: aioredis.Redis, phone: str, *, topic: str | None = None, area: str | None = None
) -> int:
    """Removes the phone's subscriptions matching `topic` and `area` (None: any); returns
    how many."""
    number = _phone(phone)
    if topic is not None:
        _topic(topic)
    fields = await redis.hkeys(phone_key(number))
    gone = []
    for item in fields:
        kind, _, where = item.partition(":")
        if topic is not None and kind != topic:
            continue
        if area is not None and kind != "bill" and where != area:
            continue
        gone.append((item, kind, where))
    if not gone:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        for item, kind, where in gone:
            pipe.hdel(phone_key(number), item)
            pipe.hdel(index_key(kind, where), number)
        await pipe.execute()
    return len(gone)


async def subscriptions_of(redis: aioredis.Redis, phone: str) -> list[dict[str, str]]:
    """[{"topic", "area" ("" for bill), "language", "at"}], sorted by topic then area."""
    number = _phone(phone)
    out = []
    for item, raw in (await redis.hgetall(phone_key(number))).items():
        kind, _, where = item.partition(":")
        data = json.loads(raw)
        out.append(
            {
                "topic": kind,
                "area": "" if where == ANY_AREA else where,
                "language": str(data.get("language", "zh")),
                "at": str(data.get("at", "")),
            }
        )
    return sorted(out, key=lambda s: (s["topic"], s["area"]))


async def subscribers(redis: aioredis.Redis, area: str, topic: str) -> list[tuple[str, str]]:
    """(phone, language) of everyone subscribed to `topic` in `area` (for "bill": pass any
    area, or "*": bill subscriptions have none)."""
    kind = _topic(topic)
    where = ANY_AREA if kind == "bill" else area
    return sorted((await redis.hgetall(index_key(kind, where))).items())
