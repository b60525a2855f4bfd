"""What the channel already knows about the customer (the SMS sender's phone), and which
channel a ticket records."""

from __future__ import annotations

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
