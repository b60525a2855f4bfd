"""Complaint pre-warning: EARS C2 with its floor, counting per area and category from the
ticket store, one alert per (day, area, category) in Redis and the kefu:alerts stream,
acknowledgement, and the hourly worker on an injectable clock."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from bot.reports import prewarning
from bot.reports.prewarning import STREAM, area_of, baseline_days, c2, check_day
from bot.tasks import Workers
from bot.tickets.service import Policies, TicketService
from tests.support.reports import TZ
from tests.support.tickets import FakeClock

DAY0 = date(2026, 11, 1)
SPIKE_DAY = DAY0 + timedelta(days=11)
# Complaints per day of the busy cell (chaoyang, outage) before the spike: it varies, and
# never alarms against its own history.
BUSY = [4, 6, 3, 5, 4, 7, 5, 3, 6, 4, 5]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(timezone.utc)


def epoch(day: date, hour: int, minute: int = 0) -> float:
    return at(day, hour, minute).timestamp()


def test_c2_is_mean_plus_three_sd_of_days_t9_to_t3() -> None:
    assert baseline_days(SPIKE_DAY) == [SPIKE_DAY - timedelta(days=d) for d in range(9, 2, -1)]
    check = c2([3, 4, 5, 4, 3, 5, 4], 7, min_count=5)
    assert check.expected == 4.0
    assert check.sd == pytest.approx(0.8165, abs=1e-4)
    assert check.threshold == pytest.approx(4 + 3 * 0.8165, abs=1e-3)
    assert check.alarm
    assert not c2([3, 4, 5, 4, 3, 5, 4], 6, min_count=5).alarm  # within mean + 3 sd
    with pytest.raises(ValueError):
        c2([1, 2, 3], 4, min_count=1)


def test_the_floor_keeps_a_quiet_category_quiet() -> None:
    quiet = c2([0] * 7, 2, min_count=5)
    assert quiet.count > quiet.threshold  # EARS C2 alone would alarm (sd 0 -> MIN_SD)
    assert not quiet.alarm
    assert c2([0] * 7, 5, min_count=5).alarm
    flat = c2([4] * 7, 5, min_count=1)  # a flat history: one more is not a spike
    assert flat.threshold == 4 + 3 * prewarning.MIN_SD and not flat.alarm


def test_areas_come_from_the_free_text_location() -> None:
    assert area_of("朝阳区幸福路 12 号") == "chaoyang"
    assert area_of("Haidian district, Zhongguancun") == "haidian"
    assert area_of("楼下") == "unknown" and area_of("") == "unknown"


async def _file(
    service: TicketService, clock: FakeClock, when: datetime, location: str, category: str
) -> str:
    clock.now = when
    ticket = await service.create_complaint(
        category=category,
        description="又停电了",
        location=location,
        phone="+8613800138000",
        language="zh",
        channel="sms",
    )
    return ticket.number


async def _history(service: TicketService, clock: FakeClock) -> None:
    for offset, busy in enumerate(BUSY):
        day = DAY0 + timedelta(days=offset)
        for i in range(busy):
            await _file(service, clock, at(day, 8 + i), "朝阳区幸福路", "outage")
        await _file(service, clock, at(day, 12), "海淀区中关村", "billing")
        if offset % 3 == 0:
            await _file(service, clock, at(day, 13), "门口", "outage")  # area unknown


@pytest.fixture
def ticket_clock() -> FakeClock:
    return FakeClock()


async def test_a_spike_is_seen_during_the_day_and_raised_once(
    redis: aioredis.Redis, ticket_policies: Policies, ticket_clock: FakeClock
) -> None:
    clock = ticket_clock
    service = TicketService.build(redis, ticket_policies, clock=clock)
    await _history(service, clock)
    # Normal days raise nothing (each checked at its end, with its own baseline).
    for offset in range(9, len(BUSY)):
        day = DAY0 + timedelta(days=offset)
        assert await check_day(redis, epoch(day, 23, 59), TZ, min_count=5) == []
    assert await redis.xlen(STREAM) == 0

    spike = [
        await _file(service, clock, at(SPIKE_DAY, 7, i), "朝阳区建国路", "outage")
        for i in range(12)
    ]
    await _file(service, clock, at(SPIKE_DAY, 7, 30), "海淀区", "billing")
    found = await check_day(redis, epoch(SPIKE_DAY, 9), TZ, min_count=5)  # the hourly check
    assert [(s.area, s.category, s.check.count) for s in found] == [("chaoyang", "outage", 12)]
    baseline = BUSY[SPIKE_DAY.day - 10 : SPIKE_DAY.day - 3]
    assert found[0].check.expected == pytest.approx(sum(baseline) / 7)
    assert found[0].samples == tuple(spike[:5])

    entries = await redis.xrange(STREAM)
    assert len(entries) == 1
    event = entries[0][1]
    assert event["type"] == "complaint_spike" and event["area"] == "chaoyang"
    assert event["category"] == "outage" and event["actual"] == "12"
    assert event["id"] == f"{SPIKE_DAY.isoformat()}:chaoyang:outage"

    for i in range(8):  # the spike goes on: the same alert, a higher count, no new event
        spike.append(await _file(service, clock, at(SPIKE_DAY, 10, i), "朝阳", "outage"))
    await check_day(redis, epoch(SPIKE_DAY, 11), TZ, min_count=5)
    assert await redis.xlen(STREAM) == 1
    (alert,) = await prewarning.alerts(redis, epoch(SPIKE_DAY, 11))
    assert alert["actual"] == 20 and alert["samples"] == spike[:5]
    assert alert["area"] == "chaoyang" and alert["category"] == "outage"
    assert alert["threshold"] > alert["expected"] > 0

    assert not await prewarning.acknowledge(redis, "nope", "zhang.boss", 0.0)
    assert not await prewarning.acknowledge(redis, "2026-11-01:x:y", "zhang.boss", 0.0)
    assert await prewarning.acknowledge(redis, alert["id"], "zhang.boss", 1.0)
    assert await prewarning.acknowledge(redis, alert["id"], "li.boss", 2.0)  # first one stays
    assert await prewarning.alerts(redis, epoch(SPIKE_DAY, 12)) == []
    (seen,) = await prewarning.alerts(redis, epoch(SPIKE_DAY, 12), include_acknowledged=True)
    assert seen["acknowledged_by"] == "zhang.boss" and seen["acknowledged_at"] == 1.0


async def test_the_hourly_worker_checks_the_current_day(
    redis: aioredis.Redis, ticket_policies: Policies, ticket_clock: FakeClock
) -> None:
    clock = ticket_clock
    service = TicketService.build(redis, ticket_policies, clock=clock)
    for i in range(6):
        await _file(service, clock, at(SPIKE_DAY, 8, i), "Tongzhou", "billing")
    now = [epoch(SPIKE_DAY, 9)]
    workers = Workers()
    worker = prewarning.start(workers, redis, TZ, min_count=5, every_s=3600, clock=lambda: now[0])
    try:
        for _ in range(200):
            if workers.status()[prewarning.WORKER]["steps"]:
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    (alert,) = await prewarning.alerts(redis, now[0])
    assert alert["id"] == f"{SPIKE_DAY.isoformat()}:tongzhou:billing" and alert["actual"] == 6

    # Complaints after the day's last check are caught by the next day's first run.
    for i in range(6):
        await _file(service, clock, at(SPIKE_DAY, 23, 30 + i), "Fengtai", "outage")
    now[0] = epoch(SPIKE_DAY + timedelta(days=1), 0, 20)
    worker = prewarning.start(workers, redis, TZ, min_count=5, every_s=3600, clock=lambda: now[0])
    try:
        for _ in range(200):
            if await redis.xlen(STREAM) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    ids = {a["id"] for a in await prewarning.alerts(redis, now[0])}
    assert f"{SPIKE_DAY.isoformat()}:fengtai:outage" in ids
