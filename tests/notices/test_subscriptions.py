from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.notices import subscriptions
from bot.notices.subscriptions import SubscriptionError

PHONE = "+8613800000042"
OTHER = "+8613800000043"


async def test_subscribe_is_per_phone_topic_and_area(redis: aioredis.Redis) -> None:
    assert await subscriptions.subscribe(
        redis, PHONE, topic="outage", area="chaoyang", language="zh"
    )
    assert not await subscriptions.subscribe(
        redis, PHONE, topic="outage", area="chaoyang", language="en"
    )  # already: only the language changes
    assert await subscriptions.subscribe(
        redis, PHONE, topic="outage", area="haidian", language="en"
    )
    assert await subscriptions.subscribe(
        redis, OTHER, topic="outage", area="chaoyang", language="zh"
    )
    assert await subscriptions.subscribers(redis, "chaoyang", "outage") == [
        (PHONE, "en"),
        (OTHER, "zh"),
    ]
    assert await subscriptions.subscribers(redis, "haidian", "outage") == [(PHONE, "en")]
    assert await subscriptions.subscribers(redis, "fengtai", "outage") == []
    mine = await subscriptions.subscriptions_of(redis, PHONE)
    assert [(s["topic"], s["area"], s["language"]) for s in mine] == [
        ("outage", "chaoyang", "en"),
        ("outage", "haidian", "en"),
    ]


async def test_a_bill_subscription_has_no_area(redis: aioredis.Redis) -> None:
    assert await subscriptions.subscribe(redis, PHONE, topic="bill", area="chaoyang", language="zh")
    assert not await subscriptions.subscribe(redis, PHONE, topic="bill", area=None, language="zh")
    assert await subscriptions.subscribers(redis, "*", "bill") == [(PHONE, "zh")]
    [sub] = await subscriptions.subscriptions_of(redis, PHONE)
    assert sub["topic"] == "bill" and sub["area"] == ""


async def test_unsubscribe_by_topic_area_or_everything(redis: aioredis.Redis) -> None:
    for area in ("chaoyang", "haidian"):
        await subscriptions.subscribe(redis, PHONE, topic="outage", area=area, language="zh")
    await subscriptions.subscribe(redis, PHONE, topic="bill", area=None, language="zh")
    assert await subscriptions.unsubscribe(redis, PHONE, topic="outage", area="haidian") == 1
    assert await subscriptions.subscribers(redis, "haidian", "outage") == []
    assert await subscriptions.subscribers(redis, "chaoyang", "outage") == [(PHONE, "zh")]
    assert await subscriptions.unsubscribe(redis, PHONE, topic="bill") == 1
    assert await subscriptions.subscribers(redis, "*", "bill") == []
    assert await subscriptions.unsubscribe(redis, PHONE) == 1
    assert await subscriptions.subscriptions_of(redis, PHONE) == []
    assert await subscriptions.subscribers(redis, "chaoyang", "outage") == []
    assert await subscriptions.unsubscribe(redis, PHONE) == 0


async def test_phone_numbers_are_normalised(redis: aioredis.Redis) -> None:
    await subscriptions.subscribe(
        redis, "8613800000042", topic="outage", area="chaoyang", language="zh"
    )
    assert await subscriptions.subscribers(redis, "chaoyang", "outage") == [(PHONE, "zh")]


@pytest.mark.parametrize(
    ("phone", "topic", "area", "language", "field"),
    [
        ("not a phone", "outage", "chaoyang", "zh", "phone"),
        (PHONE, "weather", "chaoyang", "zh", "topic"),
        (PHONE, "outage", "atlantis", "zh", "area"),
        (PHONE, "outage", None, "zh", "area"),
        (PHONE, "outage", "chaoyang", "fr", "language"),
    ],
)
async def test_bad_input_names_the_field(
    redis: aioredis.Redis, phone: str, topic: str, area: str | None, language: str, field: str
) -> None:
    with pytest.raises(SubscriptionError) as caught:
        await subscriptions.subscribe(redis, phone, topic=topic, area=area, language=language)
    assert caught.value.field == field
    assert await redis.dbsize() == 0
