"""What the channel already knows about the customer (the SMS sender's phone), and which
channel a ticket records, and what the customer asked before a form's questions."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# Rasa input channel -> the ticket's channel (as the complaint form and the callback file
# them); anything else is the web widget.
TICKET_CHANNELS = {"socketio": "web", "sms": "sms"}


def ticket_channel(tracker: Tracker) -> str:
    return TICKET_CHANNELS.get(tracker.get_latest_input_channel() or "", "web")


class ActionExtractPhone(Action):
    """Custom slot mapping of `phone`: the SMS channel puts the E.164 sender in metadata.

    Only a channel can vouch for a phone number; typed numbers go through the forms.
    """

    def name(self) -> str:
        return "action_extract_phone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        metadata = tracker.latest_message.get("metadata") or {}
        phone = metadata.get("phone") if tracker.get_latest_input_channel() == "sms" else None
        if isinstance(phone, str) and phone.startswith("+") and phone != tracker.get_slot("phone"):
            return [SlotSet("phone", phone)]
        return []


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
