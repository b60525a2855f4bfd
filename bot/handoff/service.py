"""HandoffService: what the Rasa action calls when a customer should get a human.

service = HandoffService.build(redis, tickets=ticket_service)
outcome = await service.request(sender_id, "socketio", "zh", grade=None, phone=None)
if isinstance(outcome, QueueTicket): ...  # pause the tracker, tell position and wait
else: ...                                 # Unavailable: offer a callback ticket
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from bot.handoff.eta import estimate_minutes
from bot.handoff.policy import HandoffConfig
from bot.handoff.presence import Presence
from bot.handoff.store import AGENT, QUEUED, HandoffStore
from bot.ratelimit import Limiter, Quota
from bot.tickets.service import TicketService

log = logging.getLogger(__name__)

CLOSED_HOURS = "closed"
NO_AGENTS = "no_agents"
RATE_LIMITED = "rate_limited"  # asked for a person too often: offered a callback instead
REQUESTS_KEY = "kefu:handoff:requests:"
REASONS = ("human_handoff", "fallback", "p1_complaint", "form_failures")


@dataclass(frozen=True)
class QueueTicket:
    """The customer is in the queue: place (1 = next) and estimated wait in minutes."""

    position: int
    eta_minutes: int
    already_waiting: bool = False  # asked again while already queued (or with an agent)
    reserved_for: str | None = None  # owner of their open ticket, who has first claim


@dataclass(frozen=True)
class Unavailable:
    """Nobody can take the conversation now; offer a callback ticket instead."""

    reason: str  # CLOSED_HOURS, NO_AGENTS or RATE_LIMITED
    hours: str  # the business hours, in the customer's language
    next_open: datetime | None = None


class HandoffService:
    def __init__(
        self,
        store: HandoffStore,
        presence: Presence,
        config: HandoffConfig,
        tickets: TicketService | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.presence = presence
        self.config = config
        self.tickets = tickets
        self._clock = clock
        self._limiter = Limiter(store.redis)

    @classmethod
    def build(
        cls,
        redis: aioredis.Redis,
        config: HandoffConfig | None = None,
        tickets: TicketService | None = None,
        clock: Callable[[], float] = time.time,
    ) -> HandoffService:
        config = config or HandoffConfig.load()
        return cls(
            HandoffStore(redis, config.queue),
            Presence(redis, config.queue.presence_ttl_s),
            config,
            tickets,
            clock,
        )

    async def request(
        self,
        sender_id: str,
        channel: str,
        language: str,
        grade: str | None = None,
        phone: str | None = None,
        reason: str = "human_handoff",
        ticket_id: str | None = None,
    ) -> QueueTicket | Unavailable:
        now = self._clock()
        language = language if language in ("zh", "en") else "zh"
        current = await self.store.get(sender_id)
        if current is not None and current.state == AGENT:
            return QueueTicket(0, 0, already_waiting=True)
        if current is not None and current.state == QUEUED:
            return await self._ticket(sender_id, now, already_waiting=True)

        moment = datetime.fromtimestamp(now, tz=timezone.utc)
        hours = self.config.hours
        if not hours.is_open(moment):
            return Unavailable(CLOSED_HOURS, hours.describe(language), hours.next_open(moment))
        online = await self.presence.online(now)
        if not online:
            return Unavailable(NO_AGENTS, hours.describe(language), hours.next_open(moment))

        # Each request may put the conversation in front of agents again: bounded, so a
        # script cannot keep agents busy. Asking again while queued was answered above.
        policy = self.config.queue
        wait = await self._limiter.try_acquire(
            Quota(REQUESTS_KEY + sender_id, policy.request_limit, policy.request_period_s)
        )
        if wait > 0:
            log.info("handoff for %s refused: too many requests", sender_id)
            return Unavailable(RATE_LIMITED, hours.describe(language), hours.next_open(moment))

        preferred, ticket_id = await self._first_claim(sender_id, phone, ticket_id, online)
        window = self.config.queue.first_claim_window_s
        created = await self.store.enqueue(
            sender_id,
            channel=channel,
            language=language,
            grade=grade,
            reason=reason if reason in REASONS else "human_handoff",
            phone=phone,
            preferred_agent=preferred if window > 0 else None,
            preferred_until=now + window if preferred and window > 0 else None,
            ticket_id=ticket_id,
            now=now,
        )
        log.info(
            "handoff %s: %s via %s (%s, grade %s, phone %s)",
            "queued" if created else "already queued",
            sender_id,
            channel,
            reason,
            grade or "-",
            phone or "-",
        )
        return await self._ticket(sender_id, now, already_waiting=not created)

    async def status(self, sender_id: str) -> QueueTicket | None:
        """Current place and wait of a queued conversation (None if not queued)."""
        current = await self.store.get(sender_id)
        if current is None or current.state != QUEUED:
            return None
        return await self._ticket(sender_id, self._clock(), already_waiting=True)

    async def estimate(self, position: int, now: float | None = None) -> int:
        online = await self.presence.online(self._clock() if now is None else now)
        avg = await self.store.average_handle_time()
        busy = await self.store.active_count()
        # Nobody online any more (they all left after the customer queued): promise no
        # less than one average conversation per person ahead.
        eta = estimate_minutes(position, len(online), avg, busy)
        return eta if eta is not None else max(1, round(position * avg / 60))

    async def _ticket(self, sender_id: str, now: float, already_waiting: bool) -> QueueTicket:
        position = await self.store.position(sender_id)
        conversation = await self.store.get(sender_id)
        if position is None or conversation is None:  # claimed in the meantime
            return QueueTicket(0, 0, already_waiting=already_waiting)
        return QueueTicket(
            position,
            await self.estimate(position, now),
            already_waiting=already_waiting,
            reserved_for=conversation.reserved_for(now),
        )

    async def _first_claim(
        self, sender_id: str, phone: str | None, ticket_id: str | None, online: list[str]
    ) -> tuple[str | None, str | None]:
        """首问负责: the owner of the customer's open ticket gets first claim if online."""
        if self.tickets is None:
            return None, ticket_id
        candidates = []
        if ticket_id:
            ticket = await self.tickets.store.get(ticket_id)
            # Only a ticket filed from this phone says who is responsible for this customer.
            if ticket is not None and ticket.is_open and (phone is None or ticket.phone == phone):
                candidates.append(ticket)
        if phone:
            candidates.extend(
                await self.tickets.open_tickets_for_phone(phone, conversation_id=sender_id)
            )
        for ticket in candidates:
            if ticket.owner and ticket.owner in online:
                return ticket.owner, ticket_id or ticket.number
        return None, ticket_id or (candidates[0].number if candidates else None)
