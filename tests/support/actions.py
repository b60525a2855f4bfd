"""Trackers built like the ones Rasa sends to the action server (tests/actions)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker


def make_tracker(
    text: str = "",
    *,
    intent: str = "complain",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    channel: str = "socketio",
    metadata: dict[str, Any] | None = None,
    active_loop: str | None = None,
    sender_id: str = "web:" + "0" * 32,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": entities or [],
        "metadata": metadata or {},
    }
    return Tracker(
        sender_id=sender_id,
        slots={"language": "zh", **(slots or {})},
        latest_message=latest,
        events=[{"event": "user", "text": text, "input_channel": channel, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )
