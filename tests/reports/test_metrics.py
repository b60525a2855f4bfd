"""The report's arithmetic on hand-built records: exact rates with half-up percentages,
what counts as attempted, pending, withdrawn or missing, the SLA and median rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from bot.reports.metrics import PENDING_GRACE_S, Rate, Resolution, build_report, figures
from bot.tickets.models import Status, Ticket

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
H = 3600.0


@dataclass(frozen=True)
class V:
    id: str
    status: str
    due_at: float | None = None
    sent_at: float | None = None
    rating: int | None = None


def ticket(number: str, **changes: object) -> Ticket:
    base = Ticket(
        number=number,
        seq=1,
        kind="complaint",
        category="billing",
        description="x",
        location="",
        account_id=None,
        channel="sms",
        phone="+8613800138000",
        language="zh",
        grade="P3",
        grade_reasons=(),
        owner="wang.fang",
        status=Status.RESOLVED,
        created_at=T0,
        updated_at=T0,
        first_response_due=T0 + timedelta(hours=24),
        resolve_due=T0 + timedelta(hours=72),
        first_response_at=T0 + timedelta(hours=1),
        resolved_at=T0 + timedelta(hours=10),
    )
    return base.with_changes(**changes)


def test_rates_are_exact_fractions_with_half_up_percentages() -> None:
    assert Rate(1, 8).percent == 12.5
    assert Rate(2, 3).percent == 66.7
    assert Rate(1, 6).percent == 16.7
    assert Rate(1, 2000).percent == 0.1  # 0.05 rounds up, not to even
    assert Rate(0, 0).percent is None
    assert Rate(3, 4).to_json() == {"numerator": 3, "denominator": 4, "percent": 75.0}


def test_satisfaction_response_and_coverage() -> None:
    at = T0.timestamp() + 10 * H
    now = at + 30 * 24 * H
    res = [Resolution(f"TK{i}", 1, at) for i in range(7)]
    tickets = {r.number: ticket(r.number) for r in res}
    visits = {
        "TK0:1": V("TK0:1", "answered", sent_at=at, rating=5),
        "TK1:1": V("TK1:1", "answered", sent_at=at, rating=4),
        "TK2:1": V("TK2:1", "answered", sent_at=at, rating=2),
        "TK3:1": V("TK3:1", "no_response", sent_at=at),
        "TK4:1": V("TK4:1", "unreachable"),
        "TK5:1": V("TK5:1", "closed", sent_at=at),  # window over after being asked
        # TK6: no visit at all
    }
    f, cov = figures(res, tickets, visits, {}, now)
    assert (f.satisfaction.numerator, f.satisfaction.denominator) == (2, 3)
    assert (f.response.numerator, f.response.denominator) == (3, 5)
    assert (f.coverage.numerator, f.coverage.denominator) == (6, 7)
    assert [m.number for m in cov.missing] == ["TK6"] and cov.missing[0].visit_status is None
    assert f.ratings == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}


def test_pending_and_withdrawn_resolutions_are_left_out_of_coverage() -> None:
    now = T0.timestamp() + 100 * H
    recent = Resolution("TK1", 1, now - 60)  # the scheduler has not seen it yet
    waiting = Resolution("TK2", 1, now - H)
    stuck = Resolution("TK3", 1, now - 10 * H)
    superseded = Resolution("TK4", 1, now - 20 * H)
    reopened = Resolution("TK5", 1, now - 20 * H)
    unasked = Resolution("TK6", 1, now - 20 * H)  # closed unasked, and nothing since
    tickets = {
        "TK1": ticket("TK1"),
        "TK2": ticket("TK2"),
        "TK3": ticket("TK3"),
        "TK4": ticket("TK4"),
        "TK5": ticket("TK5", status=Status.IN_PROGRESS, resolved_at=None),
        "TK6": ticket("TK6"),
    }
    visits = {
        "TK2:1": V("TK2:1", "scheduled", due_at=now + H),
        "TK3:1": V("TK3:1", "scheduled", due_at=now - PENDING_GRACE_S - 1),
        "TK4:1": V("TK4:1", "closed"),
        "TK5:1": V("TK5:1", "closed"),
        "TK6:1": V("TK6:1", "closed"),
    }
    report = build_report(
        [recent, waiting, stuck, superseded, reopened, unasked],
        tickets,
        visits,
        now,
        lambda epoch: date(2026, 11, 2),
        latest={"TK4": 2},
    )
    assert report.pending == 2 and report.withdrawn == 2
    assert [(m.number, m.visit_status) for m in report.missing] == [
        ("TK6", "closed"),
        ("TK3", "scheduled"),
    ]
    coverage = report.overall.coverage
    assert (coverage.numerator, coverage.denominator) == (0, 2)


def test_sla_and_median_per_ticket() -> None:
    base = T0.timestamp()
    late_response = ticket("TK1", first_response_at=T0 + timedelta(hours=25))
    late_resolution = ticket("TK2", resolved_at=T0 + timedelta(hours=73))
    reopened_overdue = ticket("TK3", status=Status.REOPENED, resolved_at=None)
    reopened_in_time = ticket(
        "TK4", status=Status.IN_PROGRESS, resolved_at=None, resolve_due=T0 + timedelta(days=30)
    )
    tickets = {
        t.number: t for t in (late_response, late_resolution, reopened_overdue, reopened_in_time)
    }
    res = [
        Resolution("TK1", 1, base + 10 * H),
        Resolution("TK2", 1, base + 73 * H),
        Resolution("TK3", 1, base + 5 * H),
        Resolution("TK4", 1, base + 2 * H),
        Resolution("TK4", 2, base + 8 * H),  # the last in the range counts for TK4
    ]
    f, _ = figures(res, tickets, {}, {}, base + 100 * H)
    assert (f.first_response_sla.numerator, f.first_response_sla.denominator) == (3, 4)
    # TK1 met, TK2 missed, TK3 missed (open past its deadline), TK4 not decided yet
    assert (f.resolution_sla.numerator, f.resolution_sla.denominator) == (1, 3)
    assert f.tickets == 4 and f.resolutions == 5
    assert f.median_resolve_s == (8 * H + 10 * H) / 2  # of 5, 8, 10, 73 hours


def test_groups_and_days() -> None:
    at = T0.timestamp()
    tickets = {
        "A": ticket("A", category="outage", grade="P1", owner=None),
        "B": ticket("B", category="billing", grade="P3"),
    }
    visits = {"A:1": V("A:1", "answered", sent_at=at, rating=5)}
    days = [date(2026, 11, 2), date(2026, 11, 3)]
    report = build_report(
        [Resolution("A", 1, at), Resolution("B", 1, at), Resolution("gone", 1, at)],
        tickets,
        visits,
        at + 90 * 24 * H,
        lambda epoch: date(2026, 11, 2),
        days,
    )
    assert list(report.by_category) == ["billing", "outage"]
    assert list(report.by_agent) == ["(unassigned)", "wang.fang"]
    assert report.by_grade["P1"].satisfaction.percent == 100.0
    assert report.by_day["2026-11-02"].resolutions == 3
    assert report.by_day["2026-11-03"].resolutions == 0  # quiet days are listed
    # a deleted ticket still counts as resolved, without SLA figures
    assert report.overall.resolutions == 3 and report.overall.tickets == 3
    assert report.overall.first_response_sla.denominator == 2
    assert {m.number for m in report.missing} == {"B", "gone"}
