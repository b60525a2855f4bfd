"""The console's JSON API (session + CSRF, see guard.py), used by console.js.

GET  /console/api/queue                          queue, conversations with agents, stats
POST /console/api/queue/next                     claim the next conversation I may take
GET  /console/api/conversations/{id}             state, transcript (from Rasa), notes
POST /console/api/conversations/{id}/claim
POST /console/api/conversations/{id}/reply       {"text"}
POST /console/api/conversations/{id}/notes       {"text"}          internal, never sent
POST /console/api/conversations/{id}/ticket      {"category", "description", "phone"?}
                                                 or {"number"} to link an existing ticket
POST /console/api/conversations/{id}/handback
POST /console/api/conversations/{id}/close
GET  /console/api/supervisor                     supervisors only
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from bot.desk.auth import json_error
from bot.desk.console.context import CONSOLE, Console, current_user, valid_conversation_id
from bot.handoff.errors import HandoffError
from bot.handoff.rasa_client import RasaError, transcript
from bot.handoff.store import Conversation
from bot.tickets.errors import InvalidField, TicketNotFound
from bot.tickets.validation import MAX_NOTE, clean_text, normalise_number

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS = {
    "not_found": 404,
    "taken": 409,
    "reserved": 409,
    "not_queued": 409,
    "not_active": 409,
    "forbidden": 403,
    "invalid": 400,
    "rasa": 502,
}


def _error(exc: HandoffError) -> web.Response:
    # The desk's error shape, plus a stable code for the script (taken, reserved, ...).
    body = {"error": exc.message, "field": exc.field or "conversation", "code": exc.code}
    return web.json_response(body, status=STATUS.get(exc.code, 409))


def handles_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HandoffError as exc:
            return _error(exc)
        except InvalidField as exc:
            return json_error(400, exc.field, exc.message)
        except TicketNotFound as exc:
            return json_error(404, "number", exc.message)
        except RedisError:
            log.exception("console: Redis unavailable")
            return json_error(503, "storage", "storage unavailable; retry")

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise HandoffError("invalid", "the body must be a JSON object", "body") from None
    if not isinstance(body, dict):
        raise HandoffError("invalid", "the body must be a JSON object", "body")
    return body


def _text(body: dict[str, Any], field: str = "text") -> str:
    value = body.get(field)
    if not isinstance(value, str):
        raise HandoffError("invalid", f"{field} must be text", field)
    return value


async def _conversation(request: web.Request) -> Conversation:
    conversation_id = request.match_info["id"]
    if not valid_conversation_id(conversation_id):
        raise HandoffError("not_found", "not a conversation id", "id")
    conversation = await request.app[CONSOLE].store.get(conversation_id)
    if conversation is None:
        raise HandoffError("not_found", "no such handoff conversation", "id")
    return conversation


async def snapshot(console: Console, now: float | None = None) -> dict[str, Any]:
    """Queue, conversations with agents, and the supervisor's figures."""
    now = time.time() if now is None else now
    waiting = await console.store.queue()
    active = await console.store.active()
    online = await console.presence.online(now)
    return {
        "now": now,
        "queue": [{**c.to_json(now), "position": i} for i, c in enumerate(waiting, start=1)],
        "active": [c.to_json(now) for c in active],
        "stats": {
            "agents_online": len(online),
            "agents": online,
            "queue_length": len(waiting),
            "longest_wait_s": max((now - c.enqueued_at for c in waiting), default=0.0),
            "active": len(active),
            "avg_handle_s": await console.store.average_handle_time(),
        },
    }


@handles_errors
async def get_queue(request: web.Request) -> web.Response:
    return web.json_response(await snapshot(request.app[CONSOLE]))


@handles_errors
async def take_next(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    conversation = await console.ops.claim_next(current_user(request).staff)
    if conversation is None:
        return json_error(404, "queue", "nobody is waiting that you may take")
    return web.json_response({"conversation": conversation.to_json(time.time())})


@handles_errors
async def get_conversation(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    conversation = await _conversation(request)
    lines: list[dict[str, Any]] = []
    error = None
    try:
        lines = transcript(await console.rasa.tracker(conversation.id))
    except RasaError as exc:
        log.warning("transcript of %s unavailable: %s", conversation.id, exc)
        error = "transcript unavailable: Rasa did not answer"
    return web.json_response(
        {
            "conversation": conversation.to_json(time.time(), full_phone=True),
            "transcript": lines,
            "transcript_error": error,
            "notes": await console.store.notes(conversation.id),
            "me": current_user(request).username,
        }
    )


@handles_errors
async def claim(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    claimed = await request.app[CONSOLE].ops.claim(conversation.id, current_user(request).staff)
    return web.json_response({"conversation": claimed.to_json(time.time(), full_phone=True)})


@handles_errors
async def reply(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    body = await _body(request)
    event = await request.app[CONSOLE].ops.reply(
        conversation.id, current_user(request).staff, _text(body)
    )
    return web.json_response(
        {"sent": {"text": event["text"], "agent_name": event["metadata"]["agent_name"]}},
        status=201,
    )


@handles_errors
async def add_note(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    text = clean_text("text", (await _body(request)).get("text"), MAX_NOTE)
    note = await request.app[CONSOLE].store.add_note(
        conversation.id, current_user(request).username, text
    )
    return web.json_response(note, status=201)


@handles_errors
async def ticket(request: web.Request) -> web.Response:
    from bot.tickets.api import TICKETS  # the ticket capability's service (tickets_api.setup)

    console = request.app[CONSOLE]
    tickets = request.app.get(TICKETS)
    if tickets is None:
        return json_error(503, "ticket", "the ticket service is not available")
    conversation = await _conversation(request)
    body = await _body(request)
    user = current_user(request)
    if "number" in body:
        number = normalise_number(body["number"]) if isinstance(body["number"], str) else None
        if number is None:
            raise InvalidField("number", "not a ticket number (e.g. TK20261127-0042)")
        found = await tickets.store.require(number)
        await tickets.add_note(
            number, f"linked to chat {conversation.id[:64]}", actor=user.username
        )
        created = False
    else:
        found = await tickets.create_complaint(
            category=body.get("category"),
            description=body.get("description"),
            phone=body.get("phone") or conversation.phone,
            language=conversation.language,
            channel=conversation.channel or "desk",
            actor=user.username,
        )
        created = True
    await console.store.set_ticket(conversation.id, found.number, user.username)
    # The bot knows the customer's ticket after the hand-back (slot ticket_id).
    try:
        await console.rasa.append(
            conversation.id, [{"event": "slot", "name": "ticket_id", "value": found.number}]
        )
    except RasaError:
        log.warning("ticket_id slot not set for %s", conversation.id)
    return web.json_response(
        {"ticket": found.to_json(), "created": created}, status=201 if created else 200
    )


@handles_errors
async def hand_back(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    done = await request.app[CONSOLE].ops.hand_back(conversation.id, current_user(request).staff)
    return web.json_response({"conversation": done.to_json(time.time())})


@handles_errors
async def close(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    done = await request.app[CONSOLE].ops.close(conversation.id, current_user(request).staff)
    return web.json_response({"conversation": done.to_json(time.time())})


@handles_errors
async def supervisor(request: web.Request) -> web.Response:
    if current_user(request).role != "supervisor":
        return json_error(403, "role", "supervisors only")
    return web.json_response((await snapshot(request.app[CONSOLE]))["stats"])


def setup(app: web.Application) -> None:
    router = app.router
    base = "/console/api"
    router.add_get(f"{base}/queue", get_queue)
    router.add_post(f"{base}/queue/next", take_next)
    router.add_get(f"{base}/conversations/{{id}}", get_conversation)
    router.add_post(f"{base}/conversations/{{id}}/claim", claim)
    router.add_post(f"{base}/conversations/{{id}}/reply", reply)
    router.add_post(f"{base}/conversations/{{id}}/notes", add_note)
    router.add_post(f"{base}/conversations/{{id}}/ticket", ticket)
    router.add_post(f"{base}/conversations/{{id}}/handback", hand_back)
    router.add_post(f"{base}/conversations/{{id}}/close", close)
    router.add_get(f"{base}/supervisor", supervisor)
