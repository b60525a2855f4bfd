"""The web chat's output channel: agent metadata reaches the widget, from any process."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import redis.asyncio as aioredis
from rasa.shared.core.events import BotUttered

from bot.channels import webchat
from bot.channels.webchat import WebChatInput, WebChatOutput
from tests.conftest import RedisServer
from tests.support.handoff import db_url


class Recorder:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, dict]] = []

    async def emit(self, event: str, data: Any, **kwargs: Any) -> None:
        self.emitted.append((event, data, kwargs))


async def test_agent_messages_carry_the_agents_name_and_notices() -> None:
    sio = Recorder()
    output = WebChatOutput(sio, "bot_uttered")
    event = BotUttered(
        "客服王芳已接入",
        metadata={"agent_name": "王芳", "kefu_event": "agent_joined", "idempotency_key": "k"},
    )
    await output.send_response("session1", event.message())
    name, data, kwargs = sio.emitted[0]
    assert name == "bot_uttered" and kwargs["room"] == "session1"
    # Only public metadata reaches the browser (no idempotency keys, no SMS fields).
    assert data == {
        "text": "客服王芳已接入",
        "metadata": {"agent_name": "王芳", "kefu_event": "agent_joined"},
    }


async def test_bot_messages_without_metadata_are_unchanged() -> None:
    sio = Recorder()
    output = WebChatOutput(sio, "bot_uttered")
    await output.send_response("s", {"text": "你好", "buttons": [{"title": "A", "payload": "/a"}]})
    assert sio.emitted[0][1] == {
        "text": "你好",
        "quick_replies": [{"content_type": "text", "title": "A", "payload": "/a"}],
    }


async def test_recreated_output_channel_emits_through_redis(
    redis_server: RedisServer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Rasa's HTTP API asks the input channel for an output channel; without this
    process's socket.io server it must still reach the widget, via Redis pub/sub."""
    url = db_url(redis_server)
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setattr(webchat, "_emitter", None)
    channel = WebChatInput.from_credentials({"session_persistence": True})
    assert channel.sio is None
    output = channel.get_output_channel()
    assert isinstance(output, WebChatOutput)

    listener = aioredis.Redis.from_url(url)
    pubsub = listener.pubsub()
    await pubsub.subscribe("socketio")
    await output.send_response("session1", {"text": "您好", "agent_name": "王芳"})
    message = None
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message:
            break
        await asyncio.sleep(0.05)
    assert message is not None
    payload = pickle.loads(message["data"])  # python-socketio's pub/sub format
    assert payload["event"] == "bot_uttered" and payload["room"] == "session1"
    assert payload["data"] == {"text": "您好", "metadata": {"agent_name": "王芳"}}
    await pubsub.close()
    await listener.close()
