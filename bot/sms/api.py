"""Read-only desk API over the outbox and the local sink (for the agent console).

GET /api/sms/outbox?limit=50          newest outbox messages with their delivery record
GET /api/sms/outbox/{id}              one message and its status history
GET /api/sms/sink?limit=50&to=+86...  what the local sink "delivered" (offline mode)
"""

from __future__ import annotations

from aiohttp import web

from bot.desk.auth import json_error
from bot.phones import InvalidPhone, to_e164
from bot.sms import outbox, sink

MAX_LIMIT = 500


def _limit(request: web.Request) -> int | web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return json_error(400, "limit", f"limit must be an integer 1..{MAX_LIMIT}")
    return int(raw)


def _redis(request: web.Request):  # type: ignore[no-untyped-def]
    from bot.desk.app import REDIS  # bot.desk.app imports this package

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


def setup(app: web.Application) -> None:
    app.router.add_get("/api/sms/outbox", list_outbox)
    app.router.add_get("/api/sms/outbox/{id}", get_message)
    app.router.add_get("/api/sms/sink", list_sink)
