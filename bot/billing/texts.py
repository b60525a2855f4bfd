"""The wording of bill answers (content/billing/texts.yml), and how figures are written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import yaml

TEXTS_FILE = Path(__file__).resolve().parents[2] / "content" / "billing" / "texts.yml"
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {lang: {str(k): str(v) for k, v in texts.items()} for lang, texts in data.items()}


def text(language: str, key: str, **values: object) -> str:
    """The `key` wording in `language` (zh, else en), placeholders filled."""
    texts = _load(TEXTS_FILE)
    return texts["zh" if language.startswith("zh") else "en"][key].format(**values)


def kwh(value: Decimal) -> str:
    """412 for a whole number of kWh, 12.5 otherwise (never 412.0 or 4.12E+2)."""
    written = f"{value:f}"
    return written.rstrip("0").rstrip(".") if "." in written else written


def price(value: Decimal) -> str:
    """A unit price as the FAQ writes it: 0.4883, 0.05, 0.30 (at least two decimals)."""
    written = kwh(value)
    whole, _, decimals = written.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def yuan(value: Decimal) -> str:
    return f"{value:.2f}"


def period_label(period: str, language: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return text(language, "period", year=year, month=month, month_name=MONTHS_EN[month - 1])


def day_label(day: date, language: str) -> str:
    return text(
        language,
        "date",
        year=day.year,
        month=day.month,
        day=day.day,
        month_name=MONTHS_EN[day.month - 1],
    )
