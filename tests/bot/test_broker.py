"""The Rasa event broker: every tracker event lands in the Redis Stream, in order, bounded."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, ConversationPaused, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import broker
from bot.broker import RedisStreamEventBroker
from tests.conftest import RedisServer
from tests.support.handoff import db_url

STREAM = "test:events"


async def make(redis_server: RedisServer, **kwargs) -> RedisStreamEventBroker:  # type: ignore[no-untyped-def]
    config = EndpointConfig(
        url=db_url(redis_server),
        type="bot.broker.RedisStreamEventBroker",
        stream=STREAM,
        **kwargs,
    )
    created = await EventBroker.create(config)  # the way Rasa loads endpoints.yml
    assert isinstance(created, RedisStreamEventBroker)
    return created


async def test_rasa_loads_it_and_tracker_events_reach_the_stream(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    event_broker = await make(redis_server)
    assert event_broker.is_ready() and event_broker.stream == STREAM
    # Rasa's own tracker store publishes exactly what it saves.
    store = InMemoryTrackerStore(Domain.empty(), event_broker=event_broker)
    tracker = DialogueStateTracker("web-abc", slots=[])
    tracker.update(UserUttered("我要转人工", {"name": "human_handoff", "confidence": 0.9}))
    tracker.update(BotUttered("正在为您转接", metadata={"agent_name": None}))
    tracker.update(ConversationPaused())
    await store.save(tracker)
    assert await event_broker.flush()

    entries = await redis.xrange(STREAM)
    assert [f["type"] for _, f in entries] == ["user", "bot", "pause"]
    assert {f["sender_id"] for _, f in entries} == {"web-abc"}
    first = broker.decode(entries[0][1])
    assert first["text"] == "我要转人工" and first["sender_id"] == "web-abc"
    assert first["parse_data"]["intent"]["name"] == "human_handoff"
    await event_broker.close()


async def test_order_is_kept_and_the_stream_stays_bounded(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    event_broker = await make(redis_server, max_len=1000)
    for i in range(5000):
        event_broker.publish({"event": "user", "sender_id": "s", "text": str(i), "timestamp": i})
        if i % 700 == 0:
            await asyncio.sleep(0)  # let the writer run mid-way, as in a live server
    assert await event_broker.flush(timeout=30)
    length = await redis.xlen(STREAM)
    assert 1000 <= length < 5000  # MAXLEN ~ trims in whole nodes
    texts = [broker.decode(f)["text"] for _, f in await redis.xrange(STREAM)]
    assert texts == [str(i) for i in range(5000 - length, 5000)]
    await event_broker.close()


async def test_redis_down_buffers_without_raising() -> None:
    event_broker = RedisStreamEventBroker("redis://127.0.0.1:1/0", stream=STREAM, buffer_max=3)
    await event_broker.connect()
    assert not event_broker.is_ready()
    for i in range(5):
        event_broker.publish({"event": "user", "sender_id": "s", "text": str(i)})
    await asyncio.sleep(0.2)
    assert event_broker.dropped == 2  # bounded memory: the oldest go first
    assert not await event_broker.flush(timeout=0.3)
    await event_broker.close()


def test_publishing_outside_an_event_loop_writes_directly(redis_server: RedisServer) -> None:
    import redis as sync_redis

    event_broker = RedisStreamEventBroker(db_url(redis_server), stream="test:sync")
    client = sync_redis.Redis.from_url(db_url(redis_server), decode_responses=True)
    try:
        client.delete("test:sync")
        event_broker.publish({"event": "restart", "sender_id": "s"})
        assert [f["type"] for _, f in client.xrange("test:sync")] == ["restart"]
    finally:
        client.delete("test:sync")
        client.close()
