"""Errors of the ticket capability; the API maps each to one HTTP status."""

from __future__ import annotations

from bot import jsonapi


class TicketError(jsonapi.FieldError):
    """Base class: `field` names the input the caller should fix, by default the ticket number."""

    field = "number"


class InvalidField(TicketError, jsonapi.InvalidField):
    """An input value is malformed, unknown or too long (HTTP 400)."""


class TicketNotFound(TicketError, jsonapi.NotFound):
    """No ticket with that number (HTTP 404)."""


class IllegalTransition(TicketError, jsonapi.Conflict):
    """The change is not allowed in the ticket's current state (HTTP 409)."""

    field = "status"


class ConcurrentUpdate(TicketError, jsonapi.Conflict):
    """Others kept changing the ticket while we tried to; the caller may retry (HTTP 409)."""


class PolicyError(ValueError):
    """A YAML policy file is invalid; raised at load time so a bad deploy fails fast."""
