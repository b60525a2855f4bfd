"""A customer's answer to a return visit: stored on the ticket, and a low one reopens it.

Low = a rating of 2 or less, or a comment saying the problem is not solved
(bot/surveys/unsolved.py). A low answer reopens the ticket with the comment in its history,
raises a supervisor alert (bot/surveys/alerts.py) and promises a call back from the
ticket's owner within the first-response time of the ticket's ORIGINAL grade (the one it
was filed with, before any SLA escalation: what the customer was first promised).

Order, for a turn re-run after a crash: the ticket is changed first and the visit marked
answered last, so a crash in between leaves the visit open and the re-run finishes the job
(the rating is recorded again, the reopen and the alert are not repeated).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from bot.surveys import alerts
from bot.surveys.models import AWAITING, Visit
from bot.surveys.store import VisitStore
from bot.surveys.unsolved import says_unsolved
from bot.tickets.errors import IllegalTransition, InvalidField
from bot.tickets.models import Status, Ticket
from bot.tickets.service import TicketService
from bot.tickets.validation import MAX_COMMENT

log = logging.getLogger(__name__)

LOW_RATING = 2
ACTOR = "customer"


@dataclass(frozen=True)
class Answer:
    accepted: bool  # False: the survey is closed (window over, already answered) or unknown
    reopened: bool
    callback_owner: str | None  # the owner's display name in the visit's language
    callback_by: datetime | None  # aware UTC
    ticket: Ticket | None  # None only for an unknown visit
    visit: Visit | None = None


def is_low(rating: int | None, comment: str | None) -> bool:
    return (rating is not None and rating <= LOW_RATING) or says_unsolved(comment)


def _clean(rating: object, comment: object) -> tuple[int | None, str | None]:
    if rating is not None and (
        not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5
    ):
        raise InvalidField("rating", "rating must be a whole number from 1 to 5")
    if comment is not None and not isinstance(comment, str):
        raise InvalidField("comment", "comment must be text")
    text = comment.strip()[:MAX_COMMENT] if comment else None
    return rating, text or None


async def record_answer(
    redis: aioredis.Redis,
    visit_id: str,
    rating: int | None,
    comment: str | None,
    *,
    tickets: TicketService,
    now: float | None = None,
) -> Answer:
    """Records the customer's answer to visit `visit_id` (see the module docstring).

    Raises InvalidField for a rating outside 1..5. Not accepted (nothing stored) when the
    visit is unknown, not asked yet, already answered, or its window has closed."""
    rating, comment = _clean(rating, comment)
    now = time.time() if now is None else now
    store = VisitStore(redis, clock=lambda: now)
    visit = await store.get(visit_id)
    if visit is None:
        return Answer(False, False, None, None, None)
    ticket = await tickets.store.get(visit.ticket)
    if (
        ticket is None
        or visit.status not in AWAITING
        or visit.closes_at is None
        or now > visit.closes_at
    ):
        return Answer(False, False, None, None, ticket, visit)
    low = is_low(rating, comment)
    ticket = await _store_on_ticket(tickets, ticket, rating, comment)
    reopened = False
    callback_owner: str | None = None
    callback_by: datetime | None = None
    if low:
        ticket, reopened = await _reopen(tickets, ticket, rating, comment)
        callback_owner = tickets.owner_name(ticket, visit.language)
        grade = await original_grade(tickets, ticket)
        at = datetime.fromtimestamp(now, timezone.utc)
        callback_by = at + tickets.sla.terms(grade).first_response
        details = {
            "ticket": ticket.number,
            "owner": ticket.owner or "",
            "callback_by": callback_by.isoformat(),
        }
        if rating is not None:
            details["rating"] = str(rating)
        if comment:
            details["comment"] = comment
        await alerts.raise_alert(redis, visit.id, now, details)
    if not await store.answer(visit.id, now, rating, comment, low):
        # Raced with another answer or the window's end: the ticket side is already done
        # (and idempotent), so report what the customer will see: their answer counted.
        log.warning("return visit %s was answered or closed concurrently", visit.id)
    answered = await store.get(visit.id)
    return Answer(True, reopened, callback_owner, callback_by, ticket, answered)


async def _store_on_ticket(
    tickets: TicketService, ticket: Ticket, rating: int | None, comment: str | None
) -> Ticket:
    if rating is not None and ticket.status in (Status.RESOLVED, Status.CLOSED):
        return await tickets.rate(ticket.number, rating, comment, actor=ACTOR)
    # Not ratable any more (reopened since, or a re-run turn after the reopen): keep the
    # answer in the history all the same.
    parts = [f"return visit rating: {rating}"] if rating is not None else []
    if comment:
        parts.append(comment)
    if parts:
        await tickets.add_note(ticket.number, " / ".join(parts), actor=ACTOR)
    return ticket


async def _reopen(
    tickets: TicketService, ticket: Ticket, rating: int | None, comment: str | None
) -> tuple[Ticket, bool]:
    note = comment or f"return visit rating {rating}"
    if ticket.status == Status.REOPENED:
        return ticket, True  # a re-run: the first run reopened it
    try:
        return await tickets.transition(
            ticket.number, Status.REOPENED.value, actor=ACTOR, note=note
        ), True
    except IllegalTransition:
        log.info("ticket %s is %s: not reopened by its return visit", ticket.number, ticket.status)
        return ticket, False


async def original_grade(tickets: TicketService, ticket: Ticket) -> str:
    """The grade the ticket was filed with (its `created` history entry)."""
    for entry in await tickets.store.history(ticket.number):
        if entry.action == "created":
            grade = entry.data.get("grade")
            if isinstance(grade, str) and grade in tickets.grader.grades:
                return grade
            break
    return ticket.grade
