"""Website chat: Rasa's socket.io channel, made multi-process and defensive.

Differences from `rasa.core.channels.socketio.SocketIOInput`:
- the socket.io server uses python-socketio's `AsyncRedisManager`, so any Rasa
  process (or the desk, later) can emit to any web customer's room;
- `enter_room` is awaited (it is a coroutine in python-socketio 5.x; the stock
  channel never awaits it, so replies to a persisted session are lost);
- malformed events get a polite error event instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

logger = logging.getLogger(__name__)

# Longer input is kept whole in the transcript; the tokenizer only reads its start.
MAX_MESSAGE_CHARS = 10_000


def _redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


class WebChatInput(SocketIOInput):
    """Socket.io input channel for the website widget."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

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
                SocketIOOutput(sio, self.bot_message_evt),
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
