"""A return visit: one per resolution of a ticket, and its lifecycle.

scheduled ──> sent ──> reminded ──> no_response
    │           │          │             │
    │           └──────────┴─────────────┴──> answered   (while the survey is open)
    ├──> unreachable  (no open web chat and no verified phone: counts as attempted)
    └──> closed       (not asked: the resolution was withdrawn, i.e. the ticket was
                       reopened or resolved again before the visit was due, or the
                       survey window ended before Rasa could be reached)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

SCHEDULED = "scheduled"
SENT = "sent"
REMINDED = "reminded"
ANSWERED = "answered"
NO_RESPONSE = "no_response"
UNREACHABLE = "unreachable"
CLOSED = "closed"
STATUSES = (SCHEDULED, SENT, REMINDED, ANSWERED, NO_RESPONSE, UNREACHABLE, CLOSED)
# Asked and not answered yet: an answer is accepted while the window is open.
AWAITING = frozenset({SENT, REMINDED, NO_RESPONSE})
# Attempted, for coverage: everything but a visit still waiting for its time.
ATTEMPTED = frozenset({SENT, REMINDED, ANSWERED, NO_RESPONSE, UNREACHABLE})

WEB = "web"
SMS = "sms"
# The Rasa input channel whose output channel reaches the customer (credentials.yml).
OUTPUT_CHANNEL = {WEB: "socketio", SMS: "sms"}

_FLOATS = ("resolved_at", "due_at", "sent_at", "reminded_at", "answered_at", "closes_at")


def visit_id(number: str, resolution: int) -> str:
    return f"{number}:{resolution}"


@dataclass(frozen=True)
class Visit:
    id: str
    ticket: str
    resolution: int
    language: str  # "zh" | "en": the ticket's
    conversation_id: str | None  # where it was asked (web:<hex> or sms:+E164)
    phone: str | None  # E.164 when asked by SMS
    channel: str  # "web" | "sms" | "" (not asked yet, or unreachable)
    status: str
    resolved_at: float | None = None
    due_at: float | None = None
    sent_at: float | None = None
    reminded_at: float | None = None
    answered_at: float | None = None
    closes_at: float | None = None
    rating: int | None = None
    comment: str | None = None
    low: bool = False

    @property
    def is_open(self) -> bool:
        """Waiting for an answer (callers also check closes_at against their clock)."""
        return self.status in AWAITING

    def with_changes(self, **changes: Any) -> Visit:
        return replace(self, **changes)

    def to_redis(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            elif isinstance(value, float):
                out[f.name] = repr(value)
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> Visit:
        def opt_float(name: str) -> float | None:
            value = raw.get(name)
            return float(value) if value else None

        rating = raw.get("rating")
        return cls(
            id=raw["id"],
            ticket=raw["ticket"],
            resolution=int(raw["resolution"]),
            language=raw.get("language", "zh"),
            conversation_id=raw.get("conversation_id") or None,
            phone=raw.get("phone") or None,
            channel=raw.get("channel", ""),
            status=raw["status"],
            rating=int(rating) if rating else None,
            comment=raw.get("comment") or None,
            low=raw.get("low") == "1",
            **{name: opt_float(name) for name in _FLOATS},
        )

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
