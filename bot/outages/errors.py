"""Errors of the outage registry; the API maps each to one HTTP status."""

from __future__ import annotations


class OutageError(Exception):
    """Base class: `field` names the input the caller should fix (the API's error shape)."""

    field: str = "id"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidField(OutageError, ValueError):
    """An input value is malformed, unknown or out of bounds (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class OutageNotFound(OutageError, LookupError):
    """No outage with that id (HTTP 404)."""


class IllegalTransition(OutageError):
    """Not allowed in the outage's current status, e.g. a change to a restored one (409)."""

    field = "status"


class ConcurrentUpdate(OutageError):
    """Others kept changing the outage while we tried to; the caller may retry (HTTP 409)."""
