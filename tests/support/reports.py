"""Report test helpers: a simulated month of tickets and return visits with a fixed seed,
and the figures the simulation knows it produced (computed from its own log, not Redis).

Tickets go through the real TicketService on an injectable clock (so the resolutions
stream and the ticket hashes are what production writes); visits are written with their
final state through the real VisitStore (bot/surveys/store.py), standing in for the
scheduler, which has its own tests. So that a desk started afterwards leaves them alone,
the simulation marks the resolutions as consumed by the scheduler's group and takes its
final-state visits off the scheduler's due list. Start the desk after simulating.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.surveys.models import Visit
from bot.surveys.scheduler import GROUP
from bot.surveys.store import DUE, VisitStore
from bot.tickets.models import Ticket
from bot.tickets.service import TicketService
from tests.support.tickets import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
MONTH_START = datetime(2026, 11, 1, tzinfo=TZ)
MONTH_END = datetime(2026, 12, 1, tzinfo=TZ)
DELAY_S = 7200.0  # KEFU_RETURN_VISIT_DELAY_S's default
HOUR = 3600.0
DESCRIPTIONS = (
    "电费单金额不对，比上个月多了很多",
    "停电两天了还没有来电",
    "抄表员态度很差",
    "报修三天了没人来",
    "The meter reading on my bill is wrong",
)
LOCATIONS = ("朝阳区幸福路 12 号", "海淀区中关村大街 1 号", "Dongcheng, Main St 5", "不知道在哪")
# Rating weights 1..5: satisfied (4-5) are 75 % of answers.
RATINGS = (1, 2, 3, 4, 5)
RATING_WEIGHTS = (5, 7, 13, 30, 45)


@dataclass
class Outcome:
    """What the simulation did with one resolution's visit."""

    status: str  # answered | no_response | unreachable | closed (withdrawn)
    rating: int | None = None


@dataclass
class Logged:
    number: str
    resolution: int
    at: float
    visit: Outcome


@dataclass
class Known:
    """The figures the simulation produced for [MONTH_START, MONTH_END)."""

    resolutions: int = 0
    tickets: int = 0
    surveys_sent: int = 0
    responses: int = 0
    satisfied: int = 0
    attempted: int = 0
    withdrawn: int = 0
    fr_met: int = 0
    fr_total: int = 0
    rs_met: int = 0
    rs_total: int = 0
    median_resolve_s: float | None = None
    reopened: int = 0  # tickets reopened at least once (all in the month)
    by_category: dict[str, tuple[int, int]] = field(default_factory=dict)  # satisfied, responses
    ratings: Counter[int] = field(default_factory=Counter)
    numbers: list[str] = field(default_factory=list)  # every ticket, in creation order
    log: list[Logged] = field(default_factory=list)


@dataclass(order=True)
class _Event:
    at: float
    order: int
    action: str = field(compare=False)
    index: int = field(compare=False)


@dataclass
class _Plan:
    created: float
    category: str
    description: str
    location: str
    agent: str
    first_response: float
    resolutions: list[float] = field(default_factory=list)
    reopens: list[float] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    close_at: float | None = None


def _seconds(rng: random.Random, low: float, high: float) -> float:
    # Whole seconds: the store keeps microseconds, and the expected figures must be exact.
    return float(round(rng.uniform(low, high)))


def _plan(rng: random.Random, categories: list[str], agents: list[str]) -> _Plan:
    start = MONTH_START.timestamp()
    created = start + _seconds(rng, 0, 29 * 24 * HOUR)
    first_response = created + _seconds(rng, 600, 30 * HOUR)
    plan = _Plan(
        created=created,
        category=rng.choice(categories),
        description=rng.choice(DESCRIPTIONS),
        location=rng.choice(LOCATIONS),
        agent=rng.choice(agents),
        first_response=first_response,
    )
    if rng.random() < 0.06:  # still being worked on
        return plan
    resolved = first_response + _seconds(rng, HOUR, 96 * HOUR)
    for _ in range(2):  # at most one reopen in this month's story
        plan.resolutions.append(resolved)
        last = len(plan.resolutions) == 2
        roll = rng.random()
        if roll < 0.08 and not last:  # reopened before the visit was due: withdrawn
            plan.outcomes.append(Outcome("closed"))
            reopen = resolved + _seconds(rng, 600, DELAY_S - 600)
        elif roll < 0.15:
            plan.outcomes.append(Outcome("unreachable"))
            return plan
        elif roll < 0.35:
            plan.outcomes.append(Outcome("no_response"))
            return plan
        else:
            rating = rng.choices(RATINGS, RATING_WEIGHTS)[0]
            plan.outcomes.append(Outcome("answered", rating))
            answered = resolved + DELAY_S + _seconds(rng, 60, 3 * 24 * HOUR)
            if rating > 2 or last:
                plan.close_at = answered
                return plan
            reopen = answered  # a low rating reopens the ticket (issue 12, item 3)
        plan.reopens.append(reopen)
        resolved = reopen + _seconds(rng, 2 * HOUR, 48 * HOUR)
    return plan


async def simulate_month(
    redis: aioredis.Redis,
    service: TicketService,
    clock: FakeClock,
    *,
    count: int = 1000,
    seed: int = 12,
) -> Known:
    """Files `count` complaints over November 2026 and plays every ticket's story (first
    response, resolutions, visits with ratings or none, reopenings and re-resolutions) in
    time order; returns what it produced. The clock ends after the last event."""
    rng = random.Random(seed)
    visits = VisitStore(redis)
    categories = sorted(service.roster.categories)
    agents = sorted(service.roster.agents)
    plans = [_plan(rng, categories, agents) for _ in range(count)]
    events: list[_Event] = []
    for i, p in enumerate(plans):
        events.append(_Event(p.created, 0, "create", i))
        events.append(_Event(p.first_response, 1, "in_progress", i))
        for k, at in enumerate(p.resolutions):
            events.append(_Event(at, 2, f"resolve:{k}", i))
        for k, at in enumerate(p.reopens):
            events.append(_Event(at, 3, f"reopen:{k}", i))
        if p.close_at is not None:
            events.append(_Event(p.close_at, 4, "close", i))
    events.sort()

    tickets: dict[int, Ticket] = {}
    latest: dict[int, Ticket] = {}
    log: list[Logged] = []
    for event in events:
        clock.now = datetime.fromtimestamp(event.at, timezone.utc)
        p = plans[event.index]
        if event.action == "create":
            ticket = await service.create_complaint(
                category=p.category,
                description=p.description,
                location=p.location,
                phone=f"+86138{event.index:08d}",
                language="zh",
                channel="socketio",
            )
            if ticket.owner != p.agent:
                ticket = await service.reassign(ticket.number, p.agent, actor="lead")
            tickets[event.index] = ticket
        else:
            number = tickets[event.index].number
            if event.action == "in_progress":
                ticket = await service.transition(number, "in_progress", actor=p.agent)
            elif event.action.startswith("resolve"):
                k = int(event.action.split(":")[1])
                ticket = await service.transition(number, "resolved", actor=p.agent)
                log.append(Logged(number, k + 1, event.at, p.outcomes[k]))
                await visits.create(_visit(number, k + 1, event.at, p.outcomes[k], rng))
            elif event.action.startswith("reopen"):
                ticket = await service.transition(number, "reopened", actor="customer")
                ticket = await service.transition(number, "in_progress", actor=p.agent)
            else:
                ticket = await service.transition(number, "closed", actor="system")
        latest[event.index] = ticket
    clock.now = datetime.fromtimestamp(events[-1].at + HOUR, timezone.utc)
    await redis.zrem(DUE, *(f"{e.number}:{e.resolution}" for e in log))
    stream = service.store.keys.resolutions
    try:
        await redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
    except ResponseError:  # the group exists: move it past the simulation
        await redis.xgroup_setid(stream, GROUP, "$")
    return _known(plans, tickets, latest, log)


def _visit(number: str, resolution: int, at: float, outcome: Outcome, rng: random.Random) -> Visit:
    due = at + DELAY_S
    sent = None if outcome.status in ("unreachable", "closed") else due
    return Visit(
        id=f"{number}:{resolution}",
        ticket=number,
        resolution=resolution,
        language="zh",
        conversation_id=None,
        phone=None,
        channel="sms" if sent else "",
        status=outcome.status,
        resolved_at=at,
        due_at=due,
        sent_at=sent,
        reminded_at=due + 48 * HOUR if outcome.status == "no_response" else None,
        answered_at=due + _seconds(rng, 60, HOUR) if outcome.rating else None,
        closes_at=due + 14 * 24 * HOUR,
        rating=outcome.rating,
        low=outcome.rating is not None and outcome.rating <= 2,
    )


def _known(
    plans: list[_Plan], tickets: dict[int, Ticket], latest: dict[int, Ticket], log: list[Logged]
) -> Known:
    start, end = MONTH_START.timestamp(), MONTH_END.timestamp()
    known = Known(log=log, numbers=[tickets[i].number for i in sorted(tickets)])
    by_number = {t.number: i for i, t in tickets.items()}
    in_range = [e for e in log if start <= e.at < end]
    known.resolutions = len(in_range)
    last_at: dict[str, float] = {}
    cat: dict[str, list[int]] = {}
    for e in in_range:
        last_at[e.number] = max(e.at, last_at.get(e.number, e.at))
        status, rating = e.visit.status, e.visit.rating
        known.withdrawn += status == "closed"
        known.attempted += status != "closed"
        known.surveys_sent += status in ("answered", "no_response")
        category = plans[by_number[e.number]].category
        counts = cat.setdefault(category, [0, 0])
        if rating is not None:
            known.responses += 1
            known.ratings[rating] += 1
            known.satisfied += rating >= 4
            counts[0] += rating >= 4
            counts[1] += 1
    known.by_category = {c: (s, r) for c, (s, r) in sorted(cat.items()) if r}
    durations = []
    for number, at in last_at.items():
        i = by_number[number]
        plan, final = plans[i], latest[i]
        known.fr_total += 1
        known.fr_met += plan.first_response <= final.first_response_due.timestamp()
        # every reopened ticket of the story is resolved again: compare its last resolution
        # with the deadline the store gave that cycle
        known.rs_total += 1
        known.rs_met += plan.resolutions[-1] <= final.resolve_due.timestamp()
        durations.append(at - plan.created)
    known.tickets = len(last_at)
    known.median_resolve_s = statistics.median(durations) if durations else None
    known.reopened = sum(1 for p in plans if p.reopens)
    return known


def day_bounds(day: datetime) -> tuple[float, float]:
    return day.timestamp(), (day + timedelta(days=1)).timestamp()
