"""Errors of the handoff capability."""

from __future__ import annotations


class HandoffConfigError(ValueError):
    """A content/handoff/*.yml file is unusable (raised at startup, never mid-conversation)."""


class HandoffError(Exception):
    """A handoff operation was refused; `code` is stable for callers, `field` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
