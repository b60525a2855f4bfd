"""Gauges read from Redis when Prometheus scrapes: the queues as they are now.

They are computed at scrape time (a Collector over one snapshot), not kept in the process:
the queues live in Redis, so any desk replica reports the same truth, and alerts take
`max()` over the replicas. The desk serves them; Rasa and the action server report only
`kefu_redis_up` (can this process reach Redis?).

A Redis error or a slow Redis never fails the scrape: the answer is `kefu_redis_up 0`
without the queue gauges, and `kefu_redis_errors_total{component="scrape"}` counts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator

import redis.asyncio as aioredis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from bot.handoff import store as handoff
from bot.ops.metrics import REDIS_ERRORS
from bot.sms import inbox, outbox
from bot.tickets.store import Keys as TicketKeys

# Well under Prometheus's default scrape timeout (10 s).
SCRAPE_TIMEOUT_S = 2.0
# The handoff queue is ordered by priority band, then by waiting time: the oldest entry is
# the first of some band, one read per band (the policy has a handful).
MAX_PRIORITY_BANDS = 20


class Snapshot(Collector):
    """Families computed beforehand (asynchronously); prometheus_client collects
    synchronously."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _up(value: int) -> GaugeMetricFamily:
    return _gauge("kefu_redis_up", "1 if this process reached Redis during the scrape", value)


async def redis_up(redis: aioredis.Redis) -> list[Metric]:
    """`kefu_redis_up` alone (Rasa, action server)."""
    try:
        await asyncio.wait_for(redis.ping(), SCRAPE_TIMEOUT_S)
    except (RedisError, OSError, asyncio.TimeoutError):
        REDIS_ERRORS.labels("scrape").inc()
        return [_up(0)]
    return [_up(1)]


async def queue_gauges(redis: aioredis.Redis, now: float | None = None) -> list[Metric]:
    """`kefu_redis_up` and the queue gauges (desk)."""
    try:
        families = await asyncio.wait_for(_read(redis, now or time.time()), SCRAPE_TIMEOUT_S)
    except (RedisError, OSError, asyncio.TimeoutError):
        REDIS_ERRORS.labels("scrape").inc()
        return [_up(0)]
    return [_up(1), *families]


async def _read(redis: aioredis.Redis, now: float) -> list[Metric]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(inbox.QUEUED)
        pipe.zcard(inbox.PENDING)
        pipe.zrange(inbox.QUEUED, 0, 0, withscores=True)
        pipe.xlen(outbox.STREAM)
        pipe.zcard(outbox.DELAYED)
        pipe.zcard(handoff.QUEUE)
        pipe.zcard(handoff.ACTIVE)
        pipe.zcount(TicketKeys().sla, "-inf", now)
        (
            queued,
            in_turn,
            oldest,
            backlog,
            deferred,
            waiting,
            with_agent,
            overdue,
        ) = await pipe.execute()
    oldest_queued_ms = await _oldest_handoff_ms(redis)
    inbox_depth = GaugeMetricFamily(
        "kefu_sms_inbox_depth",
        "Inbound SMS not answered yet: queued (waiting for a Rasa process) or in_turn",
        labels=["state"],
    )
    inbox_depth.add_metric(["queued"], queued)
    inbox_depth.add_metric(["in_turn"], in_turn)
    return [
        inbox_depth,
        _gauge(
            "kefu_sms_inbox_oldest_seconds",
            "Age of the oldest inbound SMS still queued for a Rasa process (0: none)",
            max(0.0, now - float(oldest[0][1])) if oldest else 0.0,
        ),
        _gauge(
            "kefu_outbox_backlog",
            "Outbox messages ready to send, waiting for (or held by) a desk's sender",
            backlog,
        ),
        _gauge(
            "kefu_outbox_deferred",
            "Outbox messages waiting for their time: quiet hours, rate limit, retry",
            deferred,
        ),
        _gauge("kefu_handoff_queue_length", "Conversations waiting for a human agent", waiting),
        _gauge("kefu_handoff_active", "Conversations an agent is handling now", with_agent),
        _gauge(
            "kefu_handoff_longest_wait_seconds",
            "How long the longest-waiting conversation in the handoff queue has waited (0: none)",
            max(0.0, now - oldest_queued_ms / 1000) if oldest_queued_ms is not None else 0.0,
        ),
        _gauge(
            "kefu_sla_overdue",
            "Ticket SLA deadlines passed and not yet escalated by an SLA monitor",
            overdue,
        ),
    ]


async def _oldest_handoff_ms(redis: aioredis.Redis) -> int | None:
    """Enqueue time (epoch ms) of the longest-waiting queued conversation; None if empty.
    Scores are `band * RANK_FACTOR + enqueued ms` (bot.handoff.store)."""
    oldest: int | None = None
    low: float | str = "-inf"
    for _ in range(MAX_PRIORITY_BANDS):
        first = await redis.zrangebyscore(
            handoff.QUEUE, low, "+inf", start=0, num=1, withscores=True
        )
        if not first:
            break
        score = int(first[0][1])
        band, enqueued_ms = divmod(score, handoff.RANK_FACTOR)
        oldest = enqueued_ms if oldest is None else min(oldest, enqueued_ms)
        low = (band + 1) * handoff.RANK_FACTOR
    return oldest
