from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from bot.sms.ratelimit import RateLimiter


async def test_slots_are_shared_across_processes(redis: aioredis.Redis, sms_redis_url: str) -> None:
    other = aioredis.Redis.from_url(sms_redis_url, decode_responses=True)  # a second process
    try:
        limiters = [RateLimiter(redis, 10.0), RateLimiter(other, 10.0)]
        waits = [await limiters[i % 2].reserve() for i in range(10)]
    finally:
        await other.close()
    # Each reservation gets the next free 100 ms slot, whichever process asks.
    assert waits[0] == 0.0
    gaps = [b - a for a, b in zip(waits, waits[1:], strict=False)]
    assert all(0.0 < gap <= 0.1 for gap in gaps), gaps
    assert 0.5 < waits[-1] <= 0.9


async def test_idle_limiter_does_not_bank_a_burst(redis: aioredis.Redis) -> None:
    """Time spent idle is not saved up: after a pause of five intervals, the next sends
    still go one interval apart, not five at once (which Twilio would answer with 429)."""
    limiter = RateLimiter(redis, 10.0)  # one send every 100 ms
    assert await limiter.reserve() <= 0.0
    await asyncio.sleep(0.5)  # idle: five slots go unused
    loop = asyncio.get_running_loop()
    waits, sends = [], []
    for _ in range(5):
        asked = loop.time()
        waits.append(await limiter.reserve())
        # When this send may go: a negative wait (a slot in the past) means "now".
        sends.append(asked + max(0.0, waits[-1]))
    assert waits[0] <= 0.0  # the first send after the pause goes at once
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps), gaps


async def test_acquired_sends_are_never_closer_than_the_interval(
    redis: aioredis.Redis, sms_redis_url: str
) -> None:
    """acquire() commits each send by Redis's clock: even a caller that wakes late from its
    booked slot cannot bunch up with punctual ones, so any 1-second window holds at most
    `per_second` sends."""
    other = aioredis.Redis.from_url(sms_redis_url, decode_responses=True)
    try:
        limiters = [RateLimiter(redis, 20.0), RateLimiter(other, 20.0)]

        async def late_then_acquire(i: int) -> float:
            if i % 3 == 0:  # a caller held up between booking and sending
                delay = await limiters[i % 2].reserve()
                await asyncio.sleep(max(0.0, delay) + 0.12)
            return await limiters[i % 2].acquire()

        commits = sorted(await asyncio.gather(*(late_then_acquire(i) for i in range(24))))
    finally:
        await other.close()
    gaps = [b - a for a, b in zip(commits, commits[1:], strict=False)]
    assert min(gaps) >= 0.05 - 1e-6, gaps
    assert max(sum(1 for t in commits if s <= t < s + 1.0) for s in commits) <= 20
