"""Per-message language detection that keeps the `language` slot current.

Runs as the custom slot mapping of `language` (see domain.yml), so
`action_extract_slots` calls it on every user turn before the bot answers. The detection
itself is bot.language (the web channel uses it too).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.language import DEFAULT, SUPPORTED, detect_language


def language_of(tracker: Tracker) -> str:
    """The conversation's language for replies: the slot, Chinese by default."""
    language = tracker.get_slot("language")
    return language if language in SUPPORTED else DEFAULT


class ActionDetectLanguage(Action):
    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        detected = detect_language(tracker.latest_message.get("text"))
        if detected is None or detected == tracker.get_slot("language"):
            return []
        return [SlotSet("language", detected)]
