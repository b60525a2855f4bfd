"""What the desk's HTTP packages share, imported downward by all of them.

bot.desk.app composes the desk from bot.tickets.api, bot.sms.api, bot.sms.sender and
bot.desk.console; they reach the process's shared resources through these app keys and
answer errors in one JSON shape. Keeping both here (not in bot.desk) means no package
imports the composition root back, and no domain package depends on the desk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from bot.jsonapi import Conflict, InvalidField, NotFound
from bot.settings import Settings
from bot.tasks import Workers

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", aioredis.Redis)  # one client per desk process (bot.db.connect)
WORKERS = web.AppKey("workers", Workers)  # the process's background workers, for /healthz

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def json_error(status: int, field: str | None, message: str) -> web.Response:
    """The one shape of every desk error: {"error": ..., "field": ...}."""
    body: dict[str, str] = {"error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def handles_field_errors(handler: Handler) -> Handler:
    """A handler whose InvalidField, NotFound and Conflict (bot.jsonapi, the bases of each
    capability's errors) are answered 400, 404 and 409 {"error", "field"}."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidField as exc:
            return json_error(400, exc.field, exc.message)
        except NotFound as exc:
            return json_error(404, exc.field, exc.message)
        except Conflict as exc:
            return json_error(409, exc.field, exc.message)

    return wrapped


def json_errors_for(prefixes: tuple[str, ...], unavailable: str) -> Middleware:
    """A middleware for one API's routes (paths under `prefixes`): JSON for router errors
    (404/405/413), and 503 {"field": "storage", "error": unavailable} when Redis is down,
    never a plain-text 500."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(prefixes):
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            field = {404: "path", 405: "method", 413: "body"}.get(exc.status, "request")
            response = json_error(exc.status, field, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except (RedisError, OSError, asyncio.TimeoutError):
            log.exception("%s: Redis unavailable", request.path)
            return json_error(503, "storage", unavailable)

    return middleware
