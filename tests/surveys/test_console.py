"""The console's low-rating alerts: supervisors list and acknowledge them; agents get 403."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot import db
from bot.surveys import alerts
from bot.surveys.console import BASE
from tests.conftest import RedisServer
from tests.support.handoff import create_user, login, post
from tests.support.handoff import db_url as desk_db_url


@pytest.fixture
async def desk_redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The desk fixture's database (the handoff fixtures')."""
    client = db.connect(desk_db_url(redis_server))
    await client.flushdb()
    yield client
    await client.close()


async def test_supervisors_see_and_acknowledge_low_rating_alerts(
    desk_redis: aioredis.Redis, desk: TestClient
) -> None:
    details = {"ticket": "TK20261125-0001", "rating": "1", "comment": "<b>还是没电</b>"}
    assert await alerts.raise_alert(desk_redis, "TK20261125-0001:1", 1.0e9 * 1.8, details)
    assert not await alerts.raise_alert(desk_redis, "TK20261125-0001:1", 1.8e9, details)
    await create_user(desk_redis, "zhang.boss", "supervisor")
    csrf = await login(desk, "zhang.boss")
    listed = await (await desk.get(BASE)).json()
    [alert] = listed["alerts"]
    assert (alert["id"], alert["ticket"], alert["rating"], alert["comment"]) == (
        "TK20261125-0001:1",
        "TK20261125-0001",
        1,
        "<b>还是没电</b>",
    )
    missing = await post(desk, csrf, f"{BASE}/TK20261125-0002:1/ack", {})
    assert missing.status == 404 and (await missing.json())["field"] == "alert"
    done = await post(desk, csrf, f"{BASE}/TK20261125-0001:1/ack", {})
    assert done.status == 200
    assert (await (await desk.get(BASE)).json())["alerts"] == []


async def test_agents_are_refused(desk_redis: aioredis.Redis, desk: TestClient) -> None:
    await create_user(desk_redis, "wang.fang", "agent")
    csrf = await login(desk, "wang.fang")
    refused = await desk.get(BASE)
    assert refused.status == 403 and (await refused.json())["field"] == "role"
    ack = await post(desk, csrf, f"{BASE}/TK20261125-0001:1/ack", {})
    assert ack.status == 403


async def test_without_a_session(desk: TestClient) -> None:
    response = await desk.get(BASE, allow_redirects=False)
    assert response.status in (302, 303, 401, 403)
