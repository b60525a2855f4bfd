"""The supervised periodic task: runs rounds, survives and counts failures, stops."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.tasks import Periodic, Workers


async def _until(predicate, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_runs_counts_failures_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RedisConnectionError("redis down")
        if calls == 3:
            raise ValueError("bug")

    workers = Workers()
    with caplog.at_level(logging.INFO, logger="bot.tasks"):
        workers.periodic("probe", step, every_s=0.01)
        await _until(lambda: calls >= 5)
        await workers.stop_all()
    status = workers.status()["probe"]
    assert status["running"] is False
    assert status["errors"] == 2
    assert status["steps"] >= 3
    assert status["last_error"] == "ValueError: bug"
    text = caplog.text
    assert "worker probe started" in text and "worker probe stopped" in text
    assert "redis down" in text
    # A Redis failure is one line; anything else gets its traceback.
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [str(r.exc_info[1]) for r in tracebacks] == ["bug"]


async def test_delay_first_waits_and_stop_cancels_a_blocked_step() -> None:
    started = asyncio.Event()

    async def blocked() -> None:
        started.set()
        await asyncio.Event().wait()  # never returns: stop must still end it

    worker = Periodic("blocked", blocked, every_s=0.05, delay_first=True).start()
    await asyncio.sleep(0.01)
    assert not started.is_set()
    await asyncio.wait_for(started.wait(), 1)
    assert worker.stats.running
    await asyncio.wait_for(worker.stop(), 2)
    assert not worker.stats.running


async def test_one_running_worker_per_name() -> None:
    workers = Workers()

    async def step() -> None:
        await asyncio.sleep(1)

    workers.periodic("same", step, every_s=1)
    await asyncio.sleep(0)
    with pytest.raises(ValueError):
        workers.periodic("same", step, every_s=1)
    await workers.stop_all()


async def test_backoff_doubles_up_to_the_limit_and_resets_on_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep
    outcomes = iter([False, False, False, False, True, False])
    done = asyncio.Event()

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    async def step() -> None:
        ok = next(outcomes, None)
        if ok is None:
            done.set()
            await asyncio.Event().wait()
        if not ok:
            raise OSError("down")

    monkeypatch.setattr("bot.tasks.asyncio.sleep", fake_sleep)
    worker = Periodic("backoff", step, every_s=0, retry_s=0.1, retry_max_s=0.5).start()
    await asyncio.wait_for(done.wait(), 2)
    await worker.stop()
    assert waits == [0.1, 0.2, 0.4, 0.5, 0, 0.1]
