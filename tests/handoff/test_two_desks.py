"""Two desk processes on one Redis: one queue, nothing lost, nothing handled twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot import broker
from bot.desk.console.context import CONSOLE
from bot.handoff.sync import GROUP as SYNC_GROUP
from bot.handoff.policy import HandoffConfig
from bot.handoff.service import HandoffService
from tests.conftest import RedisServer
from tests.support.handoff import (
    FakeRasa,
    create_user,
    desk_settings,
    eventually,
    login,
    start_desk,
)

N = 24


@pytest.fixture
async def desks(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> AsyncIterator[tuple[TestClient, TestClient]]:
    settings = desk_settings(redis_server, fake_rasa)
    one, two = await start_desk(settings), await start_desk(settings)
    yield one, two
    await one.close()
    await two.close()


async def test_agents_on_two_desks_share_the_queue_without_loss_or_duplicates(
    desks: tuple[TestClient, TestClient],
    redis: aioredis.Redis,
    open_config: HandoffConfig,
    fake_rasa: FakeRasa,
) -> None:
    one, two = desks
    service = HandoffService.build(redis, open_config)
    await service.presence.heartbeat("a0")
    for i in range(N):
        await service.request(f"web-{i:02d}", "socketio", "zh")
    agents = []
    for i in range(4):
        await create_user(redis, f"a{i}")
    # Four agents, two on each desk process, each with their own session.
    clients = []
    for i in range(4):
        client = TestClient(one.server if i % 2 == 0 else two.server)
        await client.start_server()
        clients.append(client)
        agents.append(await login(client, f"a{i}"))

    # Both desks show the same queue.
    views = []
    for client in clients[:2]:
        views.append(await (await client.get("/console/api/queue")).json())
    assert [c["id"] for c in views[0]["queue"]] == [c["id"] for c in views[1]["queue"]]
    assert len(views[0]["queue"]) == N

    async def take_all(client: TestClient, csrf: str) -> list[str]:
        taken = []
        while True:
            response = await client.post("/console/api/queue/next", headers={"X-CSRF-Token": csrf})
            if response.status == 404:
                return taken
            assert response.status == 200, await response.text()
            taken.append((await response.json())["conversation"]["id"])

    results = await asyncio.gather(*(take_all(c, t) for c, t in zip(clients, agents, strict=True)))
    everything = [c for batch in results for c in batch]
    assert sorted(everything) == [f"web-{i:02d}" for i in range(N)]  # none lost, none twice
    assert all(results), "every agent got some work"
    holders = {}
    for client_index, batch in enumerate(results):
        for conversation in batch:
            holders[conversation] = f"a{client_index}"
    store = one.server.app[CONSOLE].store
    for conversation, agent in holders.items():
        assert (await store.get(conversation)).agent == agent
    # Each customer heard exactly one "agent joined".
    joins = [
        p["conversation"]
        for p in fake_rasa.posts
        if p["events"][0].get("metadata", {}).get("kefu_event") == "agent_joined"
    ]
    assert sorted(joins) == sorted(everything)
    for client in clients:
        await client.close()


async def test_both_desks_see_live_changes_and_events_are_processed_once(
    desks: tuple[TestClient, TestClient], redis: aioredis.Redis, open_config: HandoffConfig
) -> None:
    one, two = desks
    await create_user(redis, "a1")
    await create_user(redis, "a2")
    await login(one, "a1")
    await login(two, "a2")
    sockets = [await one.ws_connect("/console/ws"), await two.ws_connect("/console/ws")]

    async def queue_with(ws, conversation: str) -> None:  # type: ignore[no-untyped-def]
        while True:
            message = json.loads((await ws.receive(timeout=10)).data)
            if message["type"] == "queue" and conversation in {c["id"] for c in message["queue"]}:
                return

    service = HandoffService.build(redis, open_config)
    await service.presence.heartbeat("a1")
    for i in range(N):
        await service.request(f"web-{i:02d}", "socketio", "zh")
    # A change made through either desk (or the action server) reaches both.
    await asyncio.gather(*(queue_with(ws, f"web-{N - 1:02d}") for ws in sockets))

    # Customer messages published by Rasa: the two desks' sync workers share them, each
    # entry handled by exactly one of them.
    syncs = [one.server.app[CONSOLE].sync, two.server.app[CONSOLE].sync]
    before = sum(s.processed for s in syncs)
    for i in range(N):
        event = {"event": "user", "sender_id": f"web-{i:02d}", "text": f"msg {i}", "timestamp": 2e9}
        await redis.xadd(broker.STREAM, broker.encode(event))
    store = one.server.app[CONSOLE].store

    async def all_recorded() -> bool:
        return all([(await store.get(f"web-{i:02d}")).last_text == f"msg {i}" for i in range(N)])

    await eventually(all_recorded)
    await eventually(lambda: _done(syncs, before + N))
    assert sum(s.processed for s in syncs) == before + N  # none twice
    groups = {g["name"]: g for g in await redis.xinfo_groups(broker.STREAM)}
    assert groups[SYNC_GROUP]["pending"] == 0 and groups[SYNC_GROUP]["consumers"] >= 2
    for ws in sockets:
        await ws.close()


async def _done(syncs: list, total: int) -> bool:  # type: ignore[type-arg]
    return sum(s.processed for s in syncs) >= total
