"""The complaint form's content (content/complaints/form.yml), parsed once."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

FORM_FILE = Path(__file__).resolve().parent.parent / "content" / "complaints" / "form.yml"


def normalise(text: str) -> str:
    """NFKC + casefold + collapsed spaces: full-width and upper-case replies match too."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class ComplaintContent:
    category_keywords: dict[str, tuple[str, ...]]
    opening_phrases: tuple[str, ...]
    cancel_phrases: tuple[str, ...]
    cancel_max_chars: int
    why_phrases: tuple[str, ...]
    why_max_chars: int
    question_markers: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]
    description_chars: tuple[int, int]
    location_chars: tuple[int, int]
    offer_human_after: int
    status_labels: dict[str, dict[str, str]]

    def is_cancel(self, text: str) -> bool:
        t = normalise(text)
        return len(t) <= self.cancel_max_chars and any(p in t for p in self.cancel_phrases)

    def is_why(self, text: str) -> bool:
        t = normalise(text)
        return len(t) <= self.why_max_chars and any(p in t for p in self.why_phrases)

    def category_for(self, text: str, labels: dict[str, tuple[str, ...]]) -> str | None:
        """The category a reply names: a roster label first (buttons), then keywords."""
        t = normalise(text)
        for category, names in labels.items():
            if any(normalise(n) == t for n in names):
                return category
        hits = [c for c, words in self.category_keywords.items() if any(w in t for w in words)]
        return hits[0] if len(hits) == 1 else None

    def is_question(self, text: str) -> bool:
        t = normalise(text)
        return any(marker in t for marker in self.question_markers)

    def field_named(self, text: str) -> str | None:
        t = normalise(text)
        hits = [f for f, words in self.fields.items() if any(w in t for w in words)]
        return hits[0] if len(hits) == 1 else None

    def status_label(self, status: str, language: str) -> str:
        return self.status_labels.get(status, {}).get(language, status)


@lru_cache(maxsize=1)
def content(path: Path = FORM_FILE) -> ComplaintContent:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))

    def phrases(items: list[str]) -> tuple[str, ...]:
        return tuple(normalise(p) for p in items)

    return ComplaintContent(
        category_keywords={c: phrases(ws) for c, ws in raw["category_keywords"].items()},
        opening_phrases=phrases(raw["opening_phrases"]),
        cancel_phrases=phrases(raw["cancel"]["phrases"]),
        cancel_max_chars=int(raw["cancel"]["max_chars"]),
        why_phrases=phrases(raw["why"]["phrases"]),
        why_max_chars=int(raw["why"]["max_chars"]),
        question_markers=phrases(raw["question_markers"]),
        fields={f: phrases(ws) for f, ws in raw["fields"].items()},
        description_chars=(raw["description"]["min_chars"], raw["description"]["max_chars"]),
        location_chars=(raw["location"]["min_chars"], raw["location"]["max_chars"]),
        offer_human_after=int(raw["offer_human_after_failures"]),
        status_labels=raw["status_labels"],
    )
