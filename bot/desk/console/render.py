"""Server-side HTML: string.Template files where every value is escaped unless it is Markup.

There is no template language on purpose: pages are small, and escaping by default is the
one rule that matters (everything a customer typed is text, never markup).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Markup(str):
    """HTML that is already safe (built from escaped parts)."""


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: list[Markup]) -> Markup:
    return Markup("".join(parts))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render(name: str, **values: object) -> Markup:
    return Markup(_template(name).substitute({k: esc(v) for k, v in values.items()}))
