"""Complaint risk grading (投诉风险分级) from the rules in content/policy/grading.yml."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.tickets.errors import PolicyError
from bot.tickets.models import GradeReason
from bot.tickets.policy import GRADING_FILE, bilingual, load_yaml

_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (full-width -> ASCII, compatibility forms) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _compile_anywhere(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise PolicyError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _compile_word(pattern: str, where: str) -> re.Pattern[str]:
    # Whole words: not glued to other ASCII letters/digits (so "spark" is not found in
    # "sparkle", but is found in "有sparks"); a space stands for any whitespace.
    body = str(pattern).replace(" ", r"\s+")
    return _compile_anywhere(rf"(?<![0-9a-z])(?:{body})(?![0-9a-z])", where)


@dataclass(frozen=True)
class Matcher:
    anywhere: tuple[re.Pattern[str], ...]
    words: tuple[re.Pattern[str], ...]

    @classmethod
    def from_yaml(cls, data: dict[str, Any], where: str) -> Matcher:
        anywhere = data.get("anywhere") or []
        words = data.get("words") or []
        if not isinstance(anywhere, list) or not isinstance(words, list):
            raise PolicyError(f"{where}: 'anywhere' and 'words' must be lists")
        return cls(
            tuple(_compile_anywhere(str(p), where) for p in anywhere),
            tuple(_compile_word(str(p), where) for p in words),
        )

    def __bool__(self) -> bool:
        return bool(self.anywhere or self.words)

    def search(self, spaced: str, compact: str) -> str | None:
        """The first matching text, or None. Chinese patterns see the text without spaces."""
        for pattern in self.anywhere:
            found = pattern.search(compact)
            if found:
                return found.group(0)
        for pattern in self.words:
            found = pattern.search(spaced)
            if found:
                return found.group(0)
        return None


@dataclass(frozen=True)
class Rule:
    id: str
    grade: str
    reason: dict[str, str]
    matcher: Matcher
    unless: Matcher
    repeat_min: int | None = None
    repeat_window_days: int | None = None
    examples: tuple[str, ...] = ()

    def make_reason(self, match: str | None = None, count: int | None = None) -> GradeReason:
        values = {"match": match or "", "count": count if count is not None else ""}
        return GradeReason(
            rule=self.id,
            grade=self.grade,
            zh=self.reason["zh"].format(**values),
            en=self.reason["en"].format(**values),
            match=match,
        )


@dataclass(frozen=True)
class Grading:
    grade: str
    reasons: tuple[GradeReason, ...]


class Grader:
    """grade(text, previous_complaints) -> exactly one grade, with its reasons."""

    def __init__(self, grades: tuple[str, ...], default: Rule, rules: tuple[Rule, ...]) -> None:
        self.grades = grades
        self._rank = {g: i for i, g in enumerate(grades)}  # 0 = most severe
        self.default = default
        self.rules = rules
        repeat = [r for r in rules if r.repeat_min is not None]
        self.repeat_window_days = max((r.repeat_window_days or 30 for r in repeat), default=30)

    @classmethod
    def from_yaml(cls, path: Path | str) -> Grader:
        data = load_yaml(path)
        grades = data.get("grades")
        if not isinstance(grades, list) or not grades or len(set(grades)) != len(grades):
            raise PolicyError(f"{path}: 'grades' must be a non-empty list of unique names")
        grades_t = tuple(str(g) for g in grades)
        default_data = data.get("default") or {}
        if default_data.get("grade") not in grades_t:
            raise PolicyError(f"{path}: default.grade must be one of {grades_t}")
        default = Rule(
            id="default",
            grade=default_data["grade"],
            reason=bilingual(default_data.get("reason"), f"{path}: default.reason"),
            matcher=Matcher((), ()),
            unless=Matcher((), ()),
        )
        rules = tuple(
            _rule_from_yaml(item, grades_t, f"{path}: rules[{i}]")
            for i, item in enumerate(data.get("rules") or [])
        )
        if len({r.id for r in rules}) != len(rules):
            raise PolicyError(f"{path}: rule ids must be unique")
        grader = cls(grades_t, default, rules)
        grader._check_examples(path)
        return grader

    @classmethod
    def from_dir(cls, policy_dir: Path | str) -> Grader:
        return cls.from_yaml(Path(policy_dir) / GRADING_FILE)

    def rank(self, grade: str) -> int:
        """0 for the most severe grade; larger is milder."""
        return self._rank[grade]

    def raised(self, grade: str) -> str:
        """One grade more severe, never above the most severe."""
        return self.grades[max(0, self._rank[grade] - 1)]

    def grade(self, text: str, previous_complaints: int = 0) -> Grading:
        spaced = normalise(text)
        compact = _WHITESPACE.sub("", spaced)
        default_rank = self._rank[self.default.grade]
        stronger: list[GradeReason] = []  # at least as severe as the default
        milder: list[GradeReason] = []  # e.g. a suggestion: only when nothing else matched
        for rule in self.rules:
            reason = self._apply(rule, spaced, compact, previous_complaints)
            if reason is None:
                continue
            (stronger if self._rank[rule.grade] <= default_rank else milder).append(reason)
        if stronger:
            reasons = sorted(stronger, key=lambda r: self._rank[r.grade])
        elif milder:
            reasons = sorted(milder, key=lambda r: self._rank[r.grade])[:1]
        else:
            reasons = [self.default.make_reason()]
        return Grading(grade=reasons[0].grade, reasons=tuple(reasons))

    @staticmethod
    def _apply(rule: Rule, spaced: str, compact: str, previous: int) -> GradeReason | None:
        if rule.repeat_min is not None:
            count = previous + 1  # counting this complaint
            return rule.make_reason(count=count) if count >= rule.repeat_min else None
        match = rule.matcher.search(spaced, compact)
        if match is None or rule.unless.search(spaced, compact) is not None:
            return None
        return rule.make_reason(match=match)

    def _check_examples(self, path: Path | str) -> None:
        for rule in self.rules:
            for example in rule.examples:
                spaced = normalise(example)
                if self._apply(rule, spaced, _WHITESPACE.sub("", spaced), 0) is None:
                    raise PolicyError(f"{path}: rule {rule.id!r} does not match {example!r}")


def _rule_from_yaml(item: Any, grades: tuple[str, ...], where: str) -> Rule:
    if not isinstance(item, dict) or not item.get("id"):
        raise PolicyError(f"{where}: a rule needs an 'id'")
    where = f"{where} ({item['id']})"
    if item.get("grade") not in grades:
        raise PolicyError(f"{where}: grade must be one of {grades}")
    repeat = item.get("repeat")
    matcher = Matcher.from_yaml(item, where)
    if bool(repeat) == bool(matcher):
        raise PolicyError(f"{where}: needs either patterns ('anywhere'/'words') or 'repeat'")
    repeat_min = window = None
    if repeat:
        try:
            repeat_min = int(repeat["min_complaints"])
            window = int(repeat.get("window_days", 30))
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"{where}: repeat needs integer min_complaints") from exc
    return Rule(
        id=str(item["id"]),
        grade=str(item["grade"]),
        reason=bilingual(item.get("reason"), f"{where}: reason"),
        matcher=matcher,
        unless=Matcher.from_yaml(item.get("unless") or {}, f"{where}: unless"),
        repeat_min=repeat_min,
        repeat_window_days=window,
        examples=tuple(str(e) for e in item.get("examples") or ()),
    )
