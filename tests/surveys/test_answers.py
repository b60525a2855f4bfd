"""record_answer: a rating on the ticket with its time; a low one reopens, alerts and
promises a call back within the original grade's first-response time."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis.asyncio as aioredis

from bot.surveys import alerts
from bot.surveys.answers import original_grade, record_answer
from bot.surveys.models import ANSWERED
from bot.surveys.scheduler import VisitScheduler
from bot.tickets.errors import InvalidField
from bot.tickets.models import Status
from bot.tickets.service import TicketService
from tests.support.surveys import Clock, new_ticket, resolve


async def asked(scheduler: VisitScheduler, tickets: TicketService, clock: Clock, **fields) -> str:  # type: ignore[no-untyped-def]
    ticket = await new_ticket(tickets, **fields)
    await resolve(tickets, ticket.number)
    await scheduler.consume_once(block_ms=None)
    clock.advance(hours=2)
    await scheduler.run_due()
    return f"{ticket.number}:1"


async def test_a_good_rating_is_stored_on_the_ticket_and_closes_the_survey(
    scheduler: VisitScheduler, tickets: TicketService, clock: Clock, redis: aioredis.Redis
) -> None:
    visit_id = await asked(scheduler, tickets, clock)
    clock.advance(hours=1)
    answer = await record_answer(redis, visit_id, 5, "很好", tickets=tickets, now=clock())
    assert answer.accepted and not answer.reopened and answer.callback_by is None
    assert answer.ticket is not None and answer.ticket.rating == 5
    assert answer.ticket.status == Status.RESOLVED
    history = await tickets.store.history(answer.ticket.number)
    rated = [e for e in history if e.action == "rated"]
    assert rated[-1].data == {"rating": 5, "comment": "很好"} and rated[-1].at == clock.datetime()
    visit = await scheduler.visits.get(visit_id)
    assert visit is not None and (visit.status, visit.rating, visit.answered_at) == (
        ANSWERED,
        5,
        clock(),
    )
    again = await record_answer(redis, visit_id, 1, None, tickets=tickets, now=clock())
    assert not again.accepted  # the first answer is the one kept
    assert (await tickets.store.require(answer.ticket.number)).rating == 5
    assert await alerts.alerts(redis, clock()) == []


@pytest.mark.parametrize(
    ("rating", "comment"),
    [(2, None), (1, "太慢了"), (4, "not happy, still broken"), (None, "还是没电")],
)
async def test_a_low_answer_reopens_alerts_and_promises_a_call_back(
    scheduler: VisitScheduler,
    tickets: TicketService,
    clock: Clock,
    redis: aioredis.Redis,
    rating: int | None,
    comment: str | None,
) -> None:
    visit_id = await asked(scheduler, tickets, clock)
    number = visit_id.split(":")[0]
    before = await tickets.store.require(number)
    answer = await record_answer(redis, visit_id, rating, comment, tickets=tickets, now=clock())
    assert answer.accepted and answer.reopened
    assert answer.ticket is not None and answer.ticket.status == Status.REOPENED
    grade = await original_grade(tickets, answer.ticket)
    assert grade == before.grade
    expected = clock.datetime() + tickets.sla.terms(grade).first_response
    assert answer.callback_by == expected
    assert answer.callback_owner == tickets.owner_name(answer.ticket, "zh")
    history = await tickets.store.history(number)
    reopen = [e for e in history if e.action == "status" and e.data.get("to") == "reopened"]
    assert reopen and reopen[-1].data["note"] == (comment or f"return visit rating {rating}")
    [alert] = await alerts.alerts(redis, clock())
    assert (alert["id"], alert["ticket"], alert["rating"], alert["comment"]) == (
        visit_id,
        number,
        rating,
        comment,
    )
    assert alert["callback_by"] == expected.isoformat()
    visit = await scheduler.visits.get(visit_id)
    assert visit is not None and visit.low and visit.status == ANSWERED
    assert await alerts.acknowledge(redis, visit_id, "boss", clock())
    assert await alerts.alerts(redis, clock()) == []


async def test_the_original_grade_is_the_one_filed_with_not_the_escalated_one(
    scheduler: VisitScheduler, tickets: TicketService, clock: Clock, redis: aioredis.Redis
) -> None:
    visit_id = await asked(scheduler, tickets, clock)
    number = visit_id.split(":")[0]
    ticket = await tickets.store.require(number)
    grades = tickets.grader.grades
    raised = grades[max(grades.index(ticket.grade) - 1, 0)]
    await redis.hset(tickets.store.keys.ticket(number), "grade", raised)  # as escalate() does
    answer = await record_answer(redis, visit_id, 1, None, tickets=tickets, now=clock())
    assert answer.callback_by == clock.datetime() + tickets.sla.terms(ticket.grade).first_response


async def test_a_late_digit_counts_while_open_and_is_refused_after_the_window(
    scheduler: VisitScheduler, tickets: TicketService, clock: Clock, redis: aioredis.Redis
) -> None:
    first = await asked(scheduler, tickets, clock)
    second = await asked(scheduler, tickets, clock, description="另一件事")
    visit = await scheduler.visits.get(first)
    assert visit is not None and visit.closes_at is not None
    clock.now = visit.closes_at - 1  # days later, reminded and marked no_response meanwhile
    await scheduler.run_due()
    late = await record_answer(redis, first, 4, None, tickets=tickets, now=clock())
    assert late.accepted
    other = await scheduler.visits.get(second)
    assert other is not None and other.closes_at is not None
    clock.now = other.closes_at + 1
    closed = await record_answer(redis, second, 1, "没解决", tickets=tickets, now=clock())
    assert not closed.accepted and not closed.reopened
    assert closed.ticket is not None and closed.ticket.rating is None
    assert closed.ticket.status == Status.RESOLVED


async def test_unknown_or_not_yet_asked_visits_and_bad_ratings(
    scheduler: VisitScheduler, tickets: TicketService, clock: Clock, redis: aioredis.Redis
) -> None:
    unknown = await record_answer(redis, "TK20261125-9999:1", 5, None, tickets=tickets)
    assert not unknown.accepted and unknown.ticket is None
    ticket = await new_ticket(tickets)
    await resolve(tickets, ticket.number)
    await scheduler.consume_once(block_ms=None)  # scheduled, not asked yet
    early = await record_answer(redis, f"{ticket.number}:1", 5, None, tickets=tickets)
    assert not early.accepted
    for bad in (0, 6, True, 4.5):
        with pytest.raises(InvalidField) as error:
            await record_answer(redis, f"{ticket.number}:1", bad, None, tickets=tickets)  # type: ignore[arg-type]
        assert error.value.field == "rating"


async def test_open_for_conversation_finds_the_survey_to_answer(
    scheduler: VisitScheduler, tickets: TicketService, clock: Clock, redis: aioredis.Redis
) -> None:
    visit_id = await asked(scheduler, tickets, clock)
    visit = await scheduler.visits.open_for_conversation("sms:+8613800138000")
    assert visit is not None and visit.id == visit_id
    await record_answer(redis, visit_id, 5, None, tickets=tickets, now=clock())
    assert await scheduler.visits.open_for_conversation("sms:+8613800138000") is None
    day = datetime.fromtimestamp(clock(), timezone.utc)
    in_range = await scheduler.visits.in_range(day.timestamp() - 86400, day.timestamp())
    assert [v.id for v in in_range] == [visit_id]
