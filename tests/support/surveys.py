"""Return-visit test helpers: Redis DB 14, one clock for tickets (datetime) and visits
(epoch seconds), a stand-in Rasa that records trigger_intent requests, and a ticket moved
to resolved."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from bot.tickets.models import Status, Ticket
from bot.tickets.service import TicketService
from tests.conftest import RedisServer

DB = 14  # ours alone
# Wednesday 2026-11-25 10:00 in Shanghai (02:00 UTC): outside the default quiet hours.
START = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
TOKEN = "rasa-surveys-token-" * 2
PHONE = "+8613800138000"
# The channels our Rasa registers (credentials.yml): the only ones it pushes on.
PUSHING_CHANNELS = frozenset({"socketio", "sms"})


def db_url(redis_server: RedisServer) -> str:
    return redis_server.db_url(DB)


class Clock:
    """Called: epoch seconds (visits); .datetime(): the same instant, aware (tickets)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)

    def advance(self, **delta: float) -> float:
        self.now += timedelta(**delta).total_seconds()
        return self.now


@dataclass
class StandInRasa:
    """Rasa's trigger_intent and tracker routes as Rasa 3.6 serves them: the external
    intent is added to the tracker as a user event; an output channel Rasa has no input
    channel for gets the replies back in the response ("messages") instead of a push."""

    url: str = ""
    token: str = TOKEN
    triggers: list[dict[str, Any]] = field(default_factory=list)
    trackers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: bool = False  # answer 500 (after recording: Rasa may have run it)
    delay_s: float = 0.0
    clock: Callable[[], float] | None = None  # stamps each trigger with the test's time

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{id:.+}/trigger_intent", self._trigger)
        app.router.add_get("/conversations/{id:.+}/tracker", self._tracker)
        return app

    async def _trigger(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            raise web.HTTPUnauthorized()
        conversation = request.match_info["id"]
        body = await request.json()
        if not body.get("name"):
            raise web.HTTPBadRequest()
        self.triggers.append(
            {
                "conversation": conversation,
                "query": dict(request.query),
                "body": body,
                "at": self.clock() if self.clock else None,
            }
        )
        entities = body.get("entities") or {}
        self.trackers.setdefault(conversation, []).append(
            {
                "event": "user",
                "text": f"EXTERNAL: {body['name']}",
                "parse_data": {
                    "intent": {"name": body["name"], "confidence": 1.0},
                    "entities": [{"entity": k, "value": v} for k, v in entities.items()],
                },
                "input_channel": None,
            }
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise web.HTTPInternalServerError()
        reply: dict[str, Any] = {"tracker": {"sender_id": conversation}}
        if request.query.get("output_channel") not in PUSHING_CHANNELS:
            reply["messages"] = [{"recipient_id": conversation, "text": "survey"}]
        return web.json_response(reply)

    async def _tracker(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            raise web.HTTPUnauthorized()
        conversation = request.match_info["id"]
        return web.json_response(
            {"sender_id": conversation, "events": self.trackers.get(conversation, [])}
        )

    def asked(self) -> Counter[tuple[str, bool]]:
        """(visit id, is a reminder) -> how many times it was triggered."""
        return Counter(
            (
                t["body"]["entities"]["visit_id"],
                t["body"]["entities"].get("reminder") == "true",
            )
            for t in self.triggers
        )


async def resolve(tickets: TicketService, number: str) -> Ticket:
    """Moves the ticket on to resolved from wherever it is (an owner is assumed)."""
    ticket = await tickets.store.require(number)
    path = {
        Status.ASSIGNED: ["in_progress", "resolved"],
        Status.IN_PROGRESS: ["resolved"],
        Status.REOPENED: ["in_progress", "resolved"],
    }[ticket.status]
    for status in path:
        ticket = await tickets.transition(number, status, actor="agent")
    return ticket


async def new_ticket(tickets: TicketService, **overrides: Any) -> Ticket:
    fields: dict[str, Any] = {
        "category": "billing",
        "description": "电费单金额不对",
        "location": "幸福路 12 号",
        "phone": PHONE,
        "language": "zh",
        "channel": "sms",
        "phone_verified": True,
        "conversation_id": f"sms:{PHONE}",
    }
    fields.update(overrides)
    return await tickets.create_complaint(**fields)
