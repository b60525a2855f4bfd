"""限时处理: SLA deadlines per grade (content/policy/sla.yml), and how they are promised.

The worker that escalates missed deadlines is bot.tickets.sla_monitor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.tickets.errors import PolicyError
from bot.tickets.policy import SLA_FILE, load_yaml

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FIRST_RESPONSE = "first_response"
RESOLVE = "resolve"
DEADLINE_KINDS = (FIRST_RESPONSE, RESOLVE)
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(text: str) -> timedelta:
    """'90m' / '4h' / '7d' -> timedelta."""
    found = _DURATION.match(str(text))
    if not found or int(found.group(1)) <= 0:
        raise PolicyError(f"bad duration {text!r}: use e.g. 30m, 4h, 7d")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def describe(duration: timedelta, language: str) -> str:
    """A promise a customer understands: '1 小时内' / 'within 1 hour'."""
    minutes = int(duration.total_seconds() // 60)
    # Up to 72 h people think in hours (24小时内); beyond that in days (7天内).
    if minutes % (24 * 60) == 0 and minutes > 72 * 60:
        value, zh_unit, en_unit = minutes // (24 * 60), "天", "day"
    elif minutes % 60 == 0:
        value, zh_unit, en_unit = minutes // 60, "小时", "hour"
    else:
        value, zh_unit, en_unit = minutes, "分钟", "minute"
    if language == "zh":
        return f"{value}{zh_unit}内"
    return f"within {value} {en_unit}{'' if value == 1 else 's'}"


@dataclass(frozen=True)
class SlaTerms:
    first_response: timedelta
    resolve: timedelta


class SlaPolicy:
    def __init__(self, terms: dict[str, SlaTerms]) -> None:
        self._terms = terms

    @classmethod
    def from_yaml(cls, path: Path | str, grades: tuple[str, ...]) -> SlaPolicy:
        data = load_yaml(path).get("grades")
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: needs a 'grades' mapping")
        terms: dict[str, SlaTerms] = {}
        for grade in grades:
            item = data.get(grade)
            if not isinstance(item, dict):
                raise PolicyError(f"{path}: no SLA for grade {grade}")
            terms[grade] = SlaTerms(
                parse_duration(item.get("first_response", "")),
                parse_duration(item.get("resolve", "")),
            )
            if terms[grade].resolve < terms[grade].first_response:
                raise PolicyError(f"{path}: {grade} resolve is shorter than first_response")
        return cls(terms)

    @classmethod
    def from_dir(cls, policy_dir: Path | str, grades: tuple[str, ...]) -> SlaPolicy:
        return cls.from_yaml(Path(policy_dir) / SLA_FILE, grades)

    def terms(self, grade: str) -> SlaTerms:
        return self._terms[grade]

    def deadlines(self, grade: str, created_at: datetime) -> tuple[datetime, datetime]:
        terms = self._terms[grade]
        return created_at + terms.first_response, created_at + terms.resolve

    def promise(self, grade: str, language: str) -> str:
        """The promised first-response time, in the customer's language."""
        return describe(self._terms[grade].first_response, language)
