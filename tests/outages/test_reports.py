from __future__ import annotations

import asyncio
from datetime import timedelta

import redis.asyncio as aioredis

from bot.outages.registry import OutageRegistry
from bot.outages.reports import acknowledge, alerts, record_report
from tests.support.outages import START, FakeClock, publish

NOW = START.timestamp()
PHONES = [f"+86138000000{n:02d}" for n in range(1, 10)]


async def test_three_distinct_phones_within_the_window_raise_one_alert(
    redis: aioredis.Redis,
) -> None:
    assert not await record_report(redis, "chaoyang", PHONES[0], NOW)
    # The same phone again does not count twice.
    assert not await record_report(redis, "chaoyang", PHONES[0], NOW + 30)
    assert not await record_report(redis, "chaoyang", PHONES[1], NOW + 60)
    assert await record_report(redis, "chaoyang", PHONES[2], NOW + 90)
    # Still a probable outage for later reporters, but the alert is raised only once.
    assert await record_report(redis, "chaoyang", PHONES[3], NOW + 120)
    raised = await alerts(redis, NOW + 130)
    assert len(raised) == 1
    alert = raised[0]
    assert alert["area"] == "chaoyang" and alert["reports"] == 3
    assert alert["area_name"] == {"zh": "朝阳区", "en": "Chaoyang"}
    assert alert["at"] == NOW + 90 and alert["acknowledged_by"] is None
    # Other areas are counted apart.
    assert not await record_report(redis, "haidian", PHONES[4], NOW + 100)


async def test_reports_outside_the_window_do_not_add_up(redis: aioredis.Redis) -> None:
    assert not await record_report(redis, "xicheng", PHONES[0], NOW)
    assert not await record_report(redis, "xicheng", PHONES[1], NOW + 400)
    assert not await record_report(redis, "xicheng", PHONES[2], NOW + 700)  # the first expired
    assert await record_report(redis, "xicheng", PHONES[3], NOW + 800)
    assert [a["reports"] for a in await alerts(redis, NOW + 800)] == [3]


async def test_a_new_window_raises_a_new_alert(redis: aioredis.Redis) -> None:
    for i in range(3):
        await record_report(redis, "fengtai", PHONES[i], NOW + i)
    # Reports keep coming in the window: no second alert.
    assert await record_report(redis, "fengtai", PHONES[3], NOW + 300)
    assert len(await alerts(redis, NOW + 300)) == 1
    later = NOW + 2000  # a new window (the clock is the caller's: no sleeping)
    for i in range(4, 7):
        await record_report(redis, "fengtai", PHONES[i], later + i)
    assert [a["at"] for a in await alerts(redis, later + 10)] == [later + 6, NOW + 2]


async def test_no_alert_when_an_outage_is_known(redis: aioredis.Redis) -> None:
    registry = OutageRegistry(redis, clock=FakeClock())
    await publish(
        registry, kind="fault", starts_at=START - timedelta(minutes=5), eta=None, areas=["tongzhou"]
    )
    for phone in PHONES[:4]:
        assert not await record_report(redis, "tongzhou", phone, NOW)
    assert await alerts(redis, NOW) == []


async def test_threshold_and_bad_input(redis: aioredis.Redis) -> None:
    assert not await record_report(redis, "dongcheng", PHONES[0], NOW, threshold=2)
    assert await record_report(redis, "dongcheng", PHONES[1], NOW, threshold=2)
    assert not await record_report(redis, "atlantis", PHONES[0], NOW)
    assert not await record_report(redis, "dongcheng", "  ", NOW)


async def test_acknowledged_alerts_leave_the_console_list(redis: aioredis.Redis) -> None:
    for phone in PHONES[:3]:
        await record_report(redis, "haidian", phone, NOW)
    [alert] = await alerts(redis, NOW)
    assert await acknowledge(redis, alert["id"], "boss", NOW + 5)
    assert await acknowledge(redis, alert["id"], "other", NOW + 6)  # the first one stays
    assert await alerts(redis, NOW + 10) == []
    [seen] = await alerts(redis, NOW + 10, include_acknowledged=True)
    assert seen["acknowledged_by"] == "boss" and seen["acknowledged_at"] == NOW + 5
    assert not await acknowledge(redis, "999", "boss", NOW)
    assert not await acknowledge(redis, "1; DROP", "boss", NOW)


async def test_concurrent_reports_raise_the_alert_once(
    redis: aioredis.Redis, second_redis: aioredis.Redis
) -> None:
    clients = [redis, second_redis]
    results = await asyncio.gather(
        *(record_report(clients[i % 2], "chaoyang", PHONES[i], NOW + i) for i in range(8))
    )
    assert sum(results) >= 6  # every report from the third on
    assert len(await alerts(redis, NOW + 10)) == 1
