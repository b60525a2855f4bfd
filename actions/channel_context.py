"""What the channel already knows about the customer (the SMS sender's phone)."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


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
