"""The console's JSON API (session + CSRF, see guard.py), used by console.js.

GET  /console/api/queue                          queue, conversations with agents, stats
POST /console/api/queue/next                     claim the next conversation I may take
GET  /console/api/conversations/{id}             state, transcript (from Rasa), notes
POST /console/api/conversations/{id}/claim
POST /console/api/conversations/{id}/reply       {"text", "key"}   key: one per composed
                                                 message, the same on every retry
POST /console/api/conversations/{id}/notes       {"text"}          internal, never sent
POST /console/api/conversations/{id}/ticket      {"category", "description", "phone"?}
                                                 or {"number"} to link an existing ticket
POST /console/api/conversations/{id}/handback
POST /console/api/conversations/{id}/close
GET  /console/api/supervisor                     supervisors only

Who may do what: the queue is every agent's; a conversation with an agent is that agent's
(and supervisors'): its transcript, the customer's phone, and its tickets. Supervisor
figures go to supervisors only (view_for).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from bot.desk.console.context import CONSOLE, Console, current_user, valid_conversation_id
from bot.desk.users import User
from bot.handoff.errors import HandoffError
from bot.handoff.rasa_client import RasaError, transcript
from bot.handoff.store import AGENT, QUEUED, Conversation
from bot.http import json_error
from bot.identity.verification import verified_phone
from bot.phones import InvalidPhone, to_e164
from bot.sms import outbox
from bot.tickets.api import TICKETS  # the ticket capability's service (tickets_api.setup)
from bot.tickets.errors import InvalidField, TicketNotFound
from bot.tickets.models import Ticket
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
    "in_progress": 409,
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


def is_supervisor(user: User) -> bool:
    return user.role == "supervisor"


def view_for(data: dict[str, Any], user: User) -> dict[str, Any]:
    """What `user` may see of a snapshot: supervisors all of it; agents the queue, their
    own conversations and the queue's length."""
    if is_supervisor(user):
        return data
    return {
        "now": data["now"],
        "queue": data["queue"],
        "active": [c for c in data["active"] if c["agent"] == user.username],
        "stats": {"queue_length": data["stats"]["queue_length"]},
    }


def may_read(user: User, conversation: Conversation) -> bool:
    """A waiting conversation is anyone's to look at before claiming; after that it is
    its agent's (and supervisors')."""
    return (
        is_supervisor(user) or conversation.state == QUEUED or conversation.agent == user.username
    )


def holds(user: User, conversation: Conversation) -> bool:
    """May act for the customer: file or link their tickets, see their phone."""
    return is_supervisor(user) or (
        conversation.state == AGENT and conversation.agent == user.username
    )


async def customer_phone(console: Console, conversation: Conversation) -> str | None:
    """The phone the customer has proven they hold: an SMS sender's own number, or the
    web conversation's verified phone (bot.identity.verification)."""
    if conversation.id.startswith("sms:"):
        return conversation.id[4:]
    return await verified_phone(console.redis, conversation.id)


def belongs(ticket: Ticket, conversation: Conversation, phone: str | None) -> bool:
    """The ticket is this customer's: filed in this conversation, or disclosable to the
    phone the customer proved they hold (the bot's own rule, Ticket.disclosable_to)."""
    if ticket.conversation_id == conversation.id:
        return True
    return phone is not None and ticket.disclosable_to(phone, conversation.id)


async def delivery(console: Console, key: str | None) -> dict[str, str] | None:
    """What the SMS outbox did with a message (None: not an SMS, or not queued yet)."""
    if not key:
        return None
    records = await outbox.find(console.redis, key)
    if not records:
        return None
    # A message in parts is as delivered as its least delivered part.
    worst = min(records, key=lambda r: outbox.STATUS_RANK.get(r.get("status", ""), 0))
    for record in records:  # a part that will never arrive outranks one still on its way
        if record.get("status") in ("skipped", "failed", "undelivered"):
            worst = record
    return {
        "status": worst.get("status", ""),
        "reason": worst.get("reason", ""),
        "error": worst.get("error", ""),
    }


@handles_errors
async def get_queue(request: web.Request) -> web.Response:
    return web.json_response(view_for(await snapshot(request.app[CONSOLE]), current_user(request)))


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
    user = current_user(request)
    if not may_read(user, conversation):
        raise HandoffError("forbidden", f"this conversation is with {conversation.agent}")
    lines: list[dict[str, Any]] = []
    error = None
    try:
        lines = transcript(await console.rasa.tracker(conversation.id))
        if conversation.channel == "sms":
            for line in lines:
                if line["kind"] == "agent":
                    line["delivery"] = await delivery(console, line.get("key"))
    except RasaError as exc:
        log.warning("transcript of %s unavailable: %s", conversation.id, exc)
        error = "transcript unavailable: Rasa did not answer"
    return web.json_response(
        {
            "conversation": conversation.to_json(time.time(), full_phone=holds(user, conversation)),
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
    console = request.app[CONSOLE]
    conversation = await _conversation(request)
    body = await _body(request)
    event, repeated = await console.ops.reply(
        conversation.id, current_user(request).staff, _text(body), _text(body, "key")
    )
    key = event["metadata"]["idempotency_key"]
    return web.json_response(
        {
            "sent": {
                "text": event["text"],
                "agent_name": event["metadata"]["agent_name"],
                "key": key,
                # SMS: what the outbox did with it so far (the transcript keeps it current).
                "delivery": await delivery(console, key) if conversation.channel == "sms" else None,
            },
            "repeated": repeated,  # a retry of a reply already sent: nothing was sent again
        },
        status=200 if repeated else 201,
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
    console = request.app[CONSOLE]
    tickets = request.app.get(TICKETS)
    if tickets is None:
        return json_error(503, "ticket", "the ticket service is not available")
    conversation = await _conversation(request)
    body = await _body(request)
    user = current_user(request)
    if not holds(user, conversation):
        raise HandoffError("forbidden", "claim the conversation before filing or linking tickets")
    phone = await customer_phone(console, conversation)
    if "number" in body:
        number = normalise_number(body["number"]) if isinstance(body["number"], str) else None
        if number is None:
            raise InvalidField("number", "not a ticket number (e.g. TK20261127-0042)")
        found = await tickets.store.require(number)
        if not belongs(found, conversation, phone) and not is_supervisor(user):
            # The same answer as for a number that does not exist: no probing.
            raise TicketNotFound(f"no ticket {number}")
        await tickets.add_note(
            number, f"linked to chat {conversation.id[:64]}", actor=user.username
        )
        created = False
    else:
        typed = body.get("phone") or phone or conversation.phone
        found = await tickets.create_complaint(
            category=body.get("category"),
            description=body.get("description"),
            phone=typed,
            language=conversation.language,
            channel=conversation.channel or "desk",
            actor=user.username,
            # Counts for the phone's history only if the customer proved they hold it.
            phone_verified=phone is not None and _same_phone(typed, phone),
            conversation_id=conversation.id,
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


def _same_phone(typed: Any, proven: str) -> bool:
    try:
        return isinstance(typed, str) and to_e164(typed) == proven
    except InvalidPhone:
        return False


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
