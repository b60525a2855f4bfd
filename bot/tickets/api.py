"""Desk HTTP API for tickets and its OpenAPI document; starts the SLA monitor worker.

`setup(app)` is the one call create_app makes. Authentication is the desk's bearer-token
middleware (every /api/ route); this module turns every failure on its routes into the
desk's JSON error shape {"error", "field"}.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator

from bot.http import REDIS, SETTINGS, WORKERS, json_error, json_errors_for
from bot.tickets import openapi, sla_monitor
from bot.tickets.errors import (
    ConcurrentUpdate,
    IllegalTransition,
    InvalidField,
    TicketNotFound,
)
from bot.tickets.models import Status, TicketFilter
from bot.tickets.service import Policies, TicketService
from bot.tickets.validation import DEFAULT_LIMIT, clean_phone, is_ticket_number

log = logging.getLogger(__name__)

TICKETS = web.AppKey("tickets", TicketService)
POLICIES = web.AppKey("ticket_policies", Policies)
OPENAPI = web.AppKey("tickets_openapi", dict)
VALIDATORS = web.AppKey("tickets_validators", dict)
QUERY_VALIDATORS = web.AppKey("tickets_query_validators", dict)
_INTEGER = re.compile(r"-?[0-9]{1,18}")
PREFIXES = ("/api/tickets", "/api/openapi.json")
DEFAULT_ACTOR = "desk"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ------------------------------------------------------------------ errors
def _handles_ticket_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidField as exc:
            return json_error(400, exc.field, exc.message)
        except TicketNotFound as exc:
            return json_error(404, "number", exc.message)
        except (IllegalTransition, ConcurrentUpdate) as exc:
            return json_error(409, exc.field, exc.message)

    return wrapped


json_errors = json_errors_for(PREFIXES, "the ticket store is unavailable; retry later")


# ------------------------------------------------------------------ input
async def _body(request: web.Request, schema: str) -> dict[str, Any]:
    raw = await request.read()  # over client_max_size: 413, made JSON by json_errors
    try:
        body = json.loads(raw, parse_constant=_reject_constant) if raw else None
    except (ValueError, RecursionError) as exc:
        raise InvalidField("body", "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidField("body", "the body must be a JSON object")
    _validate(request.app[VALIDATORS][schema], body)
    _check_encodable(body)
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_encodable(body: dict[str, Any]) -> None:
    # Lone surrogates are valid JSON escapes but cannot be stored as UTF-8.
    for key, value in body.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidField(key, f"{key} is not valid text") from exc


def _validate(validator: Draft7Validator, instance: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    if not errors:
        return
    error = errors[0]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        field = next((k for k in sorted(error.instance) if k not in allowed), "body")
        raise InvalidField(field, f"unknown field {field!r}")
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        field = missing[0] if missing else "body"
        raise InvalidField(field, f"{field} is required")
    field = str(error.path[0]) if error.path else "body"
    raise InvalidField(field, f"{field}: {_short(error.message)}")


def _short(message: str) -> str:
    # jsonschema repeats the (possibly 2000-character) value in its message.
    return message if len(message) <= 200 else message[:200] + "…"


def _query(request: web.Request) -> dict[str, Any]:
    validators: dict[str, Draft7Validator] = request.app[QUERY_VALIDATORS]
    values: dict[str, Any] = {}
    for name in request.query:
        if name not in validators:
            raise InvalidField(name, f"unknown query parameter {name!r}")
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


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not is_ticket_number(number):
        raise InvalidField("number", "not a ticket number (e.g. TK20261127-0042)")
    return number


def _actor(body: dict[str, Any]) -> str:
    return body.get("actor") or DEFAULT_ACTOR


# ------------------------------------------------------------------ handlers
@_handles_ticket_errors
async def list_tickets(request: web.Request) -> web.Response:
    query = _query(request)
    service = request.app[TICKETS]
    flt = TicketFilter(
        status=Status(query["status"]) if "status" in query else None,
        grade=query.get("grade"),
        phone=clean_phone(query["phone"]) if "phone" in query else None,
        owner=query.get("owner"),
        category=query.get("category"),
    )
    page = await service.store.list(flt, query.get("limit", DEFAULT_LIMIT), query.get("cursor"))
    return web.json_response(
        {"items": [t.to_json() for t in page.items], "next_cursor": page.next_cursor}
    )


@_handles_ticket_errors
async def create_ticket(request: web.Request) -> web.Response:
    body = await _body(request, "CreateTicket")
    ticket = await request.app[TICKETS].create_complaint(
        category=body["category"],
        description=body["description"],
        location=body.get("location"),
        account_id=body.get("account_id"),
        phone=body["phone"],
        language=body.get("language", "zh"),
        channel=body.get("channel", "desk"),
        actor=_actor(body),
        phone_verified=body.get("phone_verified", False),
    )
    return web.json_response(
        ticket.to_json(), status=201, headers={"Location": f"/api/tickets/{ticket.number}"}
    )


@_handles_ticket_errors
async def get_ticket(request: web.Request) -> web.Response:
    number = _number(request)
    store = request.app[TICKETS].store
    ticket = await store.require(number)
    history = await store.history(number)
    return web.json_response(
        {"ticket": ticket.to_json(), "history": [h.to_json() for h in history]}
    )


@_handles_ticket_errors
async def change_status(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "StatusChange")
    ticket = await request.app[TICKETS].transition(
        number, body["status"], actor=_actor(body), note=body.get("note")
    )
    return web.json_response(ticket.to_json())


@_handles_ticket_errors
async def reassign(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "Reassign")
    ticket = await request.app[TICKETS].reassign(
        number, body["owner"], actor=_actor(body), note=body.get("note")
    )
    return web.json_response(ticket.to_json())


@_handles_ticket_errors
async def add_note(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "NewNote")
    entry = await request.app[TICKETS].add_note(number, body["text"], actor=_actor(body))
    return web.json_response(entry.to_json(), status=201)


@_handles_ticket_errors
async def rate(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "Rating")
    ticket = await request.app[TICKETS].rate(
        number, body["rating"], body.get("comment"), actor=_actor(body)
    )
    return web.json_response(ticket.to_json())


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


# ------------------------------------------------------------------ wiring
async def _tickets_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    service = TicketService.build(app[REDIS], app[POLICIES], settings.timezone)
    app[TICKETS] = service
    monitor = sla_monitor.start(app[WORKERS], service.store, settings.sla_check_interval_s)
    yield
    await monitor.stop()


def setup(app: web.Application) -> None:
    """Ticket routes, their OpenAPI document, and the SLA monitor (bot.tickets.sla_monitor,
    one per desk process)."""
    policies = Policies.load(app[SETTINGS].policy_dir)  # a bad YAML stops the desk here
    app[POLICIES] = policies
    app[OPENAPI] = openapi.build_document(policies)
    app[VALIDATORS] = {
        name: Draft7Validator(schema) for name, schema in openapi.request_schemas(policies).items()
    }
    app[QUERY_VALIDATORS] = {
        p["name"]: Draft7Validator(p["schema"]) for p in openapi.list_parameters(policies)
    }
    router = app.router
    router.add_get("/api/openapi.json", openapi_document, allow_head=False)
    router.add_get("/api/tickets", list_tickets, allow_head=False)
    router.add_post("/api/tickets", create_ticket)
    router.add_get("/api/tickets/{number}", get_ticket, allow_head=False)
    router.add_post("/api/tickets/{number}/status", change_status)
    router.add_post("/api/tickets/{number}/owner", reassign)
    router.add_post("/api/tickets/{number}/notes", add_note)
    router.add_post("/api/tickets/{number}/rating", rate)
    app.middlewares.append(json_errors)
    app.cleanup_ctx.append(_tickets_ctx)
