"""A reply to the return-visit survey read as a 1-5 rating ("5", "五分", "非常满意",
"not happy, still broken"), with the words as the comment (content/surveys/ratings.yml).

Only the survey's context makes "5" a rating: the dialogue calls this while a survey is
open (actions/surveys.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

RATINGS_FILE = PROJECT_ROOT / "content" / "surveys" / "ratings.yml"
CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_SCORE = re.compile(
    r"(?<![\d.])([1-5])(?![\d.])\s*(?:分|星|颗星|stars?|points?|/\s*5|out of 5)?", re.IGNORECASE
)
_CHINESE_SCORE = re.compile(r"([一二两三四五])\s*(?:分|星|颗星)")
_ONLY_SCORE = re.compile(
    r"^\s*(?:打|给|评)?\s*[1-5一二两三四五]\s*(?:分|星|颗星|stars?)?\s*[!！.。吧啦]*\s*$"
)


@dataclass(frozen=True)
class Reading:
    rating: int | None
    comment: str | None  # the words, unless they were only the rating


@dataclass(frozen=True)
class _Phrases:
    by_length: tuple[tuple[str, int], ...]  # (folded phrase, rating), longest first
    scale: dict[str, dict[int, str]]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@cache
def _phrases(path: Path = RATINGS_FILE) -> _Phrases:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    pairs = [(_fold(str(p)), int(r)) for r, words in data["phrases"].items() for p in words]
    scale = {
        lang: {int(k): str(v) for k, v in labels.items()} for lang, labels in data["scale"].items()
    }
    return _Phrases(tuple(sorted(pairs, key=lambda pair: -len(pair[0]))), scale)


def scale(language: str) -> dict[int, str]:
    """The survey's scale labels, 1 to 5."""
    return _phrases().scale[language]


def _phrase_rating(text: str) -> int | None:
    for phrase, rating in _phrases().by_length:
        if phrase.isascii():
            if re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", text):
                return rating
        elif phrase in text:
            return rating
    return None


def read(text: str) -> Reading:
    """The rating in a survey reply (None if it gives none) and its comment."""
    folded = _fold(text).strip()
    rating: int | None = None
    chinese = _CHINESE_SCORE.search(folded)
    score = _SCORE.search(folded)
    if chinese:
        rating = CHINESE_DIGITS[chinese.group(1)]
    elif score and (len(folded) <= 12 or score.group(0).strip() != score.group(1)):
        # A bare digit counts in a short reply; in a long one only with 分/星/stars.
        rating = int(score.group(1))
    else:
        rating = _phrase_rating(folded)
    bare = folded.strip(" !！.。~～,，")
    only_rating = bool(_ONLY_SCORE.match(folded)) or any(bare == p for p, _ in _phrases().by_length)
    comment = None if only_rating or not text.strip() else text.strip()
    return Reading(rating, comment)
