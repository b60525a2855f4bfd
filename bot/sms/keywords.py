"""SMS keywords (opt-out, opt-in, help) and fixed texts, loaded from content/sms/."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "content" / "sms"
_TRAILING = " \t\r\n.。!！?？~～"


class Keyword(str, Enum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


@dataclass(frozen=True)
class Keywords:
    table: dict[str, Keyword]

    def classify(self, body: str) -> Keyword | None:
        """The keyword `body` consists of, or None for an ordinary message."""
        return self.table.get(_normalise(body))


def _normalise(text: str) -> str:
    # NFKC folds full-width "ＳＴＯＰ" typed on a Chinese keyboard into "STOP".
    return unicodedata.normalize("NFKC", text).strip().rstrip(_TRAILING).casefold()


def from_twilio(opt_out_type: str | None) -> Keyword | None:
    """Twilio Advanced Opt-Out's `OptOutType` (STOP, START, HELP), if present."""
    if not opt_out_type:
        return None
    try:
        return Keyword(opt_out_type.strip().upper())
    except ValueError:
        return None


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


@lru_cache(maxsize=4)
def load_keywords(path: Path = DATA_DIR / "keywords.yml") -> Keywords:
    data = load_yaml(path)
    table: dict[str, Keyword] = {}
    for field, keyword in (
        ("opt_out", Keyword.STOP),
        ("opt_in", Keyword.START),
        ("help", Keyword.HELP),
    ):
        words = data.get(field)
        if not isinstance(words, list) or not words:
            raise ValueError(f"{path}: '{field}' must be a non-empty list")
        for word in words:
            key = _normalise(str(word))
            if key in table and table[key] is not keyword:
                raise ValueError(f"{path}: '{word}' is in two lists")
            table[key] = keyword
    return Keywords(table)


@lru_cache(maxsize=4)
def load_texts(path: Path = DATA_DIR / "texts.yml") -> dict[str, str]:
    data = load_yaml(path)
    required = ("opted_out", "opted_out_form", "opted_in", "help", "media_only", "empty", "error")
    per_language = ("choose_zh", "choose_en", "unanswered_zh", "unanswered_en")
    missing = [k for k in (*required, *per_language) if not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"{path}: missing texts {missing}")
    return {k: str(v) for k, v in data.items()}
