"""Errors of the outage registry; the API maps each to one HTTP status."""

from __future__ import annotations

from bot import jsonapi


class OutageError(jsonapi.FieldError):
    """Base class: `field` names the input the caller should fix, by default the outage id."""

    field = "id"


class InvalidField(OutageError, jsonapi.InvalidField):
    """An input value is malformed, unknown or out of bounds (HTTP 400)."""


class OutageNotFound(OutageError, jsonapi.NotFound):
    """No outage with that id (HTTP 404)."""


class IllegalTransition(OutageError, jsonapi.Conflict):
    """Not allowed in the outage's current status, e.g. a change to a restored one (409)."""

    field = "status"


class ConcurrentUpdate(OutageError, jsonapi.Conflict):
    """Others kept changing the outage while we tried to; the caller may retry (HTTP 409)."""
