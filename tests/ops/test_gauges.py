"""The Redis-derived gauges against a real Redis, where no desk's sender drains the outbox
(tests/ops/test_desk.py reads the rest through a desk's /metrics)."""

from __future__ import annotations

import time

from prometheus_client.core import Metric

from bot import db
from bot.ops import gauges
from bot.sms import outbox
from tests.conftest import RedisServer, free_port
from tests.support.databases import flushed_redis

DB = 5  # ours; other tests use 0-4, 6, 7, 9-14


def values(families: list[Metric]) -> dict[str, float]:
    return {sample.name: sample.value for family in families for sample in family.samples}


async def test_outbox_backlog_and_deferred_messages(redis_server: RedisServer) -> None:
    async with flushed_redis(redis_server.db_url(DB)) as redis:
        await redis.xadd(outbox.STREAM, {"id": "m1"})
        await redis.xadd(outbox.STREAM, {"id": "m2"})
        await redis.zadd(outbox.DELAYED, {"m3": time.time() + 3600})
        found = values(await gauges.queue_gauges(redis))
        await redis.flushdb()
    assert found["kefu_redis_up"] == 1
    assert found["kefu_outbox_backlog"] == 2
    assert found["kefu_outbox_deferred"] == 1
    assert found["kefu_handoff_longest_wait_seconds"] == 0  # an empty queue waits for nothing


async def test_an_unreachable_redis_is_a_value_not_an_error() -> None:
    redis = db.connect(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert values(await gauges.queue_gauges(redis)) == {"kefu_redis_up": 0}
        assert values(await gauges.redis_up(redis)) == {"kefu_redis_up": 0}
    finally:
        await redis.close()
