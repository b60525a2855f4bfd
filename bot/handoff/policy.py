"""The queue policy (content/handoff/queue.yml), the desk's own customer texts
(content/handoff/messages.yml) and the business hours, loaded together at startup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot import settings
from bot.handoff.errors import HandoffConfigError
from bot.handoff.hours import BusinessHours
from bot.tickets.grading import Grader

MESSAGE_KEYS = (
    "agent_joined",
    "agent_left",
    "bot_back",
    "closed",
    "queue_expired",
    "callback_yes",
    "callback_no",
)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HandoffConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise HandoffConfigError(f"{path}: expected a mapping")
    return data


def _positive(data: dict[str, Any], key: str, default: float, where: Path) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise HandoffConfigError(f"{where}: {key} must be a number >= 0")
    return float(value)


@dataclass(frozen=True)
class QueuePolicy:
    grades: tuple[str, ...]  # most severe first (content/policy/grading.yml)
    default_grade: str
    first_claim_window_s: float
    handle_time_samples: int
    default_handle_time_s: float
    max_handle_time_s: float
    presence_ttl_s: float
    # A queued handoff nobody claimed within this ends with a callback offer (0: never).
    queue_timeout_s: float = 900.0
    # At most `request_limit` handoff requests per conversation in `request_period_s`.
    request_limit: int = 5
    request_period_s: float = 3600.0

    def rank(self, grade: str | None) -> int:
        """0 for the most severe grade; unknown or missing grades get the default's rank."""
        if grade in self.grades:
            return self.grades.index(grade)
        return self.grades.index(self.default_grade)

    @classmethod
    def from_yaml(cls, path: Path, grades: tuple[str, ...]) -> QueuePolicy:
        data = _load(path)
        default_grade = str(data.get("default_grade", grades[-1]))
        if default_grade not in grades:
            raise HandoffConfigError(f"{path}: default_grade must be one of {grades}")
        handle = data.get("handle_time") or {}
        if not isinstance(handle, dict):
            raise HandoffConfigError(f"{path}: handle_time must be a mapping")
        samples = int(_positive(handle, "samples", 30, path))
        if samples < 1:
            raise HandoffConfigError(f"{path}: handle_time.samples must be at least 1")
        ttl = _positive(data, "presence_ttl_s", 45, path)
        if ttl < 3:
            raise HandoffConfigError(f"{path}: presence_ttl_s must be at least 3")
        requests = data.get("requests") or {}
        if not isinstance(requests, dict):
            raise HandoffConfigError(f"{path}: requests must be a mapping")
        request_limit = int(_positive(requests, "limit", 5, path))
        request_period = _positive(requests, "period_s", 3600, path)
        if request_limit < 1 or request_period <= 0:
            raise HandoffConfigError(f"{path}: requests.limit and period_s must be positive")
        return cls(
            grades=grades,
            default_grade=default_grade,
            first_claim_window_s=_positive(data, "first_claim_window_s", 120, path),
            handle_time_samples=samples,
            default_handle_time_s=max(_positive(handle, "default_s", 300, path), 1.0),
            max_handle_time_s=max(_positive(handle, "max_sample_s", 3600, path), 1.0),
            presence_ttl_s=ttl,
            queue_timeout_s=_positive(data, "queue_timeout_s", 900, path),
            request_limit=request_limit,
            request_period_s=request_period,
        )


@dataclass(frozen=True)
class Messages:
    texts: dict[str, dict[str, str]]

    def text(self, key: str, language: str, **values: str) -> str:
        variants = self.texts[key]
        return (variants.get(language) or variants["zh"]).format(**values)

    @classmethod
    def from_yaml(cls, path: Path) -> Messages:
        data = _load(path)
        texts: dict[str, dict[str, str]] = {}
        for key in MESSAGE_KEYS:
            item = data.get(key)
            if not isinstance(item, dict) or not {"zh", "en"} <= set(item):
                raise HandoffConfigError(f"{path}: {key} needs zh and en texts")
            texts[key] = {str(k): str(v) for k, v in item.items()}
        return cls(texts)


@dataclass(frozen=True)
class HandoffConfig:
    queue: QueuePolicy
    hours: BusinessHours
    messages: Messages

    @classmethod
    def load(
        cls,
        handoff_dir: Path | str | None = None,
        policy_dir: Path | str | None = None,
        default_timezone: str | None = None,
        hours_file: Path | str | None = None,
    ) -> HandoffConfig:
        """Defaults come from the settings: KEFU_HANDOFF_DIR, KEFU_POLICY_DIR,
        KEFU_TIMEZONE, and KEFU_BUSINESS_HOURS_FILE (another hours file, e.g. for tests)."""
        config = settings.get()
        folder = Path(handoff_dir or config.handoff_dir)
        grades = Grader.from_dir(policy_dir or config.policy_dir).grades
        zone = default_timezone or config.timezone
        hours_path = Path(hours_file or config.business_hours_file or folder / "business_hours.yml")
        return cls(
            queue=QueuePolicy.from_yaml(folder / "queue.yml", grades),
            hours=BusinessHours.from_yaml(hours_path, zone),
            messages=Messages.from_yaml(folder / "messages.yml"),
        )
