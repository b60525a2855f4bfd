"""The utility's service areas (content/accounts/areas.yml): ids, zh/en names, aliases.

Accounts, outages and subscriptions name an area by its id; customers name it in their own
words ("朝阳", "Chaoyang District"), which find_area() maps back to the id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

AREAS_FILE = Path(__file__).resolve().parents[2] / "content" / "accounts" / "areas.yml"


@dataclass(frozen=True)
class Area:
    id: str
    zh: str
    en: str
    aliases: tuple[str, ...]

    def name(self, language: str) -> str:
        """The area's name in `language` ("zh" or "en"); English for anything but zh."""
        return self.zh if language.startswith("zh") else self.en

    def spellings(self) -> tuple[str, ...]:
        """Every way of writing the area find_area() recognises, id included."""
        return (self.zh, self.en, self.id, *self.aliases)


class AreasError(ValueError):
    """areas.yml is missing or malformed; the message names the file and the entry."""


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, Area]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AreasError(f"{path}: {exc}") from exc
    areas: dict[str, Area] = {}
    for index, entry in enumerate(data.get("areas") or []):
        try:
            item = Area(
                id=str(entry["id"]),
                zh=str(entry["zh"]),
                en=str(entry["en"]),
                aliases=tuple(str(alias) for alias in entry.get("aliases") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise AreasError(f"{path}: areas[{index}] needs id, zh and en ({exc})") from exc
        if item.id in areas:
            raise AreasError(f"{path}: area id {item.id!r} appears twice")
        areas[item.id] = item
    if not areas:
        raise AreasError(f"{path}: no areas")
    return areas


def load_areas(path: Path | None = None) -> dict[str, Area]:
    """The areas keyed by id, in file order (cached per path)."""
    return _load((path or AREAS_FILE).resolve())


def area(area_id: str) -> Area | None:
    """The area with this id, or None."""
    return load_areas().get(area_id)


def _fold(text: str) -> str:
    # Case and spacing differ between how customers type and how the file spells a name
    # ("chao yang", "CHAOYANG district"); compare without them.
    return re.sub(r"[\s\-_]+", "", text).casefold()


@lru_cache(maxsize=8)
def _spellings(path: Path) -> tuple[tuple[str, Area], ...]:
    # Longest spelling first, so "朝阳区" wins over a shorter alias contained in another
    # area's name; ties keep file order.
    pairs = [
        (_fold(spelling), item) for item in _load(path).values() for spelling in item.spellings()
    ]
    return tuple(sorted({p[0]: p for p in pairs}.values(), key=lambda p: -len(p[0])))


def find_area(text: str) -> Area | None:
    """The area named anywhere in free text (zh or en), or None.

    When the text names several areas, the one named first wins (a customer writes the
    area they mean before any other)."""
    folded = _fold(text)
    if not folded:
        return None
    best: tuple[int, Area] | None = None
    for spelling, item in _spellings(AREAS_FILE.resolve()):
        at = folded.find(spelling)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, item)
    return best[1] if best else None
