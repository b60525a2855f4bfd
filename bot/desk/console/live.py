"""Live console: a websocket per open console page, fed from Redis Streams.

Each desk process runs:
- a LiveHub that XREADs (fan-out: every process sees every entry) the broker's event stream
  (bot.broker.STREAM: customer and bot messages) and the handoff changes stream (queued,
  claimed, handed back, closed, notes, tickets). It pushes new messages to the consoles
  watching that conversation, and a fresh queue snapshot to every console after changes;
- a SyncWorker in the consumer group "desk-handoff" on the event stream (each event is
  handled by exactly one desk process): it records the customer's latest message on the
  queue entry, and closes a handoff whose conversation Rasa restarted or expired;
- a retry loop for hand-backs/closes Rasa has not confirmed (AgentOps.retry_pending), and
  for queued handoffs nobody claimed in time (AgentOps.expire_waiting).

Each websocket re-checks its session every SESSION_CHECK_S and on every message it
receives, and closes (code 4401) once the session is logged out or revoked. What a console
receives depends on its user's role (api.view_for): supervisor figures go to supervisors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError, ResponseError

from bot import broker
from bot.desk.console.api import may_read, snapshot, view_for
from bot.desk.console.context import (
    CONSOLE,
    Console,
    current_session,
    current_user,
    valid_conversation_id,
)
from bot.desk.console.sessions import Session
from bot.desk.users import User
from bot.handoff.errors import HandoffError
from bot.handoff.rasa_client import line_for
from bot.handoff.store import ACTIVE_STATES, CHANGES, CLOSED
from bot.tasks import stop_task

log = logging.getLogger(__name__)

BLOCK_MS = 2000
BATCH = 200
REFRESH_S = 10.0  # snapshot even without changes: reservations expire, agents go offline
CLIENT_QUEUE = 500  # messages buffered for a slow console before it is dropped
SYNC_GROUP = "desk-handoff"
RECLAIM_IDLE_MS = 60_000
RETRY_EVERY_S = 10.0
SESSION_CHECK_S = 5.0
SESSION_ENDED = 4401  # websocket close code: log in again (console.js goes to the login page)


def _stream_client(url: str) -> aioredis.Redis:
    # Blocking reads need a socket timeout longer than the block.
    return aioredis.Redis.from_url(
        url, decode_responses=True, socket_timeout=BLOCK_MS / 1000 + 5, socket_connect_timeout=5
    )


class LiveClient:
    def __init__(self, ws: web.WebSocketResponse, user: User, session: Session) -> None:
        self.ws = ws
        self.user = user
        self.session = session
        self.closing: asyncio.Future[bool] | None = None  # see close_ended
        self.watching: str | None = None
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(CLIENT_QUEUE)

    def push(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: close; the page reconnects and reloads its state.
            log.warning("console of %s too slow; disconnecting it", self.user.username)
            asyncio.get_running_loop().create_task(self.ws.close())

    async def write_forever(self) -> None:
        while True:
            message = await self.queue.get()
            await self.ws.send_str(json.dumps(message, ensure_ascii=False))


async def _resolve_now(reader: aioredis.Redis, last: dict[str, str]) -> dict[str, str]:
    """Replaces "$" by each stream's current last id: XREAD with "$" again and again would
    skip whatever arrived between two reads."""
    resolved = dict(last)
    for stream, position in last.items():
        if position == "$":
            info = await reader.xinfo_stream(stream) if await reader.exists(stream) else None
            resolved[stream] = info["last-generated-id"] if info else "0-0"
    return resolved


class LiveHub:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.last = {broker.STREAM: "$", CHANGES: "$"}  # read positions
        self.clients: set[LiveClient] = set()
        self.known: set[str] = set()  # queued or with an agent, as of the last snapshot
        self.last_snapshot: dict[str, Any] | None = None

    def add(self, client: LiveClient) -> None:
        self.clients.add(client)

    def remove(self, client: LiveClient) -> None:
        self.clients.discard(client)

    async def broadcast_snapshot(self) -> dict[str, Any]:
        data = await snapshot(self.console)
        self.known = {c["id"] for c in data["queue"]} | {c["id"] for c in data["active"]}
        self.last_snapshot = data
        for client in list(self.clients):
            client.push({"type": "queue", **view_for(data, client.user)})
        return data

    async def end_session(self, token: str) -> None:
        """Closes this process's websockets of a session that was just logged out."""
        for client in list(self.clients):
            if client.session.token == token:
                await close_ended(client)

    def _to_watchers(self, conversation_id: str, message: dict[str, Any]) -> None:
        for client in list(self.clients):
            if client.watching == conversation_id:
                client.push(message)

    def handle_event(self, fields: dict[str, str]) -> bool:
        """A broker entry; returns True if the queue view should refresh."""
        event = broker.decode(fields)
        if event is None:
            return False
        conversation_id = str(event.get("sender_id") or fields.get("sender_id") or "")
        line = line_for(event)
        if line is not None:
            self._to_watchers(
                conversation_id, {"type": "message", "conversation": conversation_id, "line": line}
            )
        if event.get("event") == "user" and conversation_id in self.known:
            text = str(event.get("text") or "")[:200]
            queued = self.last_snapshot is not None and any(
                c["id"] == conversation_id for c in self.last_snapshot["queue"]
            )
            for client in list(self.clients):
                # The queue is everyone's; a chat with an agent is theirs (and supervisors').
                if (
                    queued
                    or client.user.role == "supervisor"
                    or self._holds(client, conversation_id)
                ):
                    client.push(
                        {"type": "customer_message", "conversation": conversation_id, "text": text}
                    )
        return False

    def _holds(self, client: LiveClient, conversation_id: str) -> bool:
        active = self.last_snapshot["active"] if self.last_snapshot else []
        return any(
            c["id"] == conversation_id and c["agent"] == client.user.username for c in active
        )

    def handle_change(self, fields: dict[str, str]) -> bool:
        conversation_id = fields.get("conversation", "")
        self._to_watchers(
            conversation_id, {"type": "change", "conversation": conversation_id, **fields}
        )
        if fields.get("change") == "claimed":
            # Another agent's chat now: other agents stop receiving its messages.
            for client in list(self.clients):
                if (
                    client.watching == conversation_id
                    and client.user.role != "supervisor"
                    and client.user.username != fields.get("agent")
                ):
                    client.watching = None
        return fields.get("change") != "note"

    async def start_positions(self, client: aioredis.Redis) -> None:
        """Fixes "now" as the read position (at startup, before serving any console)."""
        if "$" in self.last.values():
            self.last = await _resolve_now(client, self.last)

    async def run(self) -> None:
        """Reads both streams from now on, forever (one reader per desk process)."""
        reader = _stream_client(self.console.settings.redis_url)
        next_refresh = 0.0
        try:
            while True:
                try:
                    await self.start_positions(reader)
                    entries = await reader.xread(self.last, count=BATCH, block=BLOCK_MS)
                    refresh = False
                    for stream, items in entries:
                        for entry_id, fields in items:
                            self.last[stream] = entry_id
                            if stream == CHANGES:
                                refresh |= self.handle_change(fields)
                            else:
                                refresh |= self.handle_event(fields)
                    now = time.monotonic()
                    if refresh or now >= next_refresh:
                        next_refresh = now + REFRESH_S
                        if self.clients or refresh:
                            await self.broadcast_snapshot()
                except (RedisError, OSError, asyncio.TimeoutError) as exc:
                    log.warning("live view: Redis read failed (%s); retrying", exc)
                    await asyncio.sleep(1.0)
        finally:
            await reader.close()


# ---- exactly-once processing of broker events (consumer group) --------------------------


class SyncWorker:
    def __init__(self, console: Console, consumer: str | None = None) -> None:
        self.console = console
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.processed = 0

    async def ensure_group(self, client: aioredis.Redis) -> None:
        try:
            await client.xgroup_create(broker.STREAM, SYNC_GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def handle(self, fields: dict[str, str]) -> None:
        event = broker.decode(fields)
        if event is None:
            return
        kind = event.get("event")
        conversation_id = str(event.get("sender_id") or "")
        if kind not in ("user", "restart", "session_started") or not conversation_id:
            return
        store = self.console.store
        at = float(event.get("timestamp") or time.time())
        if kind == "user":
            await store.record_customer_message(conversation_id, str(event.get("text") or ""), at)
            return
        conversation = await store.get(conversation_id)
        # The reset is older than the handoff (e.g. the session start of a new chat): ignore.
        if (
            conversation is None
            or conversation.state not in ACTIVE_STATES
            or at <= conversation.enqueued_at
        ):
            return
        # Rasa reset the tracker (restart, or a new session after inactivity), which also
        # unpaused it: the bot is talking again, so the handoff is over.
        try:
            released = await store.release(
                conversation_id, target=CLOSED, actor=f"rasa:{kind}", owner=None
            )
            await store.mark_synced(conversation_id, released.conversation.episode)
            log.info("handoff %s closed: Rasa %s", conversation_id, kind)
        except HandoffError:
            pass  # closed meanwhile by someone else

    async def process_batch(self, client: aioredis.Redis, entries: list) -> int:
        handled = 0
        for _stream, items in entries:
            for entry_id, fields in items:
                if fields:  # None/empty: trimmed from the stream before we got to it
                    await self.handle(fields)
                await client.xack(broker.STREAM, SYNC_GROUP, entry_id)
                handled += 1
        self.processed += handled
        return handled

    async def step(self, client: aioredis.Redis, block_ms: int | None = BLOCK_MS) -> int:
        entries = await client.xreadgroup(
            SYNC_GROUP, self.consumer, {broker.STREAM: ">"}, count=BATCH, block=block_ms
        )
        return await self.process_batch(client, entries or [])

    async def reclaim(self, client: aioredis.Redis) -> int:
        """Takes over entries a crashed desk process read but never acknowledged."""
        _next, claimed, *_ = await client.xautoclaim(
            broker.STREAM, SYNC_GROUP, self.consumer, RECLAIM_IDLE_MS, "0-0", count=BATCH
        )
        return await self.process_batch(client, [(broker.STREAM, claimed)])

    async def run(self) -> None:
        client = _stream_client(self.console.settings.redis_url)
        next_reclaim = 0.0
        try:
            while True:
                try:
                    await self.ensure_group(client)
                    break
                except (RedisError, OSError) as exc:
                    log.warning("sync worker: cannot create group (%s)", exc)
                    await asyncio.sleep(2)
            while True:
                try:
                    if time.monotonic() >= next_reclaim:
                        next_reclaim = time.monotonic() + RECLAIM_IDLE_MS / 2000
                        await self.reclaim(client)
                    await self.step(client)
                except ResponseError as exc:
                    if "NOGROUP" in str(exc):  # the stream was deleted: start again
                        await self.ensure_group(client)
                    else:
                        log.exception("sync worker failed")
                        await asyncio.sleep(1)
                except (RedisError, OSError, asyncio.TimeoutError) as exc:
                    log.warning("sync worker: Redis failed (%s); retrying", exc)
                    await asyncio.sleep(1)
        finally:
            with contextlib.suppress(RedisError, OSError):
                pending = await client.xpending_range(
                    broker.STREAM, SYNC_GROUP, "-", "+", 1, consumername=self.consumer
                )
                if not pending:
                    await client.xgroup_delconsumer(broker.STREAM, SYNC_GROUP, self.consumer)
            await client.close()


async def _retry_forever(console: Console) -> None:
    while True:
        await asyncio.sleep(RETRY_EVERY_S)
        try:
            await console.ops.expire_waiting()
            await console.ops.retry_pending()
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            log.warning("hand-back retry or queue expiry failed (%s)", exc)


# ---- the websocket ----------------------------------------------------------------------


async def _heartbeat(console: Console, user: User) -> None:
    interval = console.presence.ttl_s / 3
    while True:
        try:
            await console.presence.heartbeat(user.username)
        except (RedisError, OSError, asyncio.TimeoutError):
            log.warning("presence heartbeat for %s failed", user.username)
        await asyncio.sleep(interval)


async def close_ended(client: LiveClient) -> None:
    """Closes a console whose session ended, from any task. The close runs as its own
    future, which the websocket's handler awaits before returning: a handler returning
    first would drop the connection without the close code console.js acts on."""
    if client.closing is None:
        client.closing = asyncio.ensure_future(
            client.ws.close(code=SESSION_ENDED, message=b"session ended; log in again")
        )
    with contextlib.suppress(Exception):
        await asyncio.shield(client.closing)


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


async def _check_session_forever(console: Console, client: LiveClient) -> None:
    while True:
        await asyncio.sleep(SESSION_CHECK_S)
        if not await session_valid(console, client):
            await close_ended(client)
            return


async def websocket(request: web.Request) -> web.WebSocketResponse:
    console = request.app[CONSOLE]
    hub: LiveHub = console.hub  # type: ignore[assignment]
    user = current_user(request)
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=4096)
    await ws.prepare(request)
    client = LiveClient(ws, user, current_session(request))
    tasks = [
        asyncio.create_task(client.write_forever()),
        asyncio.create_task(_check_session_forever(console, client)),
    ]
    if user.role == "agent":  # agents online = agents with a console open
        tasks.append(asyncio.create_task(_heartbeat(console, user)))
    hub.add(client)
    try:
        client.push({"type": "hello", "user": user.username, "role": user.role})
        client.push({"type": "queue", **view_for(await snapshot(console), user)})
        async for message in ws:
            if not await session_valid(console, client):
                await close_ended(client)
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
        for task in tasks:
            await stop_task(task)
        if client.closing is not None:  # the session ended (logout, revocation)
            with contextlib.suppress(Exception):
                await client.closing
            # Offline now, not after the presence TTL (as at logout); another console of
            # theirs still open announces itself again with its next heartbeat.
            if user.role == "agent":
                with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
                    await console.presence.leave(user.username)
    return ws


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    console = app[CONSOLE]
    hub = LiveHub(console)
    sync = SyncWorker(console)
    console.hub = hub
    console.sync = sync
    try:  # before serving: nothing published from now on is missed
        await hub.start_positions(console.redis)
        await sync.ensure_group(console.redis)
    except (RedisError, OSError, asyncio.TimeoutError) as exc:
        log.error("live view: Redis unavailable at startup (%s); retrying in the background", exc)
    tasks = [
        asyncio.create_task(hub.run()),
        asyncio.create_task(sync.run()),
        asyncio.create_task(_retry_forever(console)),
    ]
    yield
    for task in tasks:
        await stop_task(task)
    for client in list(hub.clients):
        with contextlib.suppress(Exception):
            await client.ws.close(code=1001, message=b"server shutdown")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/ws", websocket)
