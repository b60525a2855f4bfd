"""The broadcast worker on the real change stream: acknowledged only once queued, a dead
worker's change reclaimed, and a SIGKILL mid-broadcast loses nothing and sends nothing
twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.accounts.demo import DemoBackend
from bot.notices import progress, subscriptions
from bot.notices.worker import GROUP, BroadcastWorker
from bot.outages.registry import CHANGES, OutageRegistry
from bot.sms import outbox
from tests.conftest import ROOT
from tests.support.notices import FakeBackend, account, notices_by_phone
from tests.support.sms import eventually

TEXT = {"zh": "线路故障抢修", "en": "A cable is being repaired."}


def worker_for(redis: aioredis.Redis, backend: object, **kwargs: object) -> BroadcastWorker:
    return BroadcastWorker(
        redis,
        backend,  # type: ignore[arg-type]
        OutageRegistry(redis),
        validity_s=4 * 3600,
        merge_s=300,
        reclaim_idle_s=kwargs.pop("reclaim_idle_s", 60.0),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


async def publish(redis: aioredis.Redis, kind: str = "fault", **kwargs: object):  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    return await OutageRegistry(redis).publish(
        areas=kwargs.get("areas", ["chaoyang"]),  # type: ignore[arg-type]
        kind=kind,
        starts_at=now + timedelta(hours=1 if kind == "planned" else 0),
        eta=now + timedelta(hours=4),
        cause="cable fault",
        text=TEXT,
        actor="ops1",
    )


async def pending(redis: aioredis.Redis) -> int:
    info = await redis.xpending(CHANGES, GROUP)
    return int(info["pending"])


async def test_a_change_is_broadcast_then_acknowledged(redis: aioredis.Redis) -> None:
    await subscriptions.subscribe(
        redis, "+8613900000001", topic="outage", area="chaoyang", language="zh"
    )
    backend = FakeBackend([account("A1", "+8613900000002", "chaoyang", "en")])
    worker = worker_for(redis, backend)
    fault = await publish(redis)
    await worker.read_once()
    sent = await notices_by_phone(redis)
    assert set(sent) == {"+8613900000001", "+8613900000002"}
    assert await pending(redis) == 0
    assert (await progress.summary(redis, fault.id))["recipients"] == 2
    # A text change sends nothing; a restoration sends one more each.
    registry = OutageRegistry(redis)
    await registry.update(fault.id, actor="ops1", text={"zh": "新说明", "en": "New text."})
    await registry.update(fault.id, actor="ops1", status="restored")
    await worker.read_once()
    await worker.read_once()
    assert sorted(len(m) for m in (await notices_by_phone(redis)).values()) == [2, 2]
    assert await pending(redis) == 0


async def test_a_backend_failure_leaves_the_change_pending_for_a_retry(
    redis: aioredis.Redis,
) -> None:
    backend = FakeBackend([account("A1", "+8613900000002", "chaoyang", "en")])
    backend.down = True
    worker = worker_for(redis, backend, reclaim_idle_s=0.0)
    await publish(redis)
    with pytest.raises(Exception, match="down"):
        await worker.read_once()
    assert await pending(redis) == 1 and await redis.zcard(outbox.RECENT) == 0
    backend.down = False
    assert await worker.reclaim_once() == 1
    assert await pending(redis) == 0 and await redis.zcard(outbox.RECENT) == 1


async def test_an_outage_over_before_its_announcement_is_not_announced(
    redis: aioredis.Redis,
) -> None:
    backend = FakeBackend([account("A1", "+8613900000002", "chaoyang", "en")])
    fault = await publish(redis)
    await OutageRegistry(redis).update(fault.id, actor="ops1", status="restored")
    worker = worker_for(redis, backend)
    await worker.read_once()  # published: the outage is already restored, skip
    await worker.read_once()  # restored: tell them
    [[record]] = (await notices_by_phone(redis)).values()
    assert "power is back" in record["body"]


async def test_sigkill_mid_broadcast_then_restart_sends_each_notice_once(
    redis: aioredis.Redis, notices_redis_url: str, tmp_path: Path
) -> None:
    subscribers = [f"+86139{n:08d}" for n in range(3000)]
    async with redis.pipeline(transaction=False) as pipe:
        for phone in subscribers:
            pipe.hset(subscriptions.index_key("outage", "chaoyang"), phone, "zh")
        await pipe.execute()
    holders = {a.holder_phone for a in await DemoBackend(None).holders_in_areas(["chaoyang"])}
    expected = set(subscribers) | holders
    fault = await publish(redis)
    env = {
        **os.environ,
        "REDIS_URL": notices_redis_url,
        "SMS_RECLAIM_IDLE_S": "1",
        "KEFU_ACCOUNTS_BACKEND": "demo",
    }
    command = [sys.executable, "-m", "bot.notices.worker", "--batch", "25"]

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    first = start("first")
    try:
        await eventually(lambda: _at_least(redis, 300), timeout=60, interval=0.01)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    queued_at_kill = await redis.zcard(outbox.RECENT)
    assert 0 < queued_at_kill < len(expected), "the kill must land mid-broadcast"
    assert await pending(redis) == 1  # the change is not acknowledged

    second = start("second")
    try:

        async def done() -> bool:
            return await pending(redis) == 0 and await redis.zcard(outbox.RECENT) >= len(expected)

        await eventually(done, timeout=120, interval=0.1)
    finally:
        second.terminate()
        second.wait(10)
    sent = await notices_by_phone(redis)
    assert set(sent) == expected
    assert {phone for phone, messages in sent.items() if len(messages) != 1} == set()
    summary = await progress.summary(redis, fault.id)
    assert summary["recipients"] == len(expected) == summary["queued"]
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert "reclaimed" in log


async def _at_least(redis: aioredis.Redis, count: int) -> bool:
    return int(await redis.zcard(outbox.RECENT)) >= count


def test_the_worker_module_runs_as_a_script() -> None:
    # `python -m bot.notices.worker --help` works without Redis (an entry point, not a test).
    out = subprocess.run(
        [sys.executable, "-m", "bot.notices.worker", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--batch" in out.stdout
