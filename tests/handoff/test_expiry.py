"""Bounded handoffs (issue 8, item 5): queued handoffs nobody claims expire with a callback
offer, and handoff requests are limited per conversation."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.desk.console.context import CONSOLE
from bot.handoff.agent_ops import CALLBACK_OFFERED_SLOT, AgentOps
from bot.handoff.policy import HandoffConfig
from bot.handoff.service import RATE_LIMITED, HandoffService, QueueTicket, Unavailable
from bot.handoff.store import CHANGES, CLOSED, EXPIRED_BY, QUEUED, HandoffStore
from tests.support.handoff import FakeClock, FakeRasa, policy


async def test_unclaimed_handoffs_expire_with_a_callback_offer(
    desk: TestClient, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    console = desk.server.app[CONSOLE]
    timeout = console.store.policy.queue_timeout_s
    assert timeout == 900  # content/handoff/queue.yml
    clock = FakeClock(time.time())
    ops = AgentOps(console.store, console.rasa, open_config.messages, clock=clock)
    store = console.store
    start = clock.now
    await store.enqueue(
        "web-old", channel="socketio", language="en", grade=None, reason="x", now=start
    )
    await store.enqueue(
        "sms:+8613900139000", channel="sms", language="zh", grade="P1", reason="x", now=start
    )
    await store.enqueue(
        "web-taken", channel="socketio", language="zh", grade=None, reason="x", now=start
    )
    await store.claim("web-taken", "wang.fang", start + 1)
    await store.enqueue(
        "web-new", channel="socketio", language="zh", grade=None, reason="x", now=start + 600
    )

    clock.advance(timeout - 1)
    assert await ops.expire_waiting() == 0  # not yet
    clock.advance(2)
    assert await ops.expire_waiting() == 2
    assert await ops.expire_waiting() == 0  # each expires once

    old = await store.get("web-old")
    assert old.state == CLOSED and old.ended_by == EXPIRED_BY
    assert (await store.get("web-taken")).state == "agent"  # a claimed chat never expires
    assert (await store.get("web-new")).state == QUEUED
    assert [c.id for c in await store.queue()] == ["web-new"]

    # The customer hears it in their language, on their channel, with the callback offer
    # the bot's rules answer (yes -> callback form, no -> hotline), and the bot listens.
    post = next(p for p in fake_rasa.posts if p["conversation"] == "web-old")
    assert post["query"]["output_channel"] == "socketio"
    events = post["events"]
    assert [e["event"] for e in events] == ["resume", "bot", "slot", "action"]
    notice = events[1]
    assert notice["metadata"]["kefu_event"] == "queue_expired"
    assert "15 minutes" in notice["text"] and "callback" in notice["text"]
    assert [b["payload"] for b in notice["data"]["buttons"]] == ["/affirm", "/deny"]
    assert events[2] == {"event": "slot", "name": CALLBACK_OFFERED_SLOT, "value": True}
    assert events[3]["name"] == "action_listen"
    sms = next(p for p in fake_rasa.posts if p["conversation"] == "sms:+8613900139000")
    assert sms["query"]["output_channel"] == "sms"
    assert "15 分钟" in sms["events"][1]["text"]
    assert not fake_rasa.paused.get("web-old")
    # The consoles hear of it (the changes stream).
    changes = await store.redis.xrange(CHANGES)
    expired = sorted(f["conversation"] for _, f in changes if f["change"] == "expired")
    assert expired == ["sms:+8613900139000", "web-old"]


async def test_an_expiry_rasa_missed_is_retried_as_an_expiry(
    desk: TestClient, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    console = desk.server.app[CONSOLE]
    clock = FakeClock(time.time())
    ops = AgentOps(console.store, console.rasa, open_config.messages, clock=clock)
    await console.store.enqueue(
        "web-1", channel="socketio", language="zh", grade=None, reason="x", now=clock.now
    )
    fake_rasa.paused["web-1"] = True
    fake_rasa.fail = True
    clock.advance(console.store.policy.queue_timeout_s + 1)
    assert await ops.expire_waiting() == 1
    fake_rasa.fail = False
    clock.advance(60)
    assert await ops.retry_pending() == 1
    events = fake_rasa.events_for("web-1")
    assert events[1]["metadata"]["kefu_event"] == "queue_expired"
    assert not fake_rasa.paused["web-1"]


async def test_no_expiry_when_the_timeout_is_zero(redis: aioredis.Redis) -> None:
    store = HandoffStore(redis, policy(queue_timeout_s=0))
    ops = AgentOps(store, None, HandoffConfig.load().messages)  # type: ignore[arg-type]
    await store.enqueue("web-1", channel="socketio", language="zh", grade=None, reason="x", now=1.0)
    assert await ops.expire_waiting() == 0
    assert (await store.get("web-1")).state == QUEUED


async def test_handoff_requests_are_limited_per_conversation(
    redis: aioredis.Redis, open_config: HandoffConfig, clock: FakeClock
) -> None:
    service = HandoffService.build(redis, open_config, clock=clock)
    await service.presence.heartbeat("wang.fang", clock.now)
    limit = open_config.queue.request_limit
    for _ in range(limit):
        outcome = await service.request("web-1", "socketio", "zh")
        assert isinstance(outcome, QueueTicket) and not outcome.already_waiting
        # Asking again while waiting is not a new request.
        again = await service.request("web-1", "socketio", "zh")
        assert isinstance(again, QueueTicket) and again.already_waiting
        await service.store.release("web-1", target=CLOSED, actor="wang.fang", owner=None)
    refused = await service.request("web-1", "socketio", "zh")
    assert isinstance(refused, Unavailable) and refused.reason == RATE_LIMITED
    assert (await service.store.get("web-1")).state == CLOSED  # not queued again
    # Another conversation is not affected.
    assert isinstance(await service.request("web-2", "socketio", "zh"), QueueTicket)
