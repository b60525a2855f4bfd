"""Desk HTTP API for outages (/api/outages), and its part of the OpenAPI document.

POST  /api/outages                publish (201, Location)
GET   /api/outages                list (?status=&area=&limit=)
POST  /api/outages/preview        recipients and SMS segments per language, before publishing
GET   /api/outages/{id}           one outage with its history
PATCH /api/outages/{id}           change eta / text / status
GET   /api/outages/{id}/notices   the broadcast's progress (bot.notices.progress)

Authentication is the desk's bearer-token middleware (every /api/ route). Errors are the
desk's JSON shape {"error", "field"}. The console (bot.outages.console) calls the same
operations (publish, change, ...) with the logged-in supervisor as the actor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from jsonschema import Draft7Validator

from bot import jsonapi
from bot.accounts import backend_for
from bot.accounts.backend import AccountBackend, BackendUnavailable
from bot.http import REDIS, SETTINGS, Handler, handles_field_errors, json_error, json_errors_for
from bot.notices import broadcast, progress
from bot.openapi import for_validation, merge_into
from bot.outages import openapi
from bot.outages.errors import InvalidField
from bot.outages.models import (
    Outage,
    clean_areas,
    clean_eta,
    clean_kind,
    clean_texts,
    is_outage_id,
    parse_datetime,
)
from bot.outages.registry import UNSET, OutageRegistry
from bot.tickets.api import OPENAPI  # the desk's one OpenAPI document (tickets_api.setup)

REGISTRY = web.AppKey("outage_registry", OutageRegistry)
BACKEND = web.AppKey("outage_account_backend", AccountBackend)
VALIDATORS = web.AppKey("outages_validators", dict)
QUERY_VALIDATORS = web.AppKey("outages_query_validators", dict)
PREFIXES = ("/api/outages",)
ID = "{id:(?!preview$)[^/]+}"  # the route's id segment
DEFAULT_ACTOR = "desk"


# ------------------------------------------------------------------ errors
def handles_outage_errors(handler: Handler) -> Handler:
    """Outage errors -> the desk's JSON error shape (shared with the console's routes)."""

    @handles_field_errors  # bot.outages.errors: 400, 404, 409
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BackendUnavailable:
            return json_error(503, "backend", "the account backend is unavailable; retry later")

    return wrapped


json_errors = json_errors_for(PREFIXES, "the outage registry is unavailable; retry later")


# ------------------------------------------------------------------ input
async def read_body(request: web.Request, schema: str) -> dict[str, Any]:
    """The JSON body, validated against the OpenAPI request schema `schema`."""
    return await jsonapi.read_body(request, request.app[VALIDATORS][schema])


def read_query(request: web.Request) -> dict[str, Any]:
    return jsonapi.read_query(request, request.app[QUERY_VALIDATORS], quote_chars=40)


def outage_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not is_outage_id(value):
        raise InvalidField("id", "not an outage id (e.g. OG20261201-0001)")
    return value


# ------------------------------------------------------------------ operations
async def list_outages(app: web.Application, query: dict[str, Any]) -> list[Outage]:
    return await app[REGISTRY].list(
        status=query.get("status"),
        area=query.get("area"),
        limit=query.get("limit", openapi.DEFAULT_LIMIT),
    )


async def publish(app: web.Application, body: dict[str, Any], actor: str) -> Outage:
    return await app[REGISTRY].publish(
        areas=body["areas"],
        kind=body["kind"],
        starts_at=body["starts_at"],
        eta=body.get("eta"),
        cause=body["cause"],
        text=body["text"],
        actor=actor,
    )


async def change(app: web.Application, ident: str, body: dict[str, Any], actor: str) -> Outage:
    return await app[REGISTRY].update(
        ident,
        actor=actor,
        eta=body["eta"] if "eta" in body else UNSET,
        text=body["text"] if "text" in body else UNSET,
        status=body["status"] if "status" in body else UNSET,
    )


async def preview(app: web.Application, body: dict[str, Any]) -> dict[str, object]:
    """What publishing would send: recipients, SMS segments and bodies per language."""
    starts_at = parse_datetime("starts_at", body["starts_at"]) if "starts_at" in body else None
    eta = None
    if body.get("eta") is not None:
        eta = clean_eta(body["eta"], starts_at) if starts_at else parse_datetime("eta", body["eta"])
    return await broadcast.preview(
        app[REDIS],
        app[BACKEND],
        areas=clean_areas(body["areas"]),
        kind=clean_kind(body["kind"]),
        text=clean_texts(body["text"]),
        starts_at=starts_at,
        eta=eta,
    )


async def notices(app: web.Application, ident: str) -> dict[str, int]:
    await app[REGISTRY].require(ident)
    return await progress.summary(app[REDIS], ident)


# ------------------------------------------------------------------ handlers
@handles_outage_errors
async def list_handler(request: web.Request) -> web.Response:
    outages = await list_outages(request.app, read_query(request))
    return web.json_response({"items": [o.to_json() for o in outages]})


@handles_outage_errors
async def create_handler(request: web.Request) -> web.Response:
    body = await read_body(request, "NewOutage")
    outage = await publish(request.app, body, body.get("actor") or DEFAULT_ACTOR)
    return web.json_response(
        outage.to_json(), status=201, headers={"Location": f"/api/outages/{outage.id}"}
    )


@handles_outage_errors
async def get_handler(request: web.Request) -> web.Response:
    outage = await request.app[REGISTRY].require(outage_id(request))
    return web.json_response(outage.to_json())


@handles_outage_errors
async def change_handler(request: web.Request) -> web.Response:
    ident = outage_id(request)
    body = await read_body(request, "OutageChange")
    outage = await change(request.app, ident, body, body.get("actor") or DEFAULT_ACTOR)
    return web.json_response(outage.to_json())


@handles_outage_errors
async def preview_handler(request: web.Request) -> web.Response:
    body = await read_body(request, "OutagePreviewRequest")
    return web.json_response(await preview(request.app, body))


@handles_outage_errors
async def notices_handler(request: web.Request) -> web.Response:
    ident = outage_id(request)
    return web.json_response({"outage_id": ident, "progress": await notices(request.app, ident)})


# ------------------------------------------------------------------ wiring
async def _outages_ctx(app: web.Application) -> AsyncIterator[None]:
    app[REGISTRY] = OutageRegistry(app[REDIS])
    app[BACKEND] = backend_for(app[SETTINGS])  # the desk's own settings (tests give theirs)
    yield


def setup(app: web.Application) -> None:
    """Outage routes and their OpenAPI paths (merged into the document the ticket API
    serves at /api/openapi.json: call after bot.tickets.api.setup)."""
    if OPENAPI not in app:
        raise RuntimeError("bot.outages.api.setup needs bot.tickets.api.setup first")
    merge_into(app[OPENAPI], openapi.fragment())
    app[VALIDATORS] = {
        name: Draft7Validator(for_validation(schema))
        for name, schema in openapi.request_schemas().items()
    }
    app[QUERY_VALIDATORS] = {
        p["name"]: Draft7Validator(p["schema"]) for p in openapi.list_parameters()
    }
    router = app.router
    router.add_get("/api/outages", list_handler, allow_head=False)
    router.add_post("/api/outages", create_handler)
    router.add_post("/api/outages/preview", preview_handler)
    # {id} is anything but "preview", so other methods on the preview route get 405 and
    # an Allow header naming POST only. A malformed id still reaches the handler (400).
    router.add_get(f"/api/outages/{ID}", get_handler, allow_head=False)
    router.add_patch(f"/api/outages/{ID}", change_handler)
    router.add_get(f"/api/outages/{ID}/notices", notices_handler, allow_head=False)
    app.middlewares.append(json_errors)
    app.cleanup_ctx.append(_outages_ctx)
