"""The console's websocket (/console/ws): one per open console page.

It receives what the live view (live.py) pushes for its user, and sends "watch" requests
for a conversation. It re-checks its session every SESSION_CHECK_S and on every message it
receives, and closes (SESSION_ENDED, 4401) once the session is logged out or revoked. While an
agent's console is open, it keeps the agent's presence alive (agents online = agents with
a console open).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from bot.desk.console.api import may_read, snapshot, view_for
from bot.desk.console.context import (
    CONSOLE,
    Console,
    current_session,
    current_user,
    valid_conversation_id,
)
from bot.desk.console.live import LiveClient, LiveHub
from bot.tasks import Periodic, stop_task

log = logging.getLogger(__name__)

SESSION_CHECK_S = 5.0


async def session_valid(console: Console, client: LiveClient) -> bool:
    """Re-reads the session and its user (logout, password change, disable, role change)."""
    try:
        session = await console.sessions.get(client.session.token)
        user = await console.users.get(client.session.username) if session else None
    except (RedisError, OSError, asyncio.TimeoutError):
        return True  # Redis hiccup: keep the page; the next check decides
    if session is None or not console.sessions.valid_for(session, user):
        return False
    assert user is not None
    client.user = user
    return True


async def _check_session(console: Console, client: LiveClient) -> None:
    if not await session_valid(console, client):
        await client.close_ended()  # the handler then returns and stops this check


async def websocket(request: web.Request) -> web.WebSocketResponse:
    console = request.app[CONSOLE]
    hub: LiveHub = console.hub  # type: ignore[assignment]
    user = current_user(request)
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=4096)
    await ws.prepare(request)
    client = LiveClient(ws, user, current_session(request))
    writer = asyncio.create_task(client.write_forever())
    # Per connection, so not in the desk's /healthz workers; failures are still logged.
    checks = [
        Periodic(
            f"session check {user.username}",
            lambda: _check_session(console, client),
            SESSION_CHECK_S,
            delay_first=True,
        ).start()
    ]
    if user.role == "agent":  # agents online = agents with a console open
        checks.append(
            Periodic(
                f"presence {user.username}",
                lambda: console.presence.heartbeat(user.username),
                console.presence.ttl_s / 3,
            ).start()
        )
    hub.add(client)
    try:
        client.push({"type": "hello", "user": user.username, "role": user.role})
        client.push({"type": "queue", **view_for(await snapshot(console), user)})
        async for message in ws:
            if not await session_valid(console, client):
                await client.close_ended()
                break
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "watch":
                conversation_id = str(data.get("conversation") or "")
                conversation = (
                    await console.store.get(conversation_id)
                    if valid_conversation_id(conversation_id)
                    else None
                )
                if conversation is not None and may_read(client.user, conversation):
                    client.watching = conversation_id
                    client.push({"type": "watching", "conversation": conversation_id})
    finally:
        hub.remove(client)
        await stop_task(writer)
        for check in checks:
            await check.stop()
        if client.closing is not None:  # the session ended (logout, revocation)
            with contextlib.suppress(Exception):
                await client.closing
            # Offline now, not after the presence TTL (as at logout); another console of
            # theirs still open announces itself again with its next heartbeat.
            if user.role == "agent":
                with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
                    await console.presence.leave(user.username)
    return ws


def setup(app: web.Application) -> None:
    app.router.add_get("/console/ws", websocket)
