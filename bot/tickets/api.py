"""Desk HTTP API for tickets and its OpenAPI document; starts the SLA monitor worker.

`setup(app)` is the one call create_app makes. Authentication is the desk's bearer-token
middleware (every /api/ route); this module turns every failure on its routes into the
desk's JSON error shape {"error", "field"}.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator

from bot import jsonapi
from bot.http import REDIS, SETTINGS, WORKERS, handles_field_errors, json_errors_for
from bot.tickets import openapi, sla_monitor
from bot.tickets.errors import InvalidField
from bot.tickets.models import Status, TicketFilter
from bot.tickets.service import Policies, TicketService
from bot.tickets.validation import DEFAULT_LIMIT, clean_phone, is_ticket_number

log = logging.getLogger(__name__)

TICKETS = web.AppKey("tickets", TicketService)
POLICIES = web.AppKey("ticket_policies", Policies)
OPENAPI = web.AppKey("tickets_openapi", dict)
VALIDATORS = web.AppKey("tickets_validators", dict)
QUERY_VALIDATORS = web.AppKey("tickets_query_validators", dict)
PREFIXES = ("/api/tickets", "/api/openapi.json")
DEFAULT_ACTOR = "desk"

json_errors = json_errors_for(PREFIXES, "the ticket store is unavailable; retry later")


# ------------------------------------------------------------------ input
async def _body(request: web.Request, schema: str) -> dict[str, Any]:
    body = await jsonapi.read_body(request, request.app[VALIDATORS][schema])
    jsonapi.check_encodable(body)
    return body


def _query(request: web.Request) -> dict[str, Any]:
    return jsonapi.read_query(request, request.app[QUERY_VALIDATORS])


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not is_ticket_number(number):
        raise InvalidField("number", "not a ticket number (e.g. TK20261127-0042)")
    return number


def _actor(body: dict[str, Any]) -> str:
    return body.get("actor") or DEFAULT_ACTOR


# ------------------------------------------------------------------ handlers
@handles_field_errors
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


@handles_field_errors
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


@handles_field_errors
async def get_ticket(request: web.Request) -> web.Response:
    number = _number(request)
    store = request.app[TICKETS].store
    ticket = await store.require(number)
    history = await store.history(number)
    return web.json_response(
        {"ticket": ticket.to_json(), "history": [h.to_json() for h in history]}
    )


@handles_field_errors
async def change_status(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "StatusChange")
    ticket = await request.app[TICKETS].transition(
        number, body["status"], actor=_actor(body), note=body.get("note")
    )
    return web.json_response(ticket.to_json())


@handles_field_errors
async def reassign(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "Reassign")
    ticket = await request.app[TICKETS].reassign(
        number, body["owner"], actor=_actor(body), note=body.get("note")
    )
    return web.json_response(ticket.to_json())


@handles_field_errors
async def add_note(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _body(request, "NewNote")
    entry = await request.app[TICKETS].add_note(number, body["text"], actor=_actor(body))
    return web.json_response(entry.to_json(), status=201)


@handles_field_errors
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
