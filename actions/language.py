"""Per-message language detection that keeps the `language` slot current.

Runs as the custom slot mapping of `language` (see domain.yml), so
`action_extract_slots` calls it on every user turn before the bot answers.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

SUPPORTED = ("zh", "en")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str | None) -> str | None:
    """Returns "zh", "en", or None when the text says nothing about language.

    Mixed messages ("我的bill太高了") are Chinese when Chinese carries
    more of the message than English does; one Han character counts as about half
    an English word, since a Chinese word is usually two characters.
    """
    if not text or text.startswith("/"):  # empty, or a button payload like /greet
        return None
    han = len(_HAN.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if han == 0 and words == 0:  # digits, emoji, punctuation: keep what we had
        return None
    return "zh" if han / 2 > words or (han and words <= 1) else "en"


def language_of(tracker: Tracker) -> str:
    """The conversation's language for replies: the slot, Chinese by default."""
    language = tracker.get_slot("language")
    return language if language in SUPPORTED else "zh"


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
