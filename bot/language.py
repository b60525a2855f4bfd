"""Which language a customer writes in: Chinese or English.

One implementation for the web channel (the language of its own replies, before Rasa has
answered) and the action server (the `language` slot, actions/language.py).
"""

from __future__ import annotations

import re

SUPPORTED = ("zh", "en")
DEFAULT = "zh"  # the company's customers write Chinese unless they show otherwise

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


def language_of_hint(hint: object) -> str | None:
    """A browser's language tag ("zh-CN", "en-US") as one of SUPPORTED, or None."""
    if not isinstance(hint, str):
        return None
    primary = hint.split("-", 1)[0].lower()
    return primary if primary in SUPPORTED else None
