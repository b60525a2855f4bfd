"""Reading the input of the desk's JSON APIs (tickets, outages, reports), one way for all.

Request bodies and query parameters are checked against each API's OpenAPI schemas
(Draft7Validator); what is wrong is raised as InvalidField, which the API answers with
400 {"error", "field"} (bot.http.handles_field_errors). The error classes here are the
bases of each capability's own (bot.tickets.errors, bot.outages.errors, bot.reports.dates).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NOT_AN_OBJECT = "the body must be a JSON object"


class FieldError(Exception):
    """Base class: `field` names the input the caller should fix (the API's error shape)."""

    field: str = "body"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidField(FieldError, ValueError):
    """An input value is malformed, unknown or out of bounds (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class NotFound(FieldError, LookupError):
    """No record with that key (HTTP 404)."""


class Conflict(FieldError):
    """Not allowed in the record's current state, or others kept changing it (HTTP 409)."""


async def read_body(request: web.Request, validator: Draft7Validator) -> dict[str, Any]:
    """The JSON object in the request's body, valid for `validator`."""
    raw = await request.read()  # over client_max_size: 413, made JSON by json_errors_for
    try:
        body = json.loads(raw, parse_constant=_reject_constant) if raw else None
    except (ValueError, RecursionError) as exc:
        raise InvalidField("body", _NOT_AN_OBJECT) from exc
    if not isinstance(body, dict):
        raise InvalidField("body", _NOT_AN_OBJECT)
    validate(validator, body)
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_encodable(body: dict[str, Any]) -> None:
    """Lone surrogates are valid JSON escapes but cannot be stored as UTF-8: a top-level
    text holding one is invalid."""
    for key, value in body.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidField(key, f"{key} is not valid text") from exc


def validate(validator: Draft7Validator, instance: dict[str, Any]) -> None:
    """The first error (by path) as InvalidField; a nested field is named a.b."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    if not errors:
        return
    error = errors[0]
    prefix = ".".join(str(p) for p in error.path)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = next((k for k in sorted(error.instance) if k not in allowed), "body")
        field = f"{prefix}.{extra}" if prefix else extra
        raise InvalidField(field, f"unknown field {field!r}")
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        name = missing[0] if missing else "body"
        field = f"{prefix}.{name}" if prefix else name
        raise InvalidField(field, f"{field} is required")
    field = ".".join(str(p) for p in error.path if isinstance(p, str)) or "body"
    raise InvalidField(field, f"{field}: {_short(error.message)}")


def _short(message: str) -> str:
    # jsonschema repeats the (possibly long) value in its message.
    return message if len(message) <= 200 else message[:200] + "…"


def read_query(
    request: web.Request,
    validators: dict[str, Draft7Validator],
    *,
    quote_chars: int | None = None,
) -> dict[str, Any]:
    """The query's parameters, each known (a key of `validators`), given once and valid;
    integers converted. An unknown name is quoted in the error up to `quote_chars`."""
    values: dict[str, Any] = {}
    for name in request.query:
        if name not in validators:
            raise InvalidField(name, f"unknown query parameter {name[:quote_chars]!r}")
        all_values = request.query.getall(name)
        if len(all_values) > 1:
            raise InvalidField(name, f"{name} given more than once")
        value: Any = all_values[0]
        if validators[name].schema.get("type") == "integer":
            if not _INTEGER.fullmatch(value):
                raise InvalidField(name, f"{name} must be a whole number")
            value = int(value)
        error = next(iter(validators[name].iter_errors(value)), None)
        if error is not None:
            raise InvalidField(name, f"{name}: {_short(error.message)}")
        values[name] = value
    return values
