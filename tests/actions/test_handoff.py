"""action_handoff and the callback alternative, with trackers like Rasa sends, real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff as handoff_actions
from actions import services
from actions.handoff import (
    ActionHandoff,
    ActionHandoffCallback,
    ValidateHandoffCallbackForm,
    reason_of,
)
from bot.handoff.presence import Presence
from bot.handoff.store import HandoffStore
from tests.conftest import RedisServer
from tests.support.handoff import ALWAYS_OPEN, db_url, policy

PHONE = "+8613800138000"


@pytest.fixture
def action_env(
    redis: aioredis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The action server's services on our Redis DB, with agents around the clock."""
    monkeypatch.setenv("REDIS_URL", db_url(redis_server))
    monkeypatch.setenv("KEFU_BUSINESS_HOURS_FILE", str(ALWAYS_OPEN))
    services.tickets.cache_clear()
    handoff_actions.handoff.cache_clear()
    yield
    services.tickets.cache_clear()
    handoff_actions.handoff.cache_clear()


def tracker(
    text: str = "我要转人工",
    intent: str = "human_handoff",
    slots: dict[str, Any] | None = None,
    sender: str = "web-0123456789",
    channel: str = "socketio",
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    return Tracker(
        sender_id=sender,
        slots={"language": "zh", **(slots or {})},
        latest_message=latest,
        events=[
            {"event": "user", "text": "电费怎么这么高", "input_channel": channel},
            {"event": "user", "text": text, "input_channel": channel, "parse_data": latest},
        ],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action, t: Tracker) -> tuple[list, list[dict]]:  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


@pytest.mark.usefixtures("action_env")
async def test_queues_pauses_and_tells_place_and_wait(redis: aioredis.Redis) -> None:
    await Presence(redis, 45).heartbeat("wang.fang")
    events, messages = await run(ActionHandoff(), tracker())
    assert events == [SlotSet("handoff_callback_offered", False), ConversationPaused()]
    assert messages[0]["response"] == "utter_handoff_queued"
    assert messages[0]["position"] == 1 and messages[0]["eta_minutes"] == 1
    stored = await HandoffStore(redis, policy()).get("web-0123456789")
    assert stored.state == "queued" and stored.channel == "socketio"
    assert stored.reason == "human_handoff" and stored.language == "zh"

    # An SMS customer: the phone comes from the conversation id; English wording slot.
    events, messages = await run(
        ActionHandoff(),
        tracker("agent please", slots={"language": "en"}, sender=f"sms:{PHONE}", channel="sms"),
    )
    assert ConversationPaused() in events and messages[0]["position"] == 2
    sms = await HandoffStore(redis, policy()).get(f"sms:{PHONE}")
    assert sms.phone == PHONE and sms.channel == "sms" and sms.language == "en"


@pytest.mark.usefixtures("action_env")
async def test_with_nobody_online_a_callback_is_offered_not_a_queue() -> None:
    events, messages = await run(ActionHandoff(), tracker())
    assert events == [SlotSet("handoff_callback_offered", True)]
    assert messages[0]["response"] == "utter_handoff_offer_callback_no_agents"
    assert messages[0]["hours"] == "全天 24 小时"


@pytest.mark.usefixtures("action_env")
async def test_outside_hours_the_offer_names_the_hours(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed = tmp_path / "closed.yml"
    closed.write_text("weekly: {}\nsummary: {zh: 从不, en: never}\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_BUSINESS_HOURS_FILE", str(closed))
    handoff_actions.handoff.cache_clear()
    events, messages = await run(ActionHandoff(), tracker(slots={"language": "en"}))
    assert messages[0]["response"] == "utter_handoff_offer_callback_closed"
    assert messages[0]["hours"] == "never"


async def test_storage_failure_gives_the_hotline_never_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    services.tickets.cache_clear()
    handoff_actions.handoff.cache_clear()
    try:
        events, messages = await run(ActionHandoff(), tracker())
    finally:
        services.tickets.cache_clear()
        handoff_actions.handoff.cache_clear()
    assert events == [] and messages[0]["response"] == "utter_handoff_error"


def test_reason_for_the_agents() -> None:
    assert reason_of(tracker(intent="nlu_fallback")) == "fallback"
    assert reason_of(tracker()) == "human_handoff"
    assert reason_of(tracker(intent="affirm", slots={"ticket_id": "TK1"})) == "p1_complaint"
    assert reason_of(tracker(slots={"handoff_reason": "form_failures"})) == "form_failures"


@pytest.mark.usefixtures("action_env")
async def test_accepted_callback_files_a_ticket(redis: aioredis.Redis) -> None:
    offered = {"handoff_callback_offered": True, "phone": PHONE}
    events, messages = await run(ActionHandoffCallback(), tracker("好的", "affirm", offered))
    assert messages[0]["response"] == "utter_handoff_callback_created"
    number = messages[0]["ticket"]
    assert SlotSet("ticket_id", number) in events
    assert SlotSet("handoff_callback_offered", False) in events
    ticket = await services.tickets().store.get(number)
    assert ticket.category == "other" and ticket.phone == PHONE and ticket.channel == "web"
    assert "电费怎么这么高" in ticket.description  # what they had asked about


@pytest.mark.usefixtures("action_env")
async def test_declined_or_impossible_callbacks_are_honest() -> None:
    offered = {"handoff_callback_offered": True}
    _, messages = await run(ActionHandoffCallback(), tracker("不用了", "deny", offered))
    assert messages[0]["response"] == "utter_handoff_callback_declined"
    _, messages = await run(ActionHandoffCallback(), tracker("好", "affirm", offered))
    assert messages[0]["response"] == "utter_handoff_callback_failed"  # no phone known


async def test_callback_form_checks_the_number() -> None:
    form = ValidateHandoffCallbackForm()
    dispatcher = CollectingDispatcher()
    got = await form.validate_phone("138 0013 8000", dispatcher, tracker("138 0013 8000"), {})
    assert got == {"phone": PHONE}
    got = await form.validate_phone("12345", dispatcher, tracker("12345"), {})
    assert got == {"phone": None}
    assert dispatcher.messages[-1]["response"] == "utter_invalid_phone"
    got = await form.validate_phone("不用了", dispatcher, tracker("不用了", "deny"), {})
    assert got == {"phone": None, "handoff_callback_offered": False}
    remaining = await form.required_slots(
        ["phone"], dispatcher, tracker(slots={"handoff_callback_offered": False}), {}
    )
    assert remaining == []


@pytest.mark.usefixtures("action_env")
async def test_a_typed_phone_on_the_web_links_no_one_elses_ticket(redis: aioredis.Redis) -> None:
    """The victim's verified ticket must not reach the agent, nor route to its owner."""
    victim = await services.tickets().create_complaint(
        category="billing",
        description="电费多扣了",
        phone=PHONE,
        language="zh",
        channel="sms",
        phone_verified=True,
        conversation_id=f"sms:{PHONE}",
    )
    assert victim.owner
    await Presence(redis, 45).heartbeat(victim.owner)
    events, _ = await run(
        ActionHandoff(), tracker(slots={"phone": PHONE}, sender="web:" + "a" * 32)
    )
    assert ConversationPaused() in events
    stored = await HandoffStore(redis, policy()).get("web:" + "a" * 32)
    assert stored.state == "queued"
    assert stored.ticket_id is None and stored.phone is None
    assert stored.preferred_agent is None
