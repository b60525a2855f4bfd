"""Website chat: Rasa's socket.io channel, made multi-process and defensive.

Differences from `rasa.core.channels.socketio.SocketIOInput`:
- the socket.io server uses python-socketio's `AsyncRedisManager`, so any Rasa
  process (or the desk, later) can emit to any web customer's room;
- `enter_room` is awaited (it is a coroutine in python-socketio 5.x; the stock
  channel never awaits it, so replies to a persisted session are lost);
- malformed events get a polite error event instead of a traceback;
- bot messages carry their public metadata (agent_name, kefu_event) to the widget, so it
  can show who is writing and when an agent joins or leaves;
- its output channel can be recreated in any process (the desk's agent replies arrive
  through Rasa's HTTP API with output_channel=socketio): without this process's socket.io
  server it emits through a write-only AsyncRedisManager, which reaches every customer on
  every process.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot import logmask

logger = logging.getLogger(__name__)
# credentials.yml makes every Rasa process import this module: mask phones in all its logs.
logmask.install()

# Longer input is kept whole in the transcript; the tokenizer only reads its start.
MAX_MESSAGE_CHARS = 10_000


def _redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


# Metadata keys of a bot message the widget may see (everything else stays server-side).
PUBLIC_METADATA = ("agent_name", "kefu_event")

# One write-only emitter per process, created on first use.
_emitter: AsyncRedisManager | None = None


def _redis_emitter(url: str) -> AsyncRedisManager:
    global _emitter
    if _emitter is None:
        _emitter = AsyncRedisManager(url, write_only=True)
    return _emitter


class WebChatOutput(SocketIOOutput):
    """Emits `bot_uttered` as {"text", "quick_replies"?, "metadata"?}.

    `sio` is either this process's AsyncServer or a write-only AsyncRedisManager; both
    have emit(event, data, room=..., namespace=...).
    """

    def __init__(self, sio: Any, bot_message_evt: str, namespace: str | None = None) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await self.sio.emit(
            self.bot_message_evt, response, room=socket_id, namespace=self.namespace
        )

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Rasa merges a BotUttered's metadata into the message's top level.
        metadata = {k: message[k] for k in PUBLIC_METADATA if message.get(k)}
        if not metadata:
            await super().send_response(recipient_id, message)
            return
        text = str(message.get("text") or "")
        buttons = message.get("quick_replies") or message.get("buttons") or []
        payload: dict[str, Any] = {"text": text, "metadata": metadata}
        if buttons:
            payload["quick_replies"] = [
                {"content_type": "text", "title": b.get("title"), "payload": b.get("payload")}
                for b in buttons
                if isinstance(b, dict)
            ]
        await self._send_message(recipient_id, payload)


class WebChatInput(SocketIOInput):
    """Socket.io input channel for the website widget."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is not None:
            return WebChatOutput(self.sio, self.bot_message_evt, self.namespace)
        url = _redis_url()
        if url is None:
            return None  # single process without Redis: nothing can reach the widget
        return WebChatOutput(_redis_emitter(url), self.bot_message_evt, self.namespace)

    def _make_server(self) -> AsyncServer:
        url = _redis_url()
        manager = AsyncRedisManager(url) if url else None
        # cors_allowed_origins=[] leaves CORS to Sanic, as the stock channel does.
        return AsyncServer(async_mode="sanic", cors_allowed_origins=[], client_manager=manager)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = self._make_server()
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not isinstance(session_id, str) or not 8 <= len(session_id) <= 64:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            error = _validate(data, self.session_persistence)
            if error:
                await sio.emit("kefu_error", {"error": error}, room=sid, namespace=self.namespace)
                return
            sender_id = data["session_id"] if self.session_persistence else sid
            metadata = data.get(self.metadata_key)
            message = UserMessage(
                data.get("message") or "",
                WebChatOutput(sio, self.bot_message_evt, self.namespace),
                sender_id,
                input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else {},
            )
            await on_new_message(message)

        return webhook


def _validate(data: Any, session_persistence: bool) -> str | None:
    """Returns a reason the event is unusable, or None."""
    if not isinstance(data, dict):
        return "event payload must be an object"
    message = data.get("message", "")
    if not isinstance(message, str):
        return "message must be a string"
    if len(message) > MAX_MESSAGE_CHARS:
        return f"message is longer than {MAX_MESSAGE_CHARS} characters"
    if session_persistence and not isinstance(data.get("session_id"), str):
        return "session_id is required; send session_request first"
    return None
