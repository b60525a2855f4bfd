"""Per-message language detection that keeps the `language` slot current.

Runs as the custom slot mapping of `language` (see domain.yml), so
`action_extract_slots` calls it on every user turn before the bot answers. The detection
itself is bot.language (the web channel uses it too).

What the customer says to the bot sets the language; a value they copy into a form
does not. An English speaker gives a Chinese street address, a name or an account
number in the script it is written in, and the next question must still be English.
So while a form asks for an identifier (IDENTIFIER_SLOTS), the reply keeps the slot.
A complaint description is different: it is prose the customer composes for us (and
the agent who calls back reads it), so the language it is written in counts, as do
the category and the yes/no at the summary.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.language import DEFAULT, SUPPORTED, detect_language, language_of_hint

# Form questions whose answers are identifiers copied from the world, not sentences.
# complaint_location takes an address or an account number.
IDENTIFIER_SLOTS = frozenset({"complaint_location", "phone", "verification_code"})


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
        if answers_identifier(tracker):
            return []
        detected = detect_language(tracker.latest_message.get("text"))
        if detected is None and tracker.get_slot("language") is None:
            # A first message with no words (a widget button's payload) follows the
            # browser's language, which the web channel passes as metadata `lang`.
            metadata = tracker.latest_message.get("metadata") or {}
            detected = language_of_hint(metadata.get("lang"))
        if detected is None or detected == tracker.get_slot("language"):
            return []
        return [SlotSet("language", detected)]


def answers_identifier(tracker: Tracker) -> bool:
    """Whether the latest message answers a form's question for an identifier.

    Runs in action_extract_slots, before the form: `requested_slot` is still the
    question the customer is answering.
    """
    return bool(tracker.active_loop_name) and (
        tracker.get_slot("requested_slot") in IDENTIFIER_SLOTS
    )
