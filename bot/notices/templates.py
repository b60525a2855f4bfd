"""The texts of notices and reminders (content/notices/templates.yml), rendered per language.

A template with `long` and `short` variants uses `long` (it carries the operator's public
text) only when it fits in one SMS segment (bot.sms.segments): a Chinese notice stays one
UCS-2 segment where it can, and the customer can always reply for the details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot import settings
from bot.accounts.areas import area as find_area
from bot.settings import PROJECT_ROOT
from bot.sms import segments

TEMPLATES_FILE = PROJECT_ROOT / "content" / "notices" / "templates.yml"
LANGUAGES = ("zh", "en")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TemplateError(ValueError):
    """templates.yml lacks a text; the message names it."""


@lru_cache(maxsize=4)
def load(path: Path = TEMPLATES_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a mapping")
    return data


def language_of(language: str) -> str:
    return "zh" if language.startswith("zh") else "en"


def _node(*path: str) -> Any:
    node: Any = load()
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise TemplateError(f"{TEMPLATES_FILE}: no {'.'.join(path)}")
        node = node[part]
    return node


def phrase(name: str, language: str, **values: str) -> str:
    return str(_node("phrases", name, language_of(language))).format(**values)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.get().timezone)


def when(moment: datetime, language: str) -> str:
    """A moment as the customer reads it: local date and time."""
    local = moment.astimezone(_zone())
    return phrase(
        "datetime",
        language,
        month=str(local.month),
        day=str(local.day),
        mon=MONTHS[local.month - 1],
        hm=local.strftime("%H:%M"),
    )


def day(value: date, language: str) -> str:
    return phrase(
        "date", language, month=str(value.month), day=str(value.day), mon=MONTHS[value.month - 1]
    )


def period(value: str, language: str) -> str:
    """ "2026-11" as 2026年11月 / Nov 2026."""
    year, month = value.split("-")
    return phrase("period", language, year=year, month=str(int(month)), mon=MONTHS[int(month) - 1])


def area_names(areas: Sequence[str], language: str) -> str:
    names = []
    for area_id in areas:
        found = find_area(area_id)
        names.append(found.name(language_of(language)) if found else area_id)
    return phrase("area_separator", language).join(names)


def _sentence(text: str, language: str) -> str:
    """The operator's text as a whole sentence, so the template's next words follow it."""
    text = " ".join(text.split())
    if not text:
        return ""
    if text[-1] in "。！？.!?":
        return text
    return text + ("。" if language_of(language) == "zh" else ".")


def render(path: Sequence[str], language: str, values: Mapping[str, str]) -> str:
    """The text at `path` (e.g. ("outage", "fault", "published")) in `language`."""
    lang = language_of(language)
    node = _node(*path, lang)
    if isinstance(node, dict):
        long_text = str(node["long"]).format(**values)
        if "text" in values and not values["text"]:
            return str(node["short"]).format(**values)
        if segments.count(long_text).segments <= 1:
            return long_text
        return str(node["short"]).format(**values)
    return str(node).format(**values)


def outage_values(
    *,
    areas: Sequence[str],
    starts_at: datetime | None,
    eta: datetime | None,
    text: Mapping[str, str],
    language: str,
) -> dict[str, str]:
    lang = language_of(language)
    eta_text = when(eta, lang) if eta else ""
    if eta and starts_at and eta.astimezone(_zone()).date() == starts_at.astimezone(_zone()).date():
        eta_text = eta.astimezone(_zone()).strftime("%H:%M")  # same day: the time is enough
    return {
        "areas": area_names(areas, lang),
        "start": when(starts_at, lang) if starts_at else "",
        "eta": eta_text,
        "until": phrase("until", lang, eta=eta_text) if eta else "",
        "eta_phrase": (
            phrase("eta_known", lang, eta=eta_text) if eta else phrase("eta_unknown", lang)
        ),
        "text": _sentence(text.get(lang, ""), lang),
    }
