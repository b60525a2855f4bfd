"""Does a return visit's comment say the problem is not solved? (content/surveys/unsolved.yml)"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

PHRASES_FILE = PROJECT_ROOT / "content" / "surveys" / "unsolved.yml"
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    # NFKC folds full-width letters and digits; curly apostrophes become straight ones.
    folded = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return _SPACES.sub(" ", folded).strip()


@cache
def load_phrases(path: Path = PHRASES_FILE) -> tuple[str, ...]:
    """Every phrase of every language, normalised; raises ValueError on a malformed file."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of language -> phrases")
    phrases: list[str] = []
    for language, items in data.items():
        if not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
            raise ValueError(f"{path}: `{language}` must be a list of non-empty phrases")
        phrases.extend(normalise(p) for p in items)
    return tuple(phrases)


def says_unsolved(comment: str | None) -> bool:
    if not comment:
        return False
    text = normalise(comment)
    return any(phrase in text for phrase in load_phrases())
