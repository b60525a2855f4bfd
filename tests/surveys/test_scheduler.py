"""The return-visit scheduler against real Redis, the stand-in Rasa and a moved clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.identity.verification import record_verified
from bot.surveys import presence
from bot.surveys.models import CLOSED, NO_RESPONSE, REMINDED, SCHEDULED, SENT, UNREACHABLE, Visit
from bot.surveys.scheduler import INTENT, VisitScheduler
from bot.surveys.store import VisitStore
from bot.tickets.models import Ticket
from bot.tickets.service import TicketService
from tests.support.surveys import PHONE, Clock, StandInRasa, new_ticket, resolve

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEB = "web:" + "ab" * 16


async def settle(scheduler: VisitScheduler) -> None:
    """Every pending resolution scheduled, every due visit moved on."""
    while await scheduler.consume_once(block_ms=None):
        pass
    await scheduler.run_due()


async def resolved_ticket(tickets: TicketService, **overrides: Any) -> Ticket:
    """A new ticket (new_ticket's defaults and `overrides`), resolved."""
    ticket = await new_ticket(tickets, **overrides)
    await resolve(tickets, ticket.number)
    return ticket


async def advance(scheduler: VisitScheduler, clock: Clock, **delta: float) -> None:
    """Moves the clock on by `delta`, then lets the scheduler catch up."""
    clock.advance(**delta)
    await settle(scheduler)


async def visits_after(
    scheduler: VisitScheduler, clock: Clock, number: str, **delta: float
) -> list[Visit]:
    """Ticket `number`'s visits once the clock has moved on by `delta` (advance)."""
    await advance(scheduler, clock, **delta)
    return await scheduler.visits.for_ticket(number)


async def test_a_resolution_schedules_one_visit_after_the_delay_in_the_tickets_language(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets, language="en")
    resolved_at = clock()
    await settle(scheduler)
    visits = await scheduler.visits.for_ticket(ticket.number)
    assert [(v.id, v.status, v.language) for v in visits] == [
        (f"{ticket.number}:1", SCHEDULED, "en")
    ]
    assert visits[0].due_at == resolved_at + 7200
    await advance(scheduler, clock, seconds=7199)
    assert rasa.triggers == []
    [visit] = await visits_after(scheduler, clock, ticket.number, seconds=1)
    assert visit.status == SENT and visit.sent_at == clock()
    assert visit.closes_at == clock() + 14 * 86400


async def test_the_trigger_is_what_rasa_expects_on_the_customers_own_channel(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets)
    await advance(scheduler, clock, hours=2)
    [request] = rasa.triggers
    assert request["conversation"] == f"sms:{PHONE}"
    assert request["query"] == {"output_channel": "sms", "token": rasa.token}
    assert request["body"] == {
        "name": INTENT,
        "entities": {"ticket_id": ticket.number, "visit_id": f"{ticket.number}:1"},
    }
    visit = await VisitStore(scheduler.redis, clock).open_for_conversation(f"sms:{PHONE}")
    assert visit is not None and visit.channel == "sms" and visit.phone == PHONE


async def test_a_resolution_read_twice_still_makes_one_visit(
    scheduler: VisitScheduler, tickets: TicketService, redis: aioredis.Redis
) -> None:
    ticket = await resolved_ticket(tickets)
    [(_, entries)] = await redis.xread({"kefu:tickets:resolutions": "0"})
    [(entry_id, fields)] = entries
    assert fields["number"] == ticket.number and fields["resolution"] == "1"
    await scheduler.schedule(entry_id, fields)
    await scheduler.schedule(entry_id, fields)  # redelivered after a crash
    await settle(scheduler)
    assert len(await scheduler.visits.for_ticket(ticket.number)) == 1


async def test_resolved_reopened_and_resolved_again_gets_a_second_visit(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets)
    await advance(scheduler, clock, hours=2)
    await tickets.transition(ticket.number, "reopened", actor="agent")
    await resolve(tickets, ticket.number)
    visits = await visits_after(scheduler, clock, ticket.number, hours=2)
    assert [(v.resolution, v.status) for v in visits] == [(1, SENT), (2, SENT)]
    assert sorted(rasa.asked()) == [
        (f"{ticket.number}:1", False),
        (f"{ticket.number}:2", False),
    ]


async def test_a_resolution_withdrawn_before_its_time_is_closed_unasked(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets)
    await settle(scheduler)
    await tickets.transition(ticket.number, "reopened", actor="agent")  # customer came back
    [visit] = await visits_after(scheduler, clock, ticket.number, hours=2)
    assert visit.status == CLOSED and rasa.triggers == []


async def test_a_visit_due_in_quiet_hours_waits_for_the_morning(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 25, 20, 0, tzinfo=SHANGHAI).timestamp()
    ticket = await resolved_ticket(tickets)  # + 2 h = 22:00: quiet
    await settle(scheduler)
    [visit] = await scheduler.visits.for_ticket(ticket.number)
    morning = datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI).timestamp()
    assert visit.due_at == morning
    clock.now = datetime(2026, 11, 26, 7, 59, tzinfo=SHANGHAI).timestamp()
    await settle(scheduler)
    assert rasa.triggers == []
    clock.now = morning
    await settle(scheduler)
    assert len(rasa.triggers) == 1


async def test_web_chat_open_gets_the_widget_closed_gets_sms(
    scheduler: VisitScheduler,
    tickets: TicketService,
    rasa: StandInRasa,
    clock: Clock,
    redis: aioredis.Redis,
) -> None:
    first = await new_ticket(tickets, channel="socketio", conversation_id=WEB)
    second = await new_ticket(tickets, channel="socketio", conversation_id=WEB, description="x")
    await resolve(tickets, first.number)
    await resolve(tickets, second.number)
    await settle(scheduler)
    clock.advance(hours=2)
    await presence.opened(redis, WEB, "socket-1", clock())
    await scheduler.due_once()
    await presence.closed(redis, WEB, "socket-1")
    await scheduler.due_once()
    by_visit = {t["body"]["entities"]["ticket_id"]: t for t in rasa.triggers}
    web, sms = by_visit[first.number], by_visit[second.number]
    assert (web["conversation"], web["query"]["output_channel"]) == (WEB, "socketio")
    assert (sms["conversation"], sms["query"]["output_channel"]) == (f"sms:{PHONE}", "sms")


async def test_web_ticket_with_an_unverified_phone_is_unreachable_unless_verified_once(
    scheduler: VisitScheduler,
    tickets: TicketService,
    rasa: StandInRasa,
    clock: Clock,
    redis: aioredis.Redis,
) -> None:
    other = "web:" + "cd" * 16
    never = await new_ticket(tickets, channel="socketio", conversation_id=WEB, phone_verified=False)
    later = await new_ticket(
        tickets, channel="socketio", conversation_id=other, phone_verified=False
    )
    await record_verified(redis, other, PHONE)  # the one-time code, after filing
    await resolve(tickets, never.number)
    await resolve(tickets, later.number)
    [unreachable] = await visits_after(scheduler, clock, never.number, hours=2)
    [asked] = await scheduler.visits.for_ticket(later.number)
    assert unreachable.status == UNREACHABLE and unreachable.channel == ""
    assert asked.status == SENT and asked.channel == "sms"
    assert [t["body"]["entities"]["ticket_id"] for t in rasa.triggers] == [later.number]


async def test_no_answer_one_reminder_after_48_hours_then_no_response(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets)
    await advance(scheduler, clock, hours=2)
    visit_id = f"{ticket.number}:1"
    await advance(scheduler, clock, hours=47)
    assert rasa.asked() == {(visit_id, False): 1}
    await advance(scheduler, clock, hours=1)
    assert rasa.asked() == {(visit_id, False): 1, (visit_id, True): 1}
    assert rasa.triggers[-1]["body"]["entities"]["reminder"] == "true"
    visit = await scheduler.visits.get(visit_id)
    assert visit is not None and visit.status == REMINDED and visit.reminded_at == clock()
    await advance(scheduler, clock, hours=48)
    visit = await scheduler.visits.get(visit_id)
    assert visit is not None and visit.status == NO_RESPONSE
    await advance(scheduler, clock, days=30)
    assert len(rasa.triggers) == 2  # nothing more, ever


async def test_a_trigger_rasa_ran_but_never_confirmed_is_not_asked_again(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    ticket = await resolved_ticket(tickets)
    clock.advance(hours=2)
    rasa.fail = True  # Rasa runs the intent, then the desk sees an error (or dies)
    await settle(scheduler)
    rasa.fail = False
    [visit] = await scheduler.visits.for_ticket(ticket.number)
    assert visit.status == SCHEDULED
    await settle(scheduler)
    assert len(rasa.triggers) == 1  # still leased: not retried yet
    [visit] = await visits_after(scheduler, clock, ticket.number, seconds=61)
    assert visit.status == SENT and len(rasa.triggers) == 1


async def test_an_output_channel_rasa_cannot_push_on_is_not_counted_as_asked(
    scheduler: VisitScheduler,
    tickets: TicketService,
    rasa: StandInRasa,
    clock: Clock,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    from bot.surveys import models

    monkeypatch.setitem(models.OUTPUT_CHANNEL, "sms", "twilio")  # not a channel we register
    ticket = await resolved_ticket(tickets)
    [visit] = await visits_after(scheduler, clock, ticket.number, hours=2)
    assert visit.status == SCHEDULED and len(rasa.triggers) == 1
    assert await scheduler.visits.asking(visit.id) is None  # free to ask again
    monkeypatch.setitem(models.OUTPUT_CHANNEL, "sms", "sms")
    [visit] = await visits_after(scheduler, clock, ticket.number, seconds=61)
    assert visit.status == SENT and len(rasa.triggers) == 2


async def test_two_desks_share_the_schedule_and_ask_each_visit_once(
    scheduler: VisitScheduler, tickets: TicketService, rasa: StandInRasa, clock: Clock
) -> None:
    other = VisitScheduler(
        scheduler.redis,
        scheduler.tickets,
        scheduler.rasa,
        scheduler.timing,
        clock=clock,
        consumer="other",
    )
    numbers = []
    for i in range(6):
        ticket = await resolved_ticket(tickets, description=f"case {i}")
        numbers.append(ticket.number)
    await other.consume_once(block_ms=None)
    await settle(scheduler)
    clock.advance(hours=2)
    import asyncio

    await asyncio.gather(scheduler.run_due(), other.run_due())
    assert sorted(rasa.asked()) == sorted((f"{n}:1", False) for n in numbers)
    assert set(rasa.asked().values()) == {1}


def test_rasa_pushes_on_our_channel_names_and_collects_on_an_unknown_one(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Rasa 3.6's own choice of output channel (rasa/server.py _get_output_channel) with
    the input channels of credentials.yml: "socketio" and "sms" push to the customer; any
    other name silently collects the replies into the HTTP response."""
    from types import SimpleNamespace

    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.server import _get_output_channel

    from bot.channels.webchat import WebChatInput, WebChatOutput
    from bot.sms.channel import SmsInput
    from bot.sms.output import SmsOutboxOutput

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # the desk always has one
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "x" * 32)
    channels = [WebChatInput(), SmsInput()]
    app = SimpleNamespace(ctx=SimpleNamespace(input_channels=channels))

    def output(name: str) -> object:
        request = SimpleNamespace(args={"output_channel": name}, app=app)
        return _get_output_channel(request, None)  # type: ignore[arg-type]

    assert isinstance(output("socketio"), WebChatOutput)
    assert isinstance(output("sms"), SmsOutboxOutput)
    assert type(output("twilio")) is CollectingOutputChannel
    assert type(output("web")) is CollectingOutputChannel


async def test_a_simulated_month_every_resolution_visited_once_never_in_quiet_hours(
    scheduler: VisitScheduler,
    tickets: TicketService,
    rasa: StandInRasa,
    clock: Clock,
    redis: aioredis.Redis,
) -> None:
    import random

    from bot.surveys.answers import record_answer
    from bot.surveys.models import ANSWERED, ATTEMPTED

    rng = random.Random(12)
    rasa.clock = clock
    resolve_at: dict[str, float] = {}  # ticket -> when the agent resolves it
    withdraw: set[str] = set()  # tickets the customer reopens before their visit
    withdrawn: set[str] = set()  # visit ids whose resolution was withdrawn
    plan: dict[str, str] = {}  # ticket -> "good" | "low" | "silent" (its customer's habit)
    accepted = 0
    unverified: set[str] = set()
    seen = 0
    end = clock() + 30 * 86400
    while clock() < end + 16 * 86400:
        # About 1,000 tickets over the month (1.4 an hour).
        for _ in range(rng.choice([0, 1, 1, 2, 3]) if clock() < end else 0):
            web = rng.random() < 0.3
            verified = not web or rng.random() < 0.5
            phone = f"+86139{len(plan):08d}"  # one customer each: no repeat-complaint rule
            conversation = "web:" + f"{rng.getrandbits(128):032x}" if web else f"sms:{phone}"
            ticket = await new_ticket(
                tickets,
                description=f"case {len(plan)}",
                channel="socketio" if web else "sms",
                conversation_id=conversation,
                phone_verified=verified,
                phone=phone,
            )
            if not verified:
                unverified.add(ticket.number)
            plan[ticket.number] = rng.choice(["good", "good", "low", "silent"])
            resolve_at[ticket.number] = clock() + rng.randint(1, 30) * 3600
            if rng.random() < 0.1:
                withdraw.add(ticket.number)
        for number, when in list(resolve_at.items()):
            if when <= clock():
                del resolve_at[number]
                ticket = await resolve(tickets, number)
                if number in withdraw:  # reopened within the hour, resolved again later
                    withdraw.discard(number)
                    await settle(scheduler)
                    await tickets.transition(number, "reopened", actor="agent")
                    resolve_at[number] = clock() + 5 * 3600
                    count = await redis.hget(tickets.store.keys.ticket(number), "resolutions")
                    withdrawn.add(f"{number}:{count}")
        await settle(scheduler)
        new, seen = rasa.triggers[seen:], len(rasa.triggers)
        for trigger in new:
            entities = trigger["body"]["entities"]
            number, visit_id = entities["ticket_id"], entities["visit_id"]
            visit = await scheduler.visits.get(visit_id)
            if visit is None or visit.status not in ("sent", "reminded"):
                continue
            if plan[number] == "silent" or rng.random() < 0.5:
                continue  # answers later, or never
            low = plan[number] == "low"
            answer = await record_answer(
                redis,
                visit_id,
                rng.choice([1, 2]) if low else rng.choice([4, 5]),
                None,
                tickets=tickets,
                now=clock(),
            )
            accepted += answer.accepted
            if answer.reopened:
                plan[number] = "good"  # fixed this time
                resolve_at[number] = clock() + 8 * 3600
        clock.advance(hours=1)

    asked = rasa.asked()
    assert set(asked.values()) == {1}, "nothing asked twice"
    quiet = [
        t["at"]
        for t in rasa.triggers
        if not 8 <= datetime.fromtimestamp(t["at"], SHANGHAI).hour < 21
    ]
    assert quiet == []
    visits = [v for number in plan for v in await scheduler.visits.for_ticket(number)]
    for number in plan:
        resolutions = int(await redis.hget(tickets.store.keys.ticket(number), "resolutions") or 0)
        mine = [v.resolution for v in visits if v.ticket == number]
        assert mine == list(range(1, resolutions + 1)), number
    assert {v.id for v in visits if v.status == CLOSED} == withdrawn
    standing = [v for v in visits if v.id not in withdrawn]
    assert all(v.status in ATTEMPTED for v in standing), "coverage 100%"
    assert {v.ticket for v in standing if v.status == UNREACHABLE} <= unverified
    assert sum(v.status == ANSWERED for v in visits) == accepted
    assert all((v.id, False) in asked for v in standing if v.status != UNREACHABLE)
    assert len(plan) > 900 and accepted > 200 and withdrawn
