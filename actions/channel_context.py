"""Which channel a ticket records, and what the customer asked before a form's questions.
(The SMS sender's phone reaches the `phone` slot in the NLU pipeline: bot/nlu/sms_sender.py.)"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

# Rasa input channel -> the ticket's channel (as the complaint form and the callback file
# them); anything else is the web widget.
TICKET_CHANNELS = {"socketio": "web", "sms": "sms"}


def ticket_channel(tracker: Tracker) -> str:
    return TICKET_CHANNELS.get(tracker.get_latest_input_channel() or "", "web")


def request_message(tracker: Tracker, intent: str) -> dict[str, Any]:
    """The latest message with `intent` (a user event; {} if none): what a form serves,
    though the form has asked questions since."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == intent:
                return dict(event)
    return {}


def request_text(tracker: Tracker, intent: str) -> str:
    return str(request_message(tracker, intent).get("text") or "")


def request_has_entity(tracker: Tracker, intent: str, entity: str) -> bool:
    parse = request_message(tracker, intent).get("parse_data") or {}
    return any(e.get("entity") == entity for e in parse.get("entities") or [])
