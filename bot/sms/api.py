"""Read-only desk API over the outbox and the local sink (for the agent console).

GET /api/sms/outbox?limit=50          newest outbox messages with their delivery record
GET /api/sms/outbox/{id}              one message and its status history
GET /api/sms/sink?limit=50&to=+86...  what the local sink "delivered" (offline mode)
GET /api/sms/sending                  {"paused": episode or null, "alerts": [...]}: whether
                                      a 401 from Twilio paused sending (bot.sms.pause)
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from aiohttp import web

from bot.http import REDIS, json_error, json_errors_for
from bot.phones import InvalidPhone, to_e164
from bot.sms import outbox, pause, sink
from bot.text import ascii_int

MAX_LIMIT = 500

PREFIX = "/api/sms/"

json_errors = json_errors_for((PREFIX,), "storage unavailable; retry")


def _limit(request: web.Request) -> int | web.Response:
    limit = ascii_int(request.query.get("limit", "50"), 1, MAX_LIMIT)
    if limit is None:
        return json_error(400, "limit", f"limit must be an integer 1..{MAX_LIMIT}")
    return limit


def _redis(request: web.Request) -> aioredis.Redis:
    return request.app[REDIS]


async def list_outbox(request: web.Request) -> web.Response:
    limit = _limit(request)
    if isinstance(limit, web.Response):
        return limit
    return web.json_response({"messages": await outbox.recent(_redis(request), limit)})


async def get_message(request: web.Request) -> web.Response:
    message_id = request.match_info["id"]
    redis = _redis(request)
    record = await outbox.get(redis, message_id)
    if record is None:
        return json_error(404, "id", "no such outbox message")
    return web.json_response(
        {"message": record, "history": await outbox.history(redis, message_id)}
    )


async def list_sink(request: web.Request) -> web.Response:
    limit = _limit(request)
    if isinstance(limit, web.Response):
        return limit
    to = request.query.get("to")
    if to is not None:
        try:
            to = to_e164(to)
        except InvalidPhone:
            return json_error(400, "to", "to is not a valid phone number")
    return web.json_response({"messages": await sink.read(_redis(request), to=to, count=limit)})


async def sending(request: web.Request) -> web.Response:
    redis = _redis(request)
    return web.json_response(
        {
            "paused": await pause.paused(redis),
            "alerts": await pause.alerts(redis, time.time(), include_acknowledged=True),
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/sms/outbox", list_outbox)
    app.router.add_get("/api/sms/outbox/{id}", get_message)
    app.router.add_get("/api/sms/sink", list_sink)
    app.router.add_get("/api/sms/sending", sending)
    app.middlewares.append(json_errors)
