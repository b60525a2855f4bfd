"""A website visitor on the real socket.io channel, and the tracker Rasa stored for it:
shared by the stack suites (tests/integration)."""

from __future__ import annotations

import asyncio
import json
import re

import socketio

from tests.conftest import Stack


class Customer:
    """A website visitor speaking to Rasa the way the widget does.

    The server names the conversation: `session_id` and `token` come from its
    `session_confirm`. Pass the `token` of an earlier visit to resume that conversation.
    A websocket by default; `transports=["polling"]` is the widget's fallback.
    """

    def __init__(
        self, url: str, token: str | None = None, transports: list[str] | None = None
    ) -> None:
        self.url = url
        self.token = token
        self.transports = transports or ["websocket"]
        self.session_id = ""
        self.resumed = False
        self.client = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue[dict] = asyncio.Queue()
        self.errors: asyncio.Queue[dict] = asyncio.Queue()
        self.confirms: asyncio.Queue[dict] = asyncio.Queue()
        self.client.on("bot_uttered", self.replies.put_nowait)
        self.client.on("kefu_error", self.errors.put_nowait)
        self.client.on("session_confirm", self.confirms.put_nowait)

    async def connect(self) -> None:
        await self.client.connect(self.url, transports=self.transports, socketio_path="/socket.io")
        await self.request_session({"token": self.token} if self.token else {})

    async def request_session(self, payload: object) -> dict:
        """Sends session_request with any payload; returns (and adopts) the confirmation."""
        await self.client.emit("session_request", payload)
        confirm = await asyncio.wait_for(self.confirms.get(), 10)
        assert re.fullmatch(r"web:[0-9a-f]{32}", confirm["session_id"])
        self.session_id, self.token = confirm["session_id"], confirm["token"]
        self.resumed = confirm["resumed"]
        return confirm

    async def say(self, message: object, **extra: object) -> None:
        # No session_id: the server knows the socket's conversation.
        await self.client.emit("user_uttered", {"message": message, **extra})

    async def reply(self, timeout: float = 30) -> dict:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def ask(self, text: str) -> str:
        await self.say(text)
        return (await self.reply())["text"]


async def stored_events(stack: Stack, session_id: str, user_turns: int) -> list[dict]:
    """The tracker Rasa saved in Redis, once it holds `user_turns` user messages.

    Rasa saves the tracker just after sending the replies, so poll briefly.
    """
    events: list[dict] = []
    for _ in range(50):
        stored = stack.redis.client().get(f"kefu:tracker:{session_id}")
        events = json.loads(stored)["events"] if stored else []
        if sum(e["event"] == "user" for e in events) >= user_turns:
            break
        await asyncio.sleep(0.1)
    return events
