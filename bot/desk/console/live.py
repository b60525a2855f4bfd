"""Live view: what every open console sees change, fed from Redis Streams (a desk worker).

Each desk process runs one LiveHub. It XREADs (fan-out: every process sees every entry)
the broker's event stream (bot.broker.STREAM: customer and bot messages) and the handoff
changes stream (queued, claimed, handed back, closed, notes, tickets). It pushes new
messages to the consoles watching that conversation, and a fresh queue snapshot to every
console after changes (and every REFRESH_S). What a console receives depends on its
user's role (api.view_for): supervisor figures go to supervisors.

The websockets themselves are in websocket.py; the other desk workers of the handoff are
bot.handoff.sync (Rasa's events -> handoffs) and bot.handoff.retry (hand-back retries,
queue expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from bot import broker
from bot.desk.console.api import snapshot, view_for
from bot.desk.console.context import Console
from bot.desk.console.sessions import Session
from bot.desk.users import User
from bot.handoff.rasa_client import line_for
from bot.handoff.store import CHANGES
from bot.tasks import Periodic, Workers

log = logging.getLogger(__name__)

WORKER = "live_view"  # its name in /healthz "workers"
BLOCK_MS = 2000
BATCH = 200
REFRESH_S = 10.0  # snapshot even without changes: reservations expire, agents go offline
CLIENT_QUEUE = 500  # messages buffered for a slow console before it is dropped
SESSION_ENDED = 4401  # websocket close code: log in again (console.js goes to the login page)


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
        # A queue pump, not periodic work: it ends when the websocket fails or is stopped.
        while True:
            message = await self.queue.get()
            await self.ws.send_str(json.dumps(message, ensure_ascii=False))

    async def close_ended(self) -> None:
        """Closes a console whose session ended, from any task. The close runs as its own
        future, which the websocket's handler awaits before returning: a handler returning
        first would drop the connection without the close code console.js acts on."""
        if self.closing is None:
            self.closing = asyncio.ensure_future(
                self.ws.close(code=SESSION_ENDED, message=b"session ended; log in again")
            )
        with contextlib.suppress(Exception):
            await asyncio.shield(self.closing)


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
    def __init__(self, console: Console, reader: aioredis.Redis) -> None:
        self.console = console
        self.reader = reader
        self._next_refresh = 0.0
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
                await client.close_ended()

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

    async def step(self) -> None:
        """The worker's round: what arrived on both streams within BLOCK_MS (one reader
        per desk process, its own connection: bot.db.connect(url, BLOCK_MS))."""
        await self.start_positions(self.reader)
        entries = await self.reader.xread(self.last, count=BATCH, block=BLOCK_MS)
        refresh = False
        for stream, items in entries:
            for entry_id, fields in items:
                self.last[stream] = entry_id
                if stream == CHANGES:
                    refresh |= self.handle_change(fields)
                else:
                    refresh |= self.handle_event(fields)
        now = time.monotonic()
        if refresh or now >= self._next_refresh:
            self._next_refresh = now + REFRESH_S
            if self.clients or refresh:
                await self.broadcast_snapshot()

    def start(self, workers: Workers) -> Periodic:
        return workers.periodic(WORKER, self.step, every_s=0)  # step blocks on XREAD
