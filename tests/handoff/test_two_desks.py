"""Two desk processes (`python -m bot.desk`, as deployed) on one Redis: one queue, nothing
lost, nothing claimed twice; both see every live change; Rasa's events are shared by the
two processes' handoff sync workers (one consumer group)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot import broker
from bot.handoff.policy import HandoffConfig
from bot.handoff.service import HandoffService
from bot.handoff.store import HandoffStore
from bot.handoff.sync import GROUP as SYNC_GROUP
from tests.conftest import RedisServer
from tests.support.handoff import (
    DeskProcess,
    FakeRasa,
    create_user,
    eventually,
    login,
    running_desk,
)

N = 24


@pytest.fixture
def desks(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa, tmp_path: Path
) -> Iterator[tuple[DeskProcess, DeskProcess]]:
    with ExitStack() as processes:
        one = processes.enter_context(running_desk(redis_server, fake_rasa, tmp_path / "one"))
        two = processes.enter_context(running_desk(redis_server, fake_rasa, tmp_path / "two"))
        yield one, two


@pytest.fixture
async def browsers() -> AsyncIterator[list[aiohttp.ClientSession]]:
    """Browsers (each its own cookie jar) opened with browser(); closed after the test."""
    opened: list[aiohttp.ClientSession] = []
    yield opened
    for session in opened:
        await session.close()


def browser(desk: DeskProcess, opened: list[aiohttp.ClientSession]) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(base_url=desk.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    opened.append(session)
    return session


async def test_agents_on_two_desks_share_the_queue_without_loss_or_duplicates(
    desks: tuple[DeskProcess, DeskProcess],
    browsers: list[aiohttp.ClientSession],
    redis: aioredis.Redis,
    open_config: HandoffConfig,
    fake_rasa: FakeRasa,
) -> None:
    one, two = desks
    service = HandoffService.build(redis, open_config)
    await service.presence.heartbeat("a0")
    for i in range(N):
        await service.request(f"web-{i:02d}", "socketio", "zh")
    # Four agents, two on each desk process, each with their own session.
    clients, tokens = [], []
    for i in range(4):
        await create_user(redis, f"a{i}")
        client = browser(one if i % 2 == 0 else two, browsers)
        tokens.append(await login(client, f"a{i}"))
        clients.append(client)

    # Both desks show the same queue.
    views = [await (await client.get("/console/api/queue")).json() for client in clients[:2]]
    assert [c["id"] for c in views[0]["queue"]] == [c["id"] for c in views[1]["queue"]]
    assert len(views[0]["queue"]) == N

    async def take_all(client: aiohttp.ClientSession, csrf: str) -> list[str]:
        taken = []
        while True:
            response = await client.post("/console/api/queue/next", headers={"X-CSRF-Token": csrf})
            if response.status == 404:
                return taken
            assert response.status == 200, await response.text()
            taken.append((await response.json())["conversation"]["id"])

    results = await asyncio.gather(*(take_all(c, t) for c, t in zip(clients, tokens, strict=True)))
    everything = [c for batch in results for c in batch]
    assert sorted(everything) == [f"web-{i:02d}" for i in range(N)]  # none lost, none twice
    assert results[0] + results[2] and results[1] + results[3], "both desks handed out work"
    store = HandoffStore(redis, open_config.queue)
    for client_index, batch in enumerate(results):
        for conversation in batch:
            assert (await store.get(conversation)).agent == f"a{client_index}"
    # Each customer heard exactly one "agent joined".
    joins = [
        p["conversation"]
        for p in fake_rasa.posts
        if any(e.get("metadata", {}).get("kefu_event") == "agent_joined" for e in p["events"])
    ]
    assert sorted(joins) == sorted(everything)


async def test_both_desks_see_live_changes_and_share_rasas_events(
    desks: tuple[DeskProcess, DeskProcess],
    browsers: list[aiohttp.ClientSession],
    redis: aioredis.Redis,
    open_config: HandoffConfig,
) -> None:
    one, two = desks
    sockets = []
    for desk, name in ((one, "a1"), (two, "a2")):
        await create_user(redis, name)
        client = browser(desk, browsers)
        await login(client, name)
        sockets.append(await client.ws_connect("/console/ws"))

    async def queue_with(ws: aiohttp.ClientWebSocketResponse, conversation: str) -> None:
        while True:
            message = json.loads((await ws.receive(timeout=10)).data)
            if message["type"] == "queue" and conversation in {c["id"] for c in message["queue"]}:
                return

    service = HandoffService.build(redis, open_config)
    await service.presence.heartbeat("a1")
    for i in range(N):
        await service.request(f"web-{i:02d}", "socketio", "zh")
    # A change made outside both desks (here: the action server's path) reaches both.
    await asyncio.gather(*(queue_with(ws, f"web-{N - 1:02d}") for ws in sockets))

    # Customer messages published by Rasa: the two processes' sync workers read them in
    # one consumer group, so each entry is delivered to one of them and acknowledged.
    for i in range(N):
        event = {"event": "user", "sender_id": f"web-{i:02d}", "text": f"msg {i}", "timestamp": 2e9}
        await redis.xadd(broker.STREAM, broker.encode(event))
    store = HandoffStore(redis, open_config.queue)

    async def all_recorded() -> bool:
        return all([(await store.get(f"web-{i:02d}")).last_text == f"msg {i}" for i in range(N)])

    async def all_acknowledged() -> bool:
        groups = {g["name"]: g for g in await redis.xinfo_groups(broker.STREAM)}
        return groups[SYNC_GROUP]["pending"] == 0

    await eventually(all_recorded)
    await eventually(all_acknowledged)
    consumers = await redis.xinfo_consumers(broker.STREAM, SYNC_GROUP)
    assert len(consumers) >= 2  # one per desk process
    for ws in sockets:
        await ws.close()
