"""Errors of the ticket capability; the API maps each to one HTTP status."""

from __future__ import annotations


class TicketError(Exception):
    """Base class: `field` names the input the caller should fix (the API's error shape)."""

    field: str = "number"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidField(TicketError, ValueError):
    """An input value is malformed, unknown or too long (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class TicketNotFound(TicketError, LookupError):
    """No ticket with that number (HTTP 404)."""


class IllegalTransition(TicketError):
    """The change is not allowed in the ticket's current state (HTTP 409)."""

    field = "status"


class ConcurrentUpdate(TicketError):
    """Others kept changing the ticket while we tried to; the caller may retry (HTTP 409)."""


class PolicyError(ValueError):
    """A YAML policy file is invalid; raised at load time so a bad deploy fails fast."""
