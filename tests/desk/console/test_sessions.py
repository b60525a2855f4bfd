"""Console sessions (issue 8, item 11): a per-user session index that a password change or
`disable` revokes, websockets that notice logout and revocation, and supervisor figures
for supervisors only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import aiohttp
import redis.asyncio as aioredis
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from bot.desk.console.live import SESSION_ENDED
from bot.desk.console.websocket import SESSION_CHECK_S
from bot.desk.users import UserStore, user_key, user_sessions_key
from bot.handoff.presence import Presence
from tests.support.handoff import PASSWORD, DeskProcess, create_user, eventually, login


async def browser_login(url: str, name: str) -> aiohttp.ClientSession:
    """A logged-in browser (its own cookie jar) on the real desk."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    form = await session.get(url + "/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    response = await session.post(
        url + "/console/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    return session


def users_cli(redis_url: str, *args: str, password: str | None = None) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    if password:
        env["KEFU_DESK_PASSWORD"] = password
    subprocess.run(
        [sys.executable, "-m", "bot.desk.users", *args],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )


async def closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await ws.receive(timeout=deadline - time.monotonic())
        if message.type == WSMsgType.CLOSE:
            return int(message.data)  # the code the server sent (what the browser sees)
        if message.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            return ws.close_code
    return None


async def _offline(presence: Presence, name: str) -> bool:
    return not await presence.is_online(name)


async def test_password_change_and_disable_revoke_every_session(
    desk_process: DeskProcess, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang")
    await create_user(redis, "li.na")
    url = desk_process.url
    laptop = await browser_login(url, "wang.fang")
    phone = await browser_login(url, "wang.fang")
    other = await browser_login(url, "li.na")
    try:
        assert await redis.scard(user_sessions_key("wang.fang")) == 2
        ws = await laptop.ws_connect(url + "/console/ws")
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "hello"
        presence = Presence(redis, 45)
        await eventually(lambda: presence.is_online("wang.fang"))

        users_cli(desk_process.redis_url, "passwd", "--name", "wang.fang", password="new " * 4)
        for browser in (laptop, phone):
            assert (await browser.get(url + "/console/api/queue")).status == 401
        assert not await redis.exists(user_sessions_key("wang.fang"))
        # The open console closes within a check interval, with the "log in again" code.
        assert await closed_with(ws, SESSION_CHECK_S + 5) == SESSION_ENDED
        await eventually(lambda: _offline(presence, "wang.fang"))
        # Someone else's session is untouched.
        assert (await other.get(url + "/console/api/queue")).status == 200

        users_cli(desk_process.redis_url, "disable", "--name", "li.na")
        assert (await other.get(url + "/console/api/queue")).status == 401
        assert [k async for k in redis.scan_iter("kefu:desk:session:*")] == []
    finally:
        for browser in (laptop, phone, other):
            await browser.close()


async def test_logout_closes_the_websocket_at_once(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")
    csrf = await login(desk, "wang.fang")
    ws = await desk.ws_connect("/console/ws")
    assert json.loads((await ws.receive(timeout=10)).data)["type"] == "hello"
    out = await desk.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    assert await closed_with(ws, 3) == SESSION_ENDED
    assert await redis.scard(user_sessions_key("wang.fang")) == 0


async def test_a_session_from_before_a_revocation_is_void(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    """A login that raced the revocation (created just before it, indexed after it)."""
    await create_user(redis, "wang.fang")
    await login(desk, "wang.fang")
    await redis.hset(user_key("wang.fang"), "sessions_after", repr(time.time() + 1))
    assert (await desk.get("/console/api/queue")).status == 401
    # The login form shows (no redirect back and forth with the guard).
    form = await desk.get("/console/login", allow_redirects=False)
    assert form.status == 200


async def test_only_supervisors_get_supervisor_figures(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang")
    await create_user(redis, "boss", role="supervisor")
    await login(desk, "wang.fang")
    queue = await (await desk.get("/console/api/queue")).json()
    assert queue["stats"] == {"queue_length": 0}
    ws = await desk.ws_connect("/console/ws")
    messages = [json.loads((await ws.receive(timeout=10)).data) for _ in range(2)]
    assert messages[1]["type"] == "queue" and "agents_online" not in messages[1]["stats"]
    await ws.close()

    desk.session.cookie_jar.clear()
    await login(desk, "boss")
    stats = (await (await desk.get("/console/api/queue")).json())["stats"]
    assert {"agents_online", "agents", "avg_handle_s", "longest_wait_s"} <= set(stats)
    ws = await desk.ws_connect("/console/ws")
    messages = [json.loads((await ws.receive(timeout=10)).data) for _ in range(2)]
    assert "agents_online" in messages[1]["stats"]
    await ws.close()


async def test_a_role_change_reaches_an_open_websocket(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    """Demoted while the console is open: the next snapshot is an agent's."""
    await create_user(redis, "boss", role="supervisor")
    await login(desk, "boss")
    ws = await desk.ws_connect("/console/ws")
    for _ in range(2):
        await ws.receive(timeout=10)
    await UserStore(redis).create("boss", "agent", PASSWORD, "Boss", replace=True)
    # Re-creating the user (a new password) also ends the session.
    assert await closed_with(ws, SESSION_CHECK_S + 5) == SESSION_ENDED
