"""The satisfaction report's figures, computed from plain records (no Redis here).

Population: the resolutions (a ticket moving to `resolved`; a ticket resolved, reopened
and resolved again has two) whose time falls in the report's range, each with the return
visit created for it (id "<number>:<resolution>", bot.surveys). For the whole range and
per category, grade, agent (the ticket's owner) and day:

- satisfaction = visits rated 4 or 5 / visits rated (responses)
- response     = responses / surveys sent (a visit whose question went out; an
                 "unreachable" visit was attempted but not sent)
- coverage     = resolutions whose visit was attempted (sent, reminded, answered,
                 no_response, unreachable, or closed after being sent) / resolutions,
                 leaving out those still pending (their visit is scheduled and not yet
                 due, or the resolution is too recent for the scheduler to have seen it)
                 and those withdrawn (the visit was closed unasked because the ticket was
                 reopened or resolved again first: the later resolution gets the visit).
                 Every other resolution without an attempted visit is listed by number.
- first-response SLA, per ticket: first response no later than first_response_due.
- resolution SLA, per ticket, on its current cycle (a reopen restarts the resolve clock,
  bot.tickets.store): resolved_at no later than resolve_due; a ticket reopened and not
  resolved again counts as missed once that deadline has passed, and is left out before.
- median time to resolve, per ticket: from filing to its last resolution in the range.

Rates are exact fractions (numerator/denominator) plus a percentage rounded half-up to one
decimal; an empty denominator gives a null percentage, never a division by zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any, Protocol

from bot.surveys.models import ATTEMPTED  # the statuses meaning "the customer was tried"
from bot.tickets.models import Ticket

SATISFIED_MIN = 4  # ratings of 4 or 5 count as satisfied
# A resolution this recent without a visit is in flight (the scheduler reads the
# resolutions stream continuously), not missing; a scheduled visit this far past its due
# time is stuck, and counts as missing.
PENDING_GRACE_S = 15 * 60
UNASSIGNED = "(unassigned)"


class VisitLike(Protocol):
    """What the report reads of a return visit (bot.surveys.models.Visit)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def due_at(self) -> float | None: ...
    @property
    def sent_at(self) -> float | None: ...
    @property
    def rating(self) -> int | None: ...


@dataclass(frozen=True)
class Resolution:
    """One entry of the resolutions stream (kefu:tickets:resolutions)."""

    number: str
    resolution: int  # 1, 2, ... per ticket
    at: float  # epoch seconds

    @property
    def visit_id(self) -> str:
        return f"{self.number}:{self.resolution}"


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        if self.denominator == 0:
            return None
        exact = Decimal(100 * self.numerator) / Decimal(self.denominator)
        return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))

    def to_json(self) -> dict[str, Any]:
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "percent": self.percent,
        }


@dataclass
class Figures:
    resolutions: int = 0
    tickets: int = 0
    surveys_sent: int = 0
    responses: int = 0
    ratings: dict[int, int] = field(default_factory=lambda: {r: 0 for r in range(1, 6)})
    satisfaction: Rate = Rate(0, 0)
    response: Rate = Rate(0, 0)
    coverage: Rate = Rate(0, 0)
    first_response_sla: Rate = Rate(0, 0)
    resolution_sla: Rate = Rate(0, 0)
    median_resolve_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "resolutions": self.resolutions,
            "tickets": self.tickets,
            "surveys_sent": self.surveys_sent,
            "responses": self.responses,
            "ratings": {str(k): v for k, v in self.ratings.items()},
            "satisfaction": self.satisfaction.to_json(),
            "response": self.response.to_json(),
            "coverage": self.coverage.to_json(),
            "first_response_sla": self.first_response_sla.to_json(),
            "resolution_sla": self.resolution_sla.to_json(),
            "median_resolve_s": self.median_resolve_s,
        }


@dataclass(frozen=True)
class Missing:
    """A resolution in the range with no attempted return visit."""

    number: str
    resolution: int
    resolved_at: float
    visit_status: str | None  # None: no visit exists at all

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "resolution": self.resolution,
            "resolved_at": self.resolved_at,
            "visit_status": self.visit_status,
        }


@dataclass
class Report:
    overall: Figures
    by_category: dict[str, Figures]
    by_grade: dict[str, Figures]
    by_agent: dict[str, Figures]
    by_day: dict[str, Figures]
    missing: list[Missing]
    pending: int  # resolutions left out of coverage: their visit is not due yet
    withdrawn: int  # left out too: reopened or resolved again before their visit

    def to_json(self) -> dict[str, Any]:
        def group(figures: Mapping[str, Figures]) -> dict[str, Any]:
            return {key: f.to_json() for key, f in figures.items()}

        return {
            "overall": self.overall.to_json(),
            "by_category": group(self.by_category),
            "by_grade": group(self.by_grade),
            "by_agent": group(self.by_agent),
            "by_day": group(self.by_day),
            "coverage": {
                **self.overall.coverage.to_json(),
                "complete": self.overall.coverage.numerator == self.overall.coverage.denominator,
                "pending": self.pending,
                "withdrawn": self.withdrawn,
                "missing": [m.to_json() for m in self.missing],
            },
        }


# ---------------------------------------------------------------- the computation
def attempted(visit: VisitLike) -> bool:
    return visit.status in ATTEMPTED or visit.sent_at is not None


def was_sent(visit: VisitLike) -> bool:
    return visit.sent_at is not None or visit.rating is not None


def is_pending(resolution: Resolution, visit: VisitLike | None, now: float) -> bool:
    if visit is None:
        return resolution.at > now - PENDING_GRACE_S
    if visit.status != "scheduled":
        return False
    due = visit.due_at if visit.due_at is not None else resolution.at
    return due > now - PENDING_GRACE_S


def is_withdrawn(
    resolution: Resolution, visit: VisitLike | None, ticket: Ticket | None, latest: int
) -> bool:
    """Closed unasked because the resolution no longer stands: the ticket was resolved
    again since, or is open again now."""
    if visit is None or visit.status != "closed" or attempted(visit):
        return False
    return resolution.resolution < latest or (ticket is not None and ticket.is_open)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass
class _Coverage:
    covered: int = 0
    pending: int = 0
    withdrawn: int = 0
    missing: list[Missing] = field(default_factory=list)


def figures(
    resolutions: Sequence[Resolution],
    tickets: Mapping[str, Ticket],
    visits: Mapping[str, VisitLike],
    latest: Mapping[str, int],
    now: float,
) -> tuple[Figures, _Coverage]:
    """The figures of one group of resolutions, and its coverage details. `latest`: each
    ticket's number of resolutions so far (a later one withdraws an earlier visit)."""
    out = Figures(resolutions=len(resolutions))
    cov = _Coverage()
    satisfied = responses = sent = 0
    for res in resolutions:
        visit = visits.get(res.visit_id)
        ticket = tickets.get(res.number)
        if visit is not None and attempted(visit):
            cov.covered += 1
        elif is_pending(res, visit, now):
            cov.pending += 1
        elif is_withdrawn(res, visit, ticket, latest.get(res.number, res.resolution)):
            cov.withdrawn += 1
        else:
            cov.missing.append(
                Missing(res.number, res.resolution, res.at, visit.status if visit else None)
            )
        if visit is None:
            continue
        if was_sent(visit):
            sent += 1
        if visit.rating is not None:
            responses += 1
            out.ratings[visit.rating] = out.ratings.get(visit.rating, 0) + 1
            satisfied += visit.rating >= SATISFIED_MIN
    out.surveys_sent, out.responses = sent, responses
    out.satisfaction = Rate(satisfied, responses)
    out.response = Rate(responses, sent)
    out.coverage = Rate(cov.covered, len(resolutions) - cov.pending - cov.withdrawn)

    last_at: dict[str, float] = {}
    for res in resolutions:
        last_at[res.number] = max(res.at, last_at.get(res.number, res.at))
    fr_met = fr_total = rs_met = rs_total = 0
    durations: list[float] = []
    for number, at in last_at.items():
        ticket = tickets.get(number)
        if ticket is None:  # deleted: it still counts as resolved, without ticket figures
            continue
        if ticket.first_response_at is not None:
            fr_total += 1
            fr_met += ticket.first_response_at <= ticket.first_response_due
        resolved = _epoch(ticket.resolved_at)
        due = ticket.resolve_due.timestamp()
        if resolved is not None:
            rs_total += 1
            rs_met += resolved <= due
        elif now > due:  # reopened and still open past its fresh deadline
            rs_total += 1
        durations.append(at - ticket.created_at.timestamp())
    out.tickets = len(last_at)
    out.first_response_sla = Rate(fr_met, fr_total)
    out.resolution_sla = Rate(rs_met, rs_total)
    out.median_resolve_s = float(median(durations)) if durations else None
    return out, cov


def _grouped(
    resolutions: Iterable[Resolution],
    key: Callable[[Resolution], str | None],
) -> dict[str, list[Resolution]]:
    groups: dict[str, list[Resolution]] = {}
    for res in resolutions:
        name = key(res)
        if name is not None:
            groups.setdefault(name, []).append(res)
    return dict(sorted(groups.items()))


def build_report(
    resolutions: Sequence[Resolution],
    tickets: Mapping[str, Ticket],
    visits: Mapping[str, VisitLike],
    now: float,
    day_of: Callable[[float], date],
    days: Sequence[date] = (),
    latest: Mapping[str, int] | None = None,
) -> Report:
    """The whole report: overall, per category / grade / agent / day (`days` lists the
    range's days so that quiet days appear with zeros). `latest`: each ticket's number of
    resolutions so far (default: the highest in `resolutions`)."""
    ordered = sorted(resolutions, key=lambda r: (r.at, r.number, r.resolution))
    counts: dict[str, int] = {}
    for res in ordered:
        counts[res.number] = max(res.resolution, counts.get(res.number, 0))
    if latest:
        for number, count in latest.items():
            counts[number] = max(count, counts.get(number, 0))
    overall, cov = figures(ordered, tickets, visits, counts, now)

    def attr(name: str) -> Callable[[Resolution], str | None]:
        def get(res: Resolution) -> str | None:
            ticket = tickets.get(res.number)
            if ticket is None:
                return None
            value = getattr(ticket, name)
            return str(value) if value else UNASSIGNED

        return get

    def group(key: Callable[[Resolution], str | None]) -> dict[str, Figures]:
        return {
            name: figures(members, tickets, visits, counts, now)[0]
            for name, members in _grouped(ordered, key).items()
        }

    by_day = {d.isoformat(): Figures() for d in days}
    by_day.update(group(lambda r: day_of(r.at).isoformat()))
    return Report(
        overall=overall,
        by_category=group(attr("category")),
        by_grade=group(attr("grade")),
        by_agent=group(attr("owner")),
        by_day=dict(sorted(by_day.items())),
        missing=cov.missing,
        pending=cov.pending,
        withdrawn=cov.withdrawn,
    )
