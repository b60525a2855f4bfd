"""The conversation's language in the actions, and what a form's identifier answer keeps.

The NLU pipeline tags each message with its language (bot/nlu/language.py) and the
`language` slot follows the tag (a `from_entity` mapping in domain.yml), with no call to
the action server. The widget's own opening buttons carry the browser's language in their
payload (`/complain{"language": "en"}`), since a payload has no words to detect.

What the customer says to the bot sets the language; a value they copy into a form
does not. An English speaker gives a Chinese street address, a name or an account
number in the script it is written in, and the next question must still be English.
So while a form asks for an identifier (IDENTIFIER_SLOTS), its validation (KeepsLanguage)
gives the slot back its value from before the answer.
A complaint description is different: it is prose the customer composes for us (and
the agent who calls back reads it), so the language it is written in counts, as do
the category and the yes/no at the summary.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.language import DEFAULT, SUPPORTED

# Form questions whose answers are identifiers copied from the world, not sentences.
# complaint_location takes an address or an account number.
IDENTIFIER_SLOTS = frozenset({"complaint_location", "phone", "verification_code"})


def language_of(tracker: Tracker) -> str:
    """The conversation's language for replies: the slot, Chinese by default."""
    language = tracker.get_slot("language")
    return language if language in SUPPORTED else DEFAULT


def language_before_this_message(tracker: Tracker) -> str | None:
    """The `language` slot as it was when the customer sent the latest message."""
    events = tracker.events
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=0)
    value = None
    for event in events[:last_user]:
        if event.get("event") == "slot" and event.get("name") == "language":
            value = event.get("value")
        elif event.get("event") == "restart":
            value = None
    return value


def restored_language(tracker: Tracker) -> list[dict[str, Any]]:
    """Undoes the language switch an identifier answer made (see the module's docstring).

    The NLU pipeline tags every message with its language and the slot follows it
    (bot/nlu/language.py). A form's validation runs before its next question, and
    `requested_slot` is still the question just answered, so this is where an answer
    that is an identifier gives the conversation its language back.
    """
    if not answers_identifier(tracker):
        return []
    before = language_before_this_message(tracker)
    if before not in SUPPORTED or before == tracker.get_slot("language"):
        return []
    return [SlotSet("language", before)]


class KeepsLanguage(FormValidationAction):
    """Validation for a form that asks for identifiers: their script is not a language."""

    @abstractmethod  # abstract, so rasa_sdk does not register this base as an action
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*restored_language(tracker), *events]


def answers_identifier(tracker: Tracker) -> bool:
    """Whether the latest message answers a form's question for an identifier.

    In the form's validation `requested_slot` is still the question the customer is
    answering.
    """
    return bool(tracker.active_loop_name) and (
        tracker.get_slot("requested_slot") in IDENTIFIER_SLOTS
    )
