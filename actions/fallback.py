"""Rasa's two-stage fallback, in the customer's language, with a person at the end.

`FallbackClassifier` turns an unsure parse into `nlu_fallback`, and the rule in
data/rules/fallback.yml starts Rasa's `action_two_stage_fallback` loop. The loop calls
two actions that Kefu overrides here:

1. `action_default_ask_affirmation`: "Did you mean …?" with the two likeliest meanings as
   buttons (content/fallback/suggestions.yml) and "none of these". A click on a meaning
   ends the loop and the conversation goes on as if the customer had said it; "none of
   these" sends `/out_of_scope`, and Rasa asks to rephrase (`utter_ask_rephrase`).
2. `action_default_fallback`: the second unclear message in a row ends the loop. Instead
   of Rasa's "I'm sorry, I can't help you", it records why, and the rule that follows a
   loop which gave up (data/rules/fallback.yml) hands the customer to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import language_of

SUGGESTIONS_FILE = (
    Path(__file__).resolve().parent.parent / "content" / "fallback" / "suggestions.yml"
)
# Never offered as a meaning: they are what the loop is already dealing with.
NOT_SUGGESTED = frozenset({"nlu_fallback", "out_of_scope"})
SUGGESTIONS = 2


@dataclass(frozen=True)
class Suggestions:
    prompt: dict[str, str]
    none_of_these: dict[str, str]
    intents: dict[str, dict[str, str]]
    faq: dict[str, dict[str, str]]


@lru_cache(maxsize=1)
def suggestions() -> Suggestions:
    data: dict[str, Any] = yaml.safe_load(SUGGESTIONS_FILE.read_text(encoding="utf-8"))
    return Suggestions(data["prompt"], data["none_of_these"], data["intents"], data["faq"])


def _faq_key(tracker: Tracker) -> str | None:
    selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    key = (selector.get("response") or {}).get("intent_response_key") or ""
    return key.split("/", 1)[1] if "/" in key else None


def did_you_mean(tracker: Tracker, language: str) -> list[dict[str, str]]:
    """Buttons for the two likeliest meanings of the latest message."""
    content = suggestions()
    buttons: list[dict[str, str]] = []
    for ranked in tracker.latest_message.get("intent_ranking") or []:
        name = ranked.get("name")
        if name == "faq":
            key = _faq_key(tracker)
            if key in content.faq:
                question = content.faq[key][language]
                buttons.append({"title": question, "payload": question})
        elif name in content.intents and name not in NOT_SUGGESTED:
            buttons.append({"title": content.intents[name][language], "payload": f"/{name}"})
        if len(buttons) == SUGGESTIONS:
            break
    return buttons


class ActionAskAffirmation(Action):
    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        content = suggestions()
        buttons = did_you_mean(tracker, language)
        buttons.append({"title": content.none_of_these[language], "payload": "/out_of_scope"})
        dispatcher.utter_message(text=content.prompt[language], buttons=buttons)
        return []


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # Rasa's own takes the message back (UserUtteranceReverted); Kefu keeps it, so
        # the agent who takes over sees what the customer tried to say.
        return [SlotSet("handoff_reason", "fallback")]
