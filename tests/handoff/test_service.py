"""HandoffService.request: queue place and wait, or a callback offer; first-contact routing."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.handoff.policy import HandoffConfig
from bot.handoff.service import CLOSED_HOURS, NO_AGENTS, HandoffService, QueueTicket, Unavailable
from bot.handoff.store import QUEUED
from bot.tickets.service import TicketService
from tests.support.handoff import OPEN_TIME, FakeClock

PHONE = "+8613800138000"
NIGHT = OPEN_TIME + 14 * 3600  # 00:00 in Shanghai


async def test_outside_business_hours_offers_a_callback(
    service: HandoffService, clock: FakeClock
) -> None:
    await service.presence.heartbeat("wang.fang", clock.advance(14 * 3600))
    outcome = await service.request("web1", "socketio", "en")
    assert isinstance(outcome, Unavailable) and outcome.reason == CLOSED_HOURS
    assert "Monday to Friday" in outcome.hours
    assert outcome.next_open is not None and outcome.next_open.hour == 8
    assert await service.store.get("web1") is None  # nobody is queued for nothing


async def test_with_nobody_online_offers_a_callback(
    service: HandoffService, clock: FakeClock
) -> None:
    outcome = await service.request("web1", "socketio", "zh")
    assert isinstance(outcome, Unavailable) and outcome.reason == NO_AGENTS
    assert "周一至周五" in outcome.hours
    # An agent whose heartbeat ran out is not online either.
    await service.presence.heartbeat("wang.fang", clock.now)
    clock.advance(service.presence.ttl_s + 1)
    assert isinstance(await service.request("web1", "socketio", "zh"), Unavailable)


async def test_queue_place_and_wait_from_handle_times_and_agents(
    service: HandoffService, clock: FakeClock
) -> None:
    await service.presence.heartbeat("li.na", clock.now)
    first = await service.request("web1", "socketio", "zh", phone=PHONE)
    assert first == QueueTicket(position=1, eta_minutes=1)  # an agent is free
    clock.advance(1)
    second = await service.request("sms:+8613900139000", "sms", "en")
    assert isinstance(second, QueueTicket) and second.position == 2
    # One agent, default 5-minute conversations, nobody busy: the 2nd waits one conversation.
    assert second.eta_minutes == 5
    stored = await service.store.get("web1")
    assert stored.state == QUEUED and stored.phone == PHONE and stored.channel == "socketio"

    # Asking again keeps the place (and says so).
    again = await service.request("web1", "socketio", "zh")
    assert again.position == 1 and again.already_waiting

    # A P1 complaint goes to the front.
    clock.advance(1)
    urgent = await service.request("web3", "socketio", "zh", grade="P1", reason="p1_complaint")
    assert urgent.position == 1
    assert (await service.status("web1")).position == 2
    assert (await service.store.get("web3")).reason == "p1_complaint"

    # Third in line with one agent: two free-ups of 5 minutes.
    assert (await service.status("sms:+8613900139000")).eta_minutes == 10
    # A second agent: both take one each at once, the third waits 5 / 2 -> 3 minutes.
    await service.presence.heartbeat("zhang.wei", clock.now)
    assert (await service.status("sms:+8613900139000")).eta_minutes == 3
    # Both agents busy, first in line: still one free-up away.
    await service.store.claim("web3", "li.na", clock.now)
    await service.store.claim("web1", "zhang.wei", clock.now)
    ticket = await service.status("sms:+8613900139000")
    assert ticket.position == 1 and ticket.eta_minutes == 3


async def test_owner_of_an_open_ticket_gets_first_claim_when_online(
    service: HandoffService, tickets: TicketService, clock: FakeClock
) -> None:
    ticket = await tickets.create_complaint(
        category="billing",
        description="电费单金额不对",
        phone=PHONE,
        language="zh",
        channel="web",
        phone_verified=True,  # only a proven phone's tickets are that customer's
    )
    assert ticket.owner in ("wang.fang", "li.na")
    other = "li.na" if ticket.owner == "wang.fang" else "wang.fang"
    await service.presence.heartbeat(other, clock.now)

    # The owner is offline: no reservation, anyone may take it.
    outcome = await service.request("web1", "socketio", "zh", phone=PHONE)
    assert outcome.reserved_for is None
    assert (await service.store.get("web1")).ticket_id == ticket.number
    await service.store.release("web1", target="closed", actor="x", owner=None, now=clock.now)

    # The owner is online: they have the window to themselves.
    await service.presence.heartbeat(ticket.owner, clock.now)
    outcome = await service.request("web2", "socketio", "zh", phone=PHONE)
    assert outcome.reserved_for == ticket.owner
    stored = await service.store.get("web2")
    window = service.config.queue.first_claim_window_s
    assert stored.preferred_until == pytest.approx(clock.now + window)
    assert stored.ticket_id == ticket.number


async def test_a_ticket_of_another_phone_does_not_route(
    service: HandoffService, tickets: TicketService, clock: FakeClock
) -> None:
    ticket = await tickets.create_complaint(
        category="billing",
        description="电费单金额不对",
        phone=PHONE,
        language="zh",
        channel="web",
        phone_verified=True,
    )
    await service.presence.heartbeat(ticket.owner, clock.now)
    outcome = await service.request(
        "web1", "socketio", "zh", phone="+8613900139000", ticket_id=ticket.number
    )
    assert outcome.reserved_for is None


async def test_unknown_language_and_reason_fall_back(
    redis: aioredis.Redis, open_config: HandoffConfig
) -> None:
    clock = FakeClock(OPEN_TIME + 14 * 3600)  # night, but the desk is open around the clock
    service = HandoffService.build(redis, open_config, clock=clock)
    await service.presence.heartbeat("a", clock.now)
    outcome = await service.request("web1", "weird", "fr", reason="because")
    assert isinstance(outcome, QueueTicket)
    stored = await service.store.get("web1")
    assert stored.language == "zh" and stored.reason == "human_handoff"
