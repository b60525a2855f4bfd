"""Untrusted text: checks that mean what they say.

`str.isdigit()` is true for "①" and "²", which `int()` rejects, and `int()` accepts
"٣" (Arabic-Indic three) and " 7 ". Customer and HTTP input only ever means ASCII digits.
"""

from __future__ import annotations

import re
from typing import TypeGuard

_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(text: object) -> TypeGuard[str]:
    """True for a non-empty string of ASCII digits 0-9 and nothing else."""
    return isinstance(text, str) and _ASCII_DIGITS.fullmatch(text) is not None


def ascii_int(text: object, lo: int | None = None, hi: int | None = None) -> int | None:
    """The integer an ASCII-digit string spells, within [lo, hi]; None for anything else."""
    if not is_ascii_digits(text) or len(text) > 18:
        return None
    value = int(text)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return value
