"""Reading the YAML policy files (content/policy/): one place for path and format errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.tickets.errors import PolicyError

GRADING_FILE = "grading.yml"
SLA_FILE = "sla.yml"
ROSTER_FILE = "roster.yml"


def load_yaml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    return data


def bilingual(value: Any, where: str) -> dict[str, str]:
    """A {zh: ..., en: ...} text; both languages are required (无障碍)."""
    if not isinstance(value, dict) or not all(
        isinstance(value.get(lang), str) and value[lang] for lang in ("zh", "en")
    ):
        raise PolicyError(f"{where}: needs non-empty 'zh' and 'en' texts")
    return {"zh": value["zh"], "en": value["en"]}
