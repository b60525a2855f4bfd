from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.tickets.errors import PolicyError
from bot.tickets.models import Status, TicketFilter
from bot.tickets.service import Policies, TicketService
from bot.tickets.sla import SlaPolicy, describe, parse_duration
from bot.tickets.sla_monitor import SlaMonitor
from tests.support.tickets import FakeClock, complaint


def test_default_policy_matches_the_issue(policies: Policies) -> None:
    hours = {
        grade: (
            policies.sla.terms(grade).first_response / timedelta(hours=1),
            policies.sla.terms(grade).resolve / timedelta(hours=1),
        )
        for grade in ("P1", "P2", "P3", "P4")
    }
    assert hours == {"P1": (1, 4), "P2": (4, 24), "P3": (24, 72), "P4": (72, 168)}


@pytest.mark.parametrize(
    ("duration", "zh", "en"),
    [
        ("1h", "1小时内", "within 1 hour"),
        ("4h", "4小时内", "within 4 hours"),
        ("72h", "72小时内", "within 72 hours"),
        ("7d", "7天内", "within 7 days"),
        ("30m", "30分钟内", "within 30 minutes"),
    ],
)
def test_promises_read_naturally(duration: str, zh: str, en: str) -> None:
    assert describe(parse_duration(duration), "zh") == zh
    assert describe(parse_duration(duration), "en") == en


@pytest.mark.parametrize("bad", ["", "4", "4 weeks", "-1h", "0h", "h"])
def test_bad_durations_fail_at_load(bad: str) -> None:
    with pytest.raises(PolicyError):
        parse_duration(bad)


def test_every_grade_needs_terms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sla.yml"
    path.write_text("grades:\n  P1: {first_response: 1h, resolve: 4h}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="P2"):
        SlaPolicy.from_yaml(path, ("P1", "P2"))


async def test_missed_first_response_escalates_once(
    service: TicketService, clock: FakeClock
) -> None:
    ticket = await complaint(service)
    assert ticket.grade == "P3"
    monitor = SlaMonitor(service.store, clock)
    clock.now = ticket.first_response_due - timedelta(seconds=1)
    assert await monitor.run_once() == []
    clock.now = ticket.first_response_due + timedelta(seconds=1)
    [escalation] = await monitor.run_once()
    assert (escalation.number, escalation.kind) == (ticket.number, "first_response")
    assert (escalation.from_grade, escalation.to_grade) == ("P3", "P2")
    assert escalation.deadline == ticket.first_response_due
    assert await monitor.run_once() == []  # exactly once

    after = await service.store.get(ticket.number)
    assert after.grade == "P2" and after.escalations == 1
    # Deadlines are what the customer was promised: an escalation does not move them.
    assert after.first_response_due == ticket.first_response_due
    entry = (await service.store.history(ticket.number))[-1]
    assert (entry.action, entry.actor, entry.at) == ("escalated", "sla-monitor", clock())
    assert entry.data == {
        "kind": "first_response",
        "deadline": ticket.first_response_due.isoformat(),
        "from": "P3",
        "to": "P2",
    }
    p2 = await service.store.list(TicketFilter(grade="P2"))
    assert [t.number for t in p2.items] == [ticket.number]
    assert (await service.store.list(TicketFilter(grade="P3"))).items == []


async def test_met_deadlines_do_not_escalate(service: TicketService, clock: FakeClock) -> None:
    ticket = await complaint(service)
    monitor = SlaMonitor(service.store, clock)
    clock.advance(hours=1)
    await service.transition(ticket.number, "in_progress", actor="wang.fang")
    clock.advance(hours=1)
    await service.transition(ticket.number, "resolved", actor="wang.fang")
    clock.now = ticket.resolve_due + timedelta(days=30)
    assert await monitor.run_once() == []
    assert (await service.store.get(ticket.number)).escalations == 0


async def test_resolve_breach_escalates_again_but_never_above_p1(service, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await complaint(service, "插座冒烟了")
    assert ticket.grade == "P1"
    monitor = SlaMonitor(service.store, clock)
    clock.now = ticket.resolve_due + timedelta(minutes=1)
    escalations = await monitor.run_once()
    assert sorted(e.kind for e in escalations) == ["first_response", "resolve"]
    assert all(e.to_grade == "P1" for e in escalations)
    after = await service.store.get(ticket.number)
    assert after.grade == "P1" and after.escalations == 2


async def test_a_reopened_ticket_can_breach_its_new_deadline(service, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await complaint(service)
    monitor = SlaMonitor(service.store, clock)
    for status in ("in_progress", "resolved"):
        await service.transition(ticket.number, status, actor="wang.fang")
    clock.advance(days=5)
    reopened = await service.transition(ticket.number, "reopened", actor="return-visit")
    assert await monitor.run_once() == []
    clock.now = reopened.resolve_due + timedelta(seconds=1)
    [escalation] = await monitor.run_once()
    assert escalation.kind == "resolve" and escalation.deadline == reopened.resolve_due


async def test_two_monitors_on_one_redis_escalate_each_ticket_once(
    service: TicketService, second_redis, policies: Policies, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    # A second desk process: its own connection pool, same Redis.
    other = TicketService.build(second_redis, policies, clock=clock)
    tickets = [await complaint(service, phone=f"+86138001380{i:02d}") for i in range(40)]
    clock.now = tickets[0].first_response_due + timedelta(seconds=1)
    first, second = SlaMonitor(service.store, clock), SlaMonitor(other.store, clock)
    results = await asyncio.gather(first.run_once(), second.run_once(), first.run_once())
    numbers = [e.number for batch in results for e in batch]
    assert sorted(numbers) == sorted(t.number for t in tickets)  # each exactly once
    for ticket in tickets:
        history = await service.store.history(ticket.number)
        assert sum(h.action == "escalated" for h in history) == 1
        assert (await service.store.get(ticket.number)).escalations == 1


async def test_the_claim_is_atomic(service: TicketService, second_redis, policies, clock) -> None:  # type: ignore[no-untyped-def]
    other = TicketService.build(second_redis, policies, clock=clock)
    ticket = await complaint(service)
    clock.now = ticket.first_response_due
    member = f"{ticket.number}|first_response"
    results = await asyncio.gather(
        *(s.store.escalate(member, clock()) for _ in range(10) for s in (service, other))
    )
    assert sum(r is not None for r in results) == 1


async def test_escalations_feed_the_console(service: TicketService, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await complaint(service)
    clock.now = ticket.first_response_due
    await SlaMonitor(service.store, clock).run_once()
    [(_, fields)] = await redis.xrange(service.store.keys.escalations)
    assert fields["number"] == ticket.number and fields["to"] == "P2"


async def test_status_is_not_touched_by_escalation(service, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await complaint(service)
    clock.now = ticket.first_response_due
    await SlaMonitor(service.store, clock).run_once()
    assert (await service.store.get(ticket.number)).status == Status.ASSIGNED
