"""bot/action_retry.py: Rasa's custom-action calls against a real HTTP action endpoint on a
loopback port that is closed, comes up late, or answers with errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from bot import action_retry
from tests.conftest import free_port

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
actions: [action_answer, action_extract_phone]
slots:
  phone:
    type: text
    influence_conversation: false
    mappings:
      - type: custom
        action: action_extract_phone
"""
)
Handler = Callable[[web.Request], web.Response]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    action_retry.install()
    monkeypatch.setattr(action_retry, "RETRY_DELAYS_S", (0.1, 0.2, 0.4, 0.8))
    monkeypatch.setattr(action_retry, "_unreachable_until", 0.0)


@asynccontextmanager
async def action_server(port: int, handler: Handler) -> AsyncIterator[list[str]]:
    """An action endpoint on `port`; yields the names of the actions it was asked to run."""
    calls: list[str] = []

    async def webhook(request: web.Request) -> web.Response:
        calls.append((await request.json())["next_action"])
        return handler(request)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield calls
    finally:
        await runner.cleanup()


def answer(_: web.Request) -> web.Response:
    return web.json_response({"events": [], "responses": [{"text": "hello"}]})


async def run(port: int, name: str = "action_answer") -> list:
    action = RemoteAction(name, EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    tracker = DialogueStateTracker("web:" + "0" * 32, DOMAIN.slots)
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    return await action.run(CollectingOutputChannel(), nlg, tracker, DOMAIN)


async def test_a_call_made_while_the_action_server_is_down_runs_once_it_is_back() -> None:
    port = free_port()

    async def start_late() -> None:
        await asyncio.sleep(0.5)
        async with action_server(port, answer) as calls:
            await asyncio.sleep(2)
            assert calls == ["action_answer"]  # once: nothing had reached it before

    late = asyncio.create_task(start_late())
    with action_retry.watch() as turn:
        events = await run(port)
    assert [e.text for e in events] == ["hello"]
    assert turn.failed == [] and not turn.needs_apology(answered=True)
    await late


async def test_a_call_that_never_gets_through_is_recorded_and_the_next_one_fails_fast() -> None:
    port = free_port()  # nothing listens
    with action_retry.watch() as turn:
        started = time.monotonic()
        with pytest.raises(RasaException):
            await run(port)
        assert time.monotonic() - started >= 1.5  # the retries (0.1 + 0.2 + 0.4 + 0.8 s)
        started = time.monotonic()
        with pytest.raises(RasaException):
            await run(port)
        assert time.monotonic() - started < 0.5  # the server is known down: one try
    assert turn.failed == ["action_answer", "action_answer"]
    assert turn.needs_apology(answered=True)


async def test_an_error_answer_is_not_retried_and_a_rejection_is_no_failure() -> None:
    port = free_port()

    def broken(_: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    async with action_server(port, broken) as calls:
        with action_retry.watch() as turn, pytest.raises(RasaException):
            await run(port)
    assert calls == ["action_answer"]  # it may have run: never twice
    assert turn.failed == ["action_answer"]

    def rejects(_: web.Request) -> web.Response:
        return web.json_response({"action_name": "action_answer", "error": "no"}, status=400)

    async with action_server(port, rejects):
        with action_retry.watch() as turn, pytest.raises(ActionExecutionRejection):
            await run(port)
    assert turn.failed == []


async def test_a_failed_slot_mapping_alone_needs_no_apology_when_the_bot_answered() -> None:
    port = free_port()
    with action_retry.watch() as turn, pytest.raises(RasaException):
        await run(port, "action_extract_phone")
    assert turn.failed_mappings == ["action_extract_phone"]
    assert not turn.needs_apology(answered=True)  # e.g. an FAQ answered from the model
    assert turn.needs_apology(answered=False)  # but never silence


async def test_outside_a_watched_turn_failures_are_only_raised() -> None:
    with pytest.raises(RasaException):
        await run(free_port())
