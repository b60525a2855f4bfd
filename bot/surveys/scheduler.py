"""The return-visit scheduler: resolutions become visits, and due visits are asked.

Two loops, run by every desk process (bot/surveys/worker.py), sharing the work:

1. Resolutions. The ticket store writes one entry per move to resolved on the stream
   `kefu:tickets:resolutions` in the same transaction as the move. Consumer group
   "surveys" reads it; each entry creates its visit (id "<number>:<resolution>", a Lua
   create that does nothing if the visit exists) and only then is acknowledged. An entry
   a killed process held is taken over with XAUTOCLAIM: exactly one visit per resolution.

2. Due visits. `kefu:surveys:due` holds each visit's next time. A worker claims one by
   moving its score a lease ahead (atomic), then:
   - scheduled: ask it (trigger_intent EXTERNAL_return_visit) on the route of bot/surveys/
     routes.py; no route -> unreachable; the resolution withdrawn (the ticket reopened or
     resolved again since) -> closed without asking;
   - sent, its reminder time come: remind once (the same intent, entity reminder=true);
   - reminded, as long again without an answer: no_response.
   Each move is a Lua script that checks the status it expects.

Never asked twice: before a trigger the visit records `asking` (step and route). A worker
that finds `asking` set (its predecessor was killed between the trigger and the status
move, or Rasa timed out) reads that conversation's tracker: if the external intent with
this visit id (and step) is there, the customer was asked and only the status moves;
otherwise it asks. If Rasa cannot be read, nothing is sent and the visit is retried after
the lease. Never lost: a visit stays in the due set until its status moves, and a crashed
worker's lease runs out. The one gap: Rasa itself dying after pushing the question but
before saving the tracker; then the customer could be asked a second time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.handoff.rasa_client import RasaError, Undelivered
from bot.streams import consumer_name, ensure_group
from bot.surveys import routes
from bot.surveys.models import (
    CLOSED,
    NO_RESPONSE,
    REMINDED,
    SCHEDULED,
    SENT,
    UNREACHABLE,
    Visit,
    visit_id,
)
from bot.surveys.routes import Route
from bot.surveys.store import DUE, VisitStore
from bot.surveys.timing import Timing
from bot.tickets.models import LANGUAGES, Status, Ticket
from bot.tickets.store import RESOLUTIONS_FIELD, TicketStore

log = logging.getLogger(__name__)

INTENT = "EXTERNAL_return_visit"
GROUP = "surveys"
READ_BLOCK_MS = 1000
LEASE_S = 60.0  # > the Rasa client's timeout: a live worker never loses its claim
ASK = "ask"
REMIND = "remind"


class Rasa(Protocol):
    """What the scheduler needs of bot.handoff.rasa_client.RasaClient."""

    async def trigger_intent(
        self, conversation_id: str, name: str, entities: dict[str, str], output_channel: str
    ) -> dict[str, Any]: ...

    async def tracker(self, conversation_id: str) -> dict[str, Any]: ...


def entities(visit: Visit, step: str) -> dict[str, str]:
    out = {"ticket_id": visit.ticket, "visit_id": visit.id}
    if step == REMIND:
        out["reminder"] = "true"
    return out


def asked_in_tracker(tracker: dict[str, Any], visit: Visit, step: str) -> bool:
    """Does the tracker hold the external intent of this visit's `step`?"""
    for event in tracker.get("events") or []:
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") != INTENT:
            continue
        values = {e.get("entity"): e.get("value") for e in parse.get("entities") or []}
        if values.get("visit_id") == visit.id and (values.get("reminder") == "true") == (
            step == REMIND
        ):
            return True
    return False


class VisitScheduler:
    def __init__(
        self,
        redis: aioredis.Redis,
        tickets: TicketStore,
        rasa: Rasa,
        timing: Timing,
        *,
        clock: Callable[[], float] = time.time,
        consumer: str | None = None,
        lease_s: float = LEASE_S,
        reclaim_idle_s: float = 120.0,
    ) -> None:
        self.redis = redis
        self.tickets = tickets
        self.rasa = rasa
        self.timing = timing
        self.clock = clock
        self.consumer = consumer or consumer_name()
        self.lease_s = lease_s
        self.reclaim_idle_s = reclaim_idle_s
        self.visits = VisitStore(redis, clock)
        self._group_ready = False

    # ------------------------------------------------------------ resolutions -> visits
    async def _ensure_group(self) -> None:
        if not self._group_ready:
            # From 0: resolutions written before any desk ran still get their visit.
            await ensure_group(self.redis, self.tickets.keys.resolutions, GROUP, "0")
            self._group_ready = True

    async def schedule(self, entry_id: str, fields: dict[str, str] | None) -> Visit | None:
        """Creates the visit of one resolution entry, then acknowledges it."""
        fields = fields or {}
        visit: Visit | None = None
        try:
            number = fields["number"]
            resolution = int(fields["resolution"])
            at = float(fields["at"])
        except (KeyError, ValueError):
            log.error("malformed resolution entry %s: %r", entry_id, fields)
        else:
            ticket = await self.tickets.get(number)
            if ticket is None:
                log.error("resolution %s of unknown ticket %s: no visit", entry_id, number)
            else:
                visit = self.new_visit(ticket, resolution, at)
                if not await self.visits.create(visit):
                    visit = await self.visits.get(visit.id)  # delivered again: already there
        await self.redis.xack(self.tickets.keys.resolutions, GROUP, entry_id)
        return visit

    def new_visit(self, ticket: Ticket, resolution: int, resolved_at: float) -> Visit:
        due = self.timing.due(resolved_at)
        return Visit(
            id=visit_id(ticket.number, resolution),
            ticket=ticket.number,
            resolution=resolution,
            language=ticket.language if ticket.language in LANGUAGES else LANGUAGES[0],
            conversation_id=None,
            phone=None,
            channel="",
            status=SCHEDULED,
            resolved_at=resolved_at,
            due_at=due,
            closes_at=due + self.timing.window_s,
        )

    async def consume_once(self, block_ms: int | None = READ_BLOCK_MS) -> int:
        """Waits up to `block_ms` (None: not at all) for new resolutions and schedules them;
        returns how many."""
        await self._ensure_group()
        stream = self.tickets.keys.resolutions
        try:
            batches = await self.redis.xreadgroup(
                GROUP, self.consumer, {stream: ">"}, count=50, block=block_ms
            )
        except RedisError as exc:
            self._group_ready = self._group_ready and "NOGROUP" not in str(exc)
            raise
        done = 0
        for _stream, entries in batches or []:
            for entry_id, fields in entries:
                await self.schedule(entry_id, fields)
                done += 1
        return done

    async def reclaim_once(self) -> int:
        """Takes over resolutions a dead process left pending; returns how many."""
        await self._ensure_group()
        reply = await self.redis.xautoclaim(
            self.tickets.keys.resolutions,
            GROUP,
            self.consumer,
            min_idle_time=int(self.reclaim_idle_s * 1000),
            start_id="0-0",
            count=50,
        )
        claimed = reply[1] if len(reply) > 1 else []
        for entry_id, fields in claimed:
            log.warning("resolution %s reclaimed from a stalled worker", entry_id)
            await self.schedule(entry_id, fields)
        return len(claimed)

    # ------------------------------------------------------------ due visits
    async def run_due(self, limit: int = 100) -> int:
        """Handles due visits until none is left (or `limit`); returns how many."""
        done = 0
        while done < limit and await self.due_once() is not None:
            done += 1
        return done

    async def due_once(self) -> str | None:
        """Claims one due visit and moves it on; its id, or None if nothing is due."""
        now = self.clock()
        claimed = await self.visits.claim_due(now, self.lease_s)
        if claimed is None:
            return None
        visit = await self.visits.get(claimed)
        if visit is None:
            await self.redis.zrem(DUE, claimed)
        elif visit.status == SCHEDULED:
            await self._ask(visit, now)
        elif visit.status == SENT:
            await self._remind(visit, now)
        elif visit.status == REMINDED:
            await self.visits.advance(
                visit.with_changes(status=NO_RESPONSE), REMINDED, next_due=None
            )
            log.info("return visit %s: no response", visit.id)
        else:  # answered (or any final status): nothing more to do
            await self.visits.advance(visit, visit.status, next_due=None)
        return claimed

    async def _withdrawn(self, visit: Visit) -> bool:
        """The resolution no longer stands: the ticket was reopened (or resolved again)."""
        ticket = await self.tickets.get(visit.ticket)
        if ticket is None or ticket.status not in (Status.RESOLVED, Status.CLOSED):
            return True
        current = await self.redis.hget(self.tickets.keys.ticket(visit.ticket), RESOLUTIONS_FIELD)
        return int(current or 0) != visit.resolution

    async def _ask(self, visit: Visit, now: float) -> None:
        if await self._withdrawn(visit) or (visit.closes_at is not None and now > visit.closes_at):
            await self.visits.advance(visit.with_changes(status=CLOSED), SCHEDULED, next_due=None)
            log.info("return visit %s closed without asking (withdrawn or too late)", visit.id)
            return
        ticket = await self.tickets.get(visit.ticket)
        assert ticket is not None  # _withdrawn checked
        route = await routes.choose(self.redis, ticket, now)
        if route is None and await self.visits.asking(visit.id) is None:
            await self.visits.advance(
                visit.with_changes(status=UNREACHABLE), SCHEDULED, next_due=None
            )
            log.info("return visit %s unreachable: no open web chat, no verified phone", visit.id)
            return
        used = await self._trigger(visit, ASK, route)
        if used is None:
            return  # retried after the lease
        sent = visit.with_changes(
            status=SENT,
            channel=used.channel,
            conversation_id=used.conversation_id,
            phone=used.phone,
            sent_at=now,
            closes_at=now + self.timing.window_s,
        )
        await self.visits.advance(
            sent,
            SCHEDULED,
            next_due=self.timing.reminder_due(now),
            asked_in=used.conversation_id,
            asked_at=now,
        )
        log.info("return visit %s asked by %s", visit.id, used.channel)

    async def _remind(self, visit: Visit, now: float) -> None:
        if visit.closes_at is not None and now > visit.closes_at:
            await self.visits.advance(visit.with_changes(status=NO_RESPONSE), SENT, next_due=None)
            return
        ticket = await self.tickets.get(visit.ticket)
        route = await routes.choose(self.redis, ticket, now) if ticket else None
        if route is None and visit.conversation_id and visit.channel:
            route = Route(visit.channel, visit.conversation_id, visit.phone)  # where it was asked
        if route is None:
            await self.visits.advance(visit.with_changes(status=NO_RESPONSE), SENT, next_due=None)
            return
        used = await self._trigger(visit, REMIND, route)
        if used is None:
            return
        reminded = visit.with_changes(
            status=REMINDED,
            channel=used.channel,
            conversation_id=used.conversation_id,
            phone=used.phone,
            reminded_at=now,
        )
        await self.visits.advance(
            reminded,
            SENT,
            next_due=now + self.timing.reminder_s,
            asked_in=used.conversation_id,
            asked_at=now,
        )
        log.info("return visit %s reminded by %s", visit.id, used.channel)

    async def _trigger(self, visit: Visit, step: str, route: Route | None) -> Route | None:
        """Asks `step` on `route` unless an earlier attempt already did; returns the route
        the customer was asked on, or None (not asked now: retried after the lease)."""
        pending = _decode_asking(await self.visits.asking(visit.id))
        if pending is not None and pending[0] == step:
            earlier = pending[1]
            try:
                tracker = await self.rasa.tracker(earlier.conversation_id)
            except RasaError as exc:
                log.warning("return visit %s: cannot check Rasa (%s); retried later", visit.id, exc)
                return None
            if asked_in_tracker(tracker, visit, step):
                log.warning(
                    "return visit %s: %s already reached Rasa; not asked again", visit.id, step
                )
                return earlier
        if route is None:
            await self.visits.clear_asking(visit.id)
            return None  # the earlier attempt did not get through and there is no route now
        await self.visits.mark_asking(visit.id, _encode_asking(step, route))
        try:
            await self.rasa.trigger_intent(
                route.conversation_id, INTENT, entities(visit, step), route.output_channel
            )
        except Undelivered as exc:
            # Nothing reached the customer: the next attempt may ask again.
            await self.visits.clear_asking(visit.id)
            log.error("return visit %s: %s", visit.id, exc)
            return None
        except RasaError as exc:
            log.warning("return visit %s: Rasa failed (%s); retried later", visit.id, exc)
            return None
        return route


def _encode_asking(step: str, route: Route) -> str:
    return json.dumps(
        {
            "step": step,
            "channel": route.channel,
            "conversation": route.conversation_id,
            "phone": route.phone,
        }
    )


def _decode_asking(value: str | None) -> tuple[str, Route] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
        return data["step"], Route(data["channel"], data["conversation"], data.get("phone"))
    except (ValueError, KeyError, TypeError):
        return None
