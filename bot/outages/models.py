"""The outage record, its statuses and transitions, and the validation of every field.

Validation lives here (not in the API) so the registry refuses bad data from any caller:
the desk API, the console, a script or the lead's actions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.accounts.areas import load_areas
from bot.outages.errors import InvalidField

PLANNED = "planned"
FAULT = "fault"
KINDS = (PLANNED, FAULT)

ANNOUNCED = "announced"
IN_PROGRESS = "in_progress"
RESTORED = "restored"
CANCELLED = "cancelled"
STATUSES = (ANNOUNCED, IN_PROGRESS, RESTORED, CANCELLED)
OPEN_STATUSES = (ANNOUNCED, IN_PROGRESS)  # restored and cancelled are final
# announced -> in_progress (work started) | restored (a short fault) | cancelled (called off)
# in_progress -> restored. Nothing leaves restored or cancelled: a new outage is a new record.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ANNOUNCED: (IN_PROGRESS, RESTORED, CANCELLED),
    IN_PROGRESS: (RESTORED,),
    RESTORED: (),
    CANCELLED: (),
}

# The change stream's (and history's) names of each change.
PUBLISHED = "published"
ETA_CHANGED = "eta_changed"
TEXT_CHANGED = "text_changed"
CHANGES = (PUBLISHED, ETA_CHANGED, TEXT_CHANGED, IN_PROGRESS, RESTORED, CANCELLED)

LANGUAGES = ("zh", "en")
MAX_TEXT = 500  # the public text; a notice template wraps it (bot.notices counts segments)
MAX_CAUSE = 200
MAX_AREAS = 50
ID_PATTERN = r"^OG[0-9]{8}-[0-9]{4,9}$"
ACTOR_PATTERN = r"^[A-Za-z0-9._@:-]{1,64}$"
_ID = re.compile(ID_PATTERN)
_ACTOR = re.compile(ACTOR_PATTERN)
# RFC 3339 (what OpenAPI's date-time is), with an explicit offset: a time without one
# would be read in whichever zone the server happens to run in.
_DATETIME = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def can_transition(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, ())


def is_outage_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


@dataclass
class Outage:
    id: str
    areas: list[str]
    kind: str
    starts_at: datetime  # aware, UTC
    eta: datetime | None  # estimated restoration; None: not known yet
    cause: str
    text: dict[str, str]  # {"zh": ..., "en": ...}: the public text
    status: str
    revision: int
    history: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def covers(self, area: str) -> bool:
        return area in self.areas

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "areas": list(self.areas),
            "kind": self.kind,
            "starts_at": iso(self.starts_at),
            "eta": iso(self.eta) if self.eta else None,
            "cause": self.cause,
            "text": dict(self.text),
            "status": self.status,
            "revision": self.revision,
            "history": [dict(h) for h in self.history],
            "created_at": iso(self.created_at) if self.created_at else None,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outage:
        return cls(
            id=str(data["id"]),
            areas=[str(a) for a in data["areas"]],
            kind=str(data["kind"]),
            starts_at=parse_datetime("starts_at", data["starts_at"]),
            eta=parse_datetime("eta", data["eta"]) if data.get("eta") else None,
            cause=str(data["cause"]),
            text={str(k): str(v) for k, v in data["text"].items()},
            status=str(data["status"]),
            revision=int(data["revision"]),
            history=[dict(h) for h in data.get("history") or []],
            created_at=parse_datetime("created_at", data["created_at"])
            if data.get("created_at")
            else None,
            updated_at=parse_datetime("updated_at", data["updated_at"])
            if data.get("updated_at")
            else None,
        )


def iso(value: datetime) -> str:
    """UTC, seconds precision, `Z`: one spelling, so equal times compare equal as text."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- validation
def parse_datetime(name: str, value: object) -> datetime:
    """An aware datetime (converted to UTC) from RFC 3339 text or an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidField(name, f"{name} needs a time zone offset")
        try:
            return value.astimezone(timezone.utc).replace(microsecond=0)
        except (OverflowError, ValueError) as exc:
            raise InvalidField(name, f"{name} is out of range") from exc
    if not isinstance(value, str):
        raise InvalidField(name, f"{name} must be a date-time like 2026-12-01T08:00:00+08:00")
    match = _DATETIME.fullmatch(value.strip())
    if not match:
        raise InvalidField(name, f"{name} must be a date-time like 2026-12-01T08:00:00+08:00")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    offset = match.group(8)
    try:
        if offset in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        local = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        return local.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise InvalidField(name, f"{name} is not a valid date-time") from exc


def clean_areas(value: object) -> list[str]:
    """Known area ids (bot.accounts.areas), without duplicates, in the order given."""
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidField("areas", "areas must be a non-empty list of area ids")
    if len(value) > MAX_AREAS:
        raise InvalidField("areas", f"at most {MAX_AREAS} areas")
    known = load_areas()
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in known:
            raise InvalidField(
                "areas", f"unknown area {str(item)[:40]!r}; known: {', '.join(known)}"
            )
        if item not in out:
            out.append(item)
    return out


def clean_kind(value: object) -> str:
    if value not in KINDS:
        raise InvalidField("kind", f"kind must be one of: {', '.join(KINDS)}")
    return str(value)


def clean_line(name: str, value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidField(name, f"{name} must be text")
    value = value.strip()
    if not value:
        raise InvalidField(name, f"{name} must not be empty")
    if len(value) > max_len:
        raise InvalidField(name, f"{name} is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField(name, f"{name} is not valid text") from exc
    return value


def clean_texts(value: object, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """{"zh", "en"}, both non-empty and bounded. With `current` (a change), a language left
    out keeps its current text."""
    if not isinstance(value, Mapping) or not value:
        raise InvalidField("text", "text must be an object with zh and en")
    unknown = [k for k in value if k not in LANGUAGES]
    if unknown:
        raise InvalidField("text", f"text: unknown language {str(unknown[0])[:20]!r}")
    out = dict(current or {})
    for language in LANGUAGES:
        if language in value:
            out[language] = clean_line(f"text.{language}", value[language], MAX_TEXT)
        elif language not in out:
            raise InvalidField("text", f"text.{language} is required")
    return {language: out[language] for language in LANGUAGES}


def clean_eta(value: object, starts_at: datetime) -> datetime | None:
    if value is None:
        return None
    eta = parse_datetime("eta", value)
    if eta <= starts_at:
        raise InvalidField("eta", "eta must be after starts_at")
    return eta


def clean_actor(value: object) -> str:
    if not isinstance(value, str) or not _ACTOR.fullmatch(value):
        raise InvalidField("actor", "actor must be a user id (letters, digits, ._@:-)")
    return value


def clean_status(value: object) -> str:
    if value not in STATUSES:
        raise InvalidField("status", f"status must be one of: {', '.join(STATUSES)}")
    return str(value)
