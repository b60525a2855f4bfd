"""The ticket record, its status machine, and its history entries.

Status machine (首问负责 -> 限时处理 -> 每案必访):

    new ──> assigned ──> in_progress ──> resolved ──> closed
                ^             ^              │           │
                │             │              v           │
                └──────── reopened <─────────┴───────────┘

- new: created without an owner (nobody on duty); assigning an owner moves it to assigned.
- assigned: has a named owner who has not started yet.
- in_progress: the owner has responded (this is the SLA's "first response").
- resolved: the owner considers it solved (stops the resolve clock); the return visit
  either closes it or, after a low rating, reopens it.
- closed: final unless the customer comes back: closed -> reopened.
- reopened: back to work; goes to assigned (new owner) or in_progress (same owner).
Reassigning the owner is not a status change (except new -> assigned).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any


class Status(str, Enum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.ASSIGNED}),
    Status.ASSIGNED: frozenset({Status.IN_PROGRESS}),
    Status.IN_PROGRESS: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
}

# Still being worked on: counts for "your open tickets" and for keeping the same owner.
OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED}
)
# Moving into one of these means a human has responded to the customer.
RESPONDED_STATUSES: frozenset[Status] = frozenset(
    {Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}
)


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


LANGUAGES = ("zh", "en")
KIND_COMPLAINT = "complaint"


@dataclass(frozen=True)
class GradeReason:
    """Why a ticket got its grade, in both languages (stored on the ticket)."""

    rule: str
    grade: str
    zh: str
    en: str
    match: str | None = None

    def text(self, language: str) -> str:
        return self.zh if language == "zh" else self.en

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "grade": self.grade,
            "zh": self.zh,
            "en": self.en,
            "match": self.match,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeReason:
        return cls(data["rule"], data["grade"], data["zh"], data["en"], data.get("match"))


@dataclass(frozen=True)
class Ticket:
    number: str
    seq: int  # global creation order, unique across processes (stable list order)
    kind: str
    category: str
    description: str
    location: str
    account_id: str | None
    channel: str
    phone: str  # E.164
    language: str
    grade: str
    grade_reasons: tuple[GradeReason, ...]
    owner: str | None
    status: Status
    created_at: datetime
    updated_at: datetime
    first_response_due: datetime
    resolve_due: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalations: int = 0
    reopen_count: int = 0
    rating: int | None = None
    rating_comment: str | None = None
    # The conversation that filed it (e.g. `web:<hex>`, `sms:+E164`); None for desk tickets.
    conversation_id: str | None = None
    # True when the filer proved they own `phone` (SMS: the carrier; web: a one-time code).
    # Unverified tickets are not listed to that phone nor counted for its repeat grade.
    phone_verified: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def disclosable_to(self, phone: str, conversation_id: str | None = None) -> bool:
        """May the customer holding `phone` (and in `conversation_id`) see this ticket?

        Its own phone, and only once that phone was verified for it; until then only the
        conversation that filed it sees it (it learns nothing it did not type itself).
        """
        if self.phone != phone:
            return False
        return self.phone_verified or (
            conversation_id is not None and self.conversation_id == conversation_id
        )

    def with_changes(self, **changes: Any) -> Ticket:
        return replace(self, **changes)

    # Redis hash <-> Ticket. Hashes hold strings only; None is an absent field.
    def to_redis(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.__dict__.items():
            if value is None:
                continue
            if name == "grade_reasons":
                out[name] = json.dumps([r.to_dict() for r in value], ensure_ascii=False)
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
            elif isinstance(value, Status):
                out[name] = value.value
            elif isinstance(value, bool):
                out[name] = "1" if value else "0"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> Ticket:
        def dt(name: str) -> datetime | None:
            value = raw.get(name)
            return datetime.fromisoformat(value) if value else None

        def opt_int(name: str) -> int | None:
            value = raw.get(name)
            return int(value) if value else None

        return cls(
            number=raw["number"],
            seq=int(raw["seq"]),
            kind=raw.get("kind", KIND_COMPLAINT),
            category=raw["category"],
            description=raw["description"],
            location=raw.get("location", ""),
            account_id=raw.get("account_id") or None,
            channel=raw["channel"],
            phone=raw["phone"],
            language=raw["language"],
            grade=raw["grade"],
            grade_reasons=tuple(
                GradeReason.from_dict(r) for r in json.loads(raw.get("grade_reasons", "[]"))
            ),
            owner=raw.get("owner") or None,
            status=Status(raw["status"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
            first_response_due=datetime.fromisoformat(raw["first_response_due"]),
            resolve_due=datetime.fromisoformat(raw["resolve_due"]),
            first_response_at=dt("first_response_at"),
            resolved_at=dt("resolved_at"),
            closed_at=dt("closed_at"),
            escalations=int(raw.get("escalations", "0")),
            reopen_count=int(raw.get("reopen_count", "0")),
            rating=opt_int("rating"),
            rating_comment=raw.get("rating_comment") or None,
            conversation_id=raw.get("conversation_id") or None,
            # Tickets written before the flag existed: only SMS ones had a carrier-verified phone.
            phone_verified=(
                raw["phone_verified"] == "1" if "phone_verified" in raw else raw["channel"] == "sms"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The API's representation (every field present; null when unset)."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if name == "seq":
                continue
            if name == "grade_reasons":
                out[name] = [r.to_dict() for r in value]
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
            elif isinstance(value, Status):
                out[name] = value.value
            else:
                out[name] = value
        return out


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a ticket's append-only history: who did what, when."""

    id: str  # Redis stream id: unique and ordered
    at: datetime
    actor: str
    action: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "data": self.data,
        }


@dataclass(frozen=True)
class NewTicket:
    """What the service decided for a new ticket; the store adds number, status and SLA."""

    category: str
    description: str
    location: str
    channel: str
    phone: str
    language: str
    grade: str
    grade_reasons: tuple[GradeReason, ...]
    owner: str | None
    created_at: datetime
    account_id: str | None = None
    kind: str = KIND_COMPLAINT
    actor: str = "customer"
    assign_reason: str | None = None
    conversation_id: str | None = None
    phone_verified: bool = False


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_cursor: str | None


@dataclass(frozen=True)
class TicketFilter:
    status: Status | None = None
    grade: str | None = None
    phone: str | None = None
    owner: str | None = None
    category: str | None = None

    def matches(self, ticket: Ticket) -> bool:
        return (
            (self.status is None or ticket.status == self.status)
            and (self.grade is None or ticket.grade == self.grade)
            and (self.phone is None or ticket.phone == self.phone)
            and (self.owner is None or ticket.owner == self.owner)
            and (self.category is None or ticket.category == self.category)
        )
