from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from bot.tickets.errors import IllegalTransition, TicketNotFound
from bot.tickets.models import TRANSITIONS, GradeReason, NewTicket, Status, TicketFilter
from bot.tickets.service import Policies
from bot.tickets.store import TicketStore, sla_member
from tests.support.tickets import OTHER_PHONE, PHONE, FakeClock

REASON = (GradeReason("default", "P3", "一般服务质量投诉", "Ordinary complaint"),)


def new(clock: FakeClock, **overrides) -> NewTicket:  # type: ignore[no-untyped-def]
    fields = {
        "category": "billing",
        "description": "电费不对",
        "location": "幸福路 12 号",
        "channel": "socketio",
        "phone": PHONE,
        "language": "zh",
        "grade": "P3",
        "grade_reasons": REASON,
        "owner": "wang.fang",
        "created_at": clock(),
        "assign_reason": "round_robin",
        "phone_verified": True,
    }
    fields.update(overrides)
    return NewTicket(**fields)


@pytest.fixture
def store(redis: aioredis.Redis, policies: Policies, clock: FakeClock) -> TicketStore:
    return TicketStore(redis, policies.sla, grades=policies.grader.grades, clock=clock)


async def test_create_writes_everything_in_one_go(store: TicketStore, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    assert ticket.number == "TK20261127-0001"
    assert ticket.status == Status.ASSIGNED and ticket.owner == "wang.fang"
    assert ticket.first_response_due == clock() + timedelta(hours=24)
    assert ticket.resolve_due == clock() + timedelta(hours=72)
    assert await store.get(ticket.number) == ticket
    keys = store.keys
    for index in (
        keys.all,
        keys.index("status", "assigned"),
        keys.index("grade", "P3"),
        keys.index("phone", PHONE),
        keys.index("owner", "wang.fang"),
        keys.index("category", "billing"),
    ):
        assert await redis.zscore(index, ticket.number) == ticket.seq
    assert await redis.zscore(keys.sla, sla_member(ticket.number, "first_response")) == (
        ticket.first_response_due.timestamp()
    )
    history = await store.history(ticket.number)
    assert [(h.action, h.actor) for h in history] == [
        ("created", "customer"),
        ("assigned", "system"),
    ]
    assert history[1].data["owner"] == "wang.fang" and history[1].data["reason"] == "round_robin"


async def test_numbers_use_the_company_date_and_a_daily_counter(store, clock) -> None:  # type: ignore[no-untyped-def]
    first = await store.create(new(clock))
    second = await store.create(new(clock))
    clock.now = datetime(2026, 11, 27, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 28th there
    next_day = await store.create(new(clock))
    assert [first.number, second.number, next_day.number] == [
        "TK20261127-0001",
        "TK20261127-0002",
        "TK20261128-0001",
    ]
    assert first.seq < second.seq < next_day.seq


async def test_a_lost_counter_never_reuses_a_number(store, redis, clock) -> None:  # type: ignore[no-untyped-def]
    first = await store.create(new(clock))
    await store.create(new(clock))
    await redis.delete(store.keys.daily("20261127"))
    third = await store.create(new(clock))
    assert third.number == "TK20261127-0003"
    assert (await store.get(first.number)).description == first.description


async def test_numbers_are_unique_across_processes(store, second_redis, policies, clock) -> None:  # type: ignore[no-untyped-def]
    other = TicketStore(second_redis, policies.sla, clock=clock)
    created = await asyncio.gather(
        *(s.create(new(clock)) for _ in range(50) for s in (store, other))
    )
    numbers = {t.number for t in created}
    assert len(numbers) == 100
    assert all(re.fullmatch(r"TK20261127-\d{4}", n) for n in numbers)
    assert {int(n[-4:]) for n in numbers} == set(range(1, 101))
    assert len((await store.list(limit=100)).items) == 100


async def test_unowned_ticket_starts_new(store, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock, owner=None))
    assert ticket.status == Status.NEW
    with pytest.raises(IllegalTransition) as exc:
        await store.transition(ticket.number, Status.ASSIGNED, actor="li.na")
    assert exc.value.field == "owner"
    assigned = await store.reassign(ticket.number, "li.na", actor="supervisor")
    assert assigned.status == Status.ASSIGNED and assigned.owner == "li.na"


async def test_full_lifecycle_sets_timestamps_and_stops_clocks(store, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    clock.advance(minutes=30)
    working = await store.transition(ticket.number, Status.IN_PROGRESS, actor="wang.fang")
    assert working.first_response_at == clock()
    assert await redis.zscore(store.keys.sla, sla_member(ticket.number, "first_response")) is None
    clock.advance(hours=2)
    resolved = await store.transition(
        ticket.number, Status.RESOLVED, actor="wang.fang", note="已退还多收电费"
    )
    assert resolved.resolved_at == clock()
    assert await redis.zcard(store.keys.sla) == 0
    closed = await store.transition(ticket.number, Status.CLOSED, actor="system")
    assert closed.closed_at == clock()
    assert await redis.zscore(store.keys.index("status", "closed"), ticket.number) is not None
    assert await redis.zscore(store.keys.index("status", "assigned"), ticket.number) is None
    history = await store.history(ticket.number)
    assert [h.data.get("to") for h in history if h.action == "status"] == [
        "in_progress",
        "resolved",
        "closed",
    ]
    assert history[3].data["note"] == "已退还多收电费" and history[3].actor == "wang.fang"


async def test_reopen_starts_a_new_resolve_clock(store, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    for status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        await store.transition(ticket.number, status, actor="wang.fang")
    clock.advance(days=2)
    reopened = await store.transition(ticket.number, Status.REOPENED, actor="return-visit")
    assert reopened.reopen_count == 1
    assert reopened.resolved_at is None and reopened.closed_at is None
    assert reopened.resolve_due == clock() + timedelta(hours=72)
    assert await redis.zscore(store.keys.sla, sla_member(ticket.number, "resolve")) == (
        reopened.resolve_due.timestamp()
    )
    back = await store.transition(ticket.number, Status.IN_PROGRESS, actor="wang.fang")
    assert back.status == Status.IN_PROGRESS


ILLEGAL = [(a, b) for a in Status for b in Status if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
async def test_illegal_transitions_are_refused(store, clock, current, target) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    path = {
        Status.NEW: [],
        Status.ASSIGNED: [],
        Status.IN_PROGRESS: [Status.IN_PROGRESS],
        Status.RESOLVED: [Status.IN_PROGRESS, Status.RESOLVED],
        Status.CLOSED: [Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED],
        Status.REOPENED: [Status.IN_PROGRESS, Status.RESOLVED, Status.REOPENED],
    }[current]
    if current == Status.NEW:
        ticket = await store.create(new(clock, owner=None))
    for status in path:
        await store.transition(ticket.number, status, actor="wang.fang")
    with pytest.raises(IllegalTransition) as exc:
        await store.transition(ticket.number, target, actor="wang.fang")
    assert exc.value.field == "status"
    assert (await store.get(ticket.number)).status == current


async def test_concurrent_changes_apply_once(store, second_redis, policies, clock) -> None:  # type: ignore[no-untyped-def]
    other = TicketStore(second_redis, policies.sla, clock=clock)
    ticket = await store.create(new(clock))
    results = await asyncio.gather(
        store.transition(ticket.number, Status.IN_PROGRESS, actor="wang.fang"),
        other.transition(ticket.number, Status.IN_PROGRESS, actor="li.na"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, IllegalTransition) for r in results) == 1
    history = await store.history(ticket.number)
    assert sum(h.action == "status" for h in history) == 1


async def test_reassign_moves_the_owner_index(store, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    moved = await store.reassign(ticket.number, "li.na", actor="supervisor", note="休假")
    assert moved.owner == "li.na" and moved.status == Status.ASSIGNED
    assert await redis.zscore(store.keys.index("owner", "wang.fang"), ticket.number) is None
    assert await redis.zscore(store.keys.index("owner", "li.na"), ticket.number) is not None
    same = await store.reassign(ticket.number, "li.na", actor="supervisor")
    assert same == moved
    entries = [h for h in await store.history(ticket.number) if h.action == "assigned"]
    assert len(entries) == 2 and entries[-1].data == {
        "from": "wang.fang",
        "owner": "li.na",
        "note": "休假",
    }


async def test_closed_tickets_cannot_be_reassigned(store, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    for status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        await store.transition(ticket.number, status, actor="wang.fang")
    with pytest.raises(IllegalTransition):
        await store.reassign(ticket.number, "li.na", actor="supervisor")


async def test_notes_and_ratings_are_history(store, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(new(clock))
    note = await store.add_note(ticket.number, "已电话联系客户", actor="wang.fang")
    assert note.action == "note" and note.data == {"text": "已电话联系客户"}
    with pytest.raises(IllegalTransition):
        await store.rate(ticket.number, 5, actor="customer")
    for status in (Status.IN_PROGRESS, Status.RESOLVED):
        await store.transition(ticket.number, status, actor="wang.fang")
    rated = await store.rate(ticket.number, 2, "太慢了", actor="customer")
    assert (rated.rating, rated.rating_comment) == (2, "太慢了")
    history = await store.history(ticket.number)
    assert history[2].id == note.id
    assert history[-1].action == "rated" and history[-1].data == {"rating": 2, "comment": "太慢了"}
    assert [h.id for h in history] == sorted(h.id for h in history)


async def test_unknown_tickets(store) -> None:  # type: ignore[no-untyped-def]
    assert await store.get("TK20200101-0001") is None
    with pytest.raises(TicketNotFound):
        await store.transition("TK20200101-0001", Status.IN_PROGRESS, actor="x")
    with pytest.raises(TicketNotFound):
        await store.add_note("TK20200101-0001", "hi", actor="x")
    assert await store.history("TK20200101-0001") == []


async def test_list_pages_are_stable_and_filters_combine(store, clock) -> None:  # type: ignore[no-untyped-def]
    created = []
    for i in range(25):
        created.append(
            await store.create(
                new(
                    clock,
                    phone=PHONE if i % 2 else OTHER_PHONE,
                    grade="P2" if i % 3 == 0 else "P3",
                    category="billing" if i < 20 else "metering",
                )
            )
        )
    newest_first = [t.number for t in reversed(created)]
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = await store.list(limit=10, cursor=cursor)
        seen += [t.number for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        # A ticket created between pages must not shift later pages.
        await store.create(new(clock))
    assert seen == newest_first and cursor is None

    flt = TicketFilter(phone=PHONE, grade="P2", category="billing")
    expected = [
        t.number
        for t in reversed(created)
        if t.phone == PHONE and t.grade == "P2" and t.category == "billing"
    ]
    page = await store.list(flt, limit=2)
    rest = await store.list(flt, limit=100, cursor=page.next_cursor)
    assert [t.number for t in page.items + rest.items] == expected and rest.next_cursor is None
    assert (await store.list(TicketFilter(owner="nobody"))).items == []
    assert len((await store.list(TicketFilter(status=Status.ASSIGNED), limit=100)).items) == 27


async def test_open_tickets_and_recent_complaints_per_phone(store, clock) -> None:  # type: ignore[no-untyped-def]
    old = await store.create(new(clock))
    clock.advance(days=31)
    recent = await store.create(new(clock))
    await store.create(new(clock, phone=OTHER_PHONE))
    for status in (Status.IN_PROGRESS, Status.RESOLVED):
        await store.transition(recent.number, status, actor="wang.fang")
    assert await store.count_recent_complaints(PHONE, days=30) == 1
    assert await store.count_recent_complaints(PHONE, days=40) == 2
    assert [t.number for t in await store.open_tickets_for_phone(PHONE)] == [old.number]


async def test_durability_check_warns_unless_fsync_always(store, redis) -> None:  # type: ignore[no-untyped-def]
    # The test server runs with appendfsync everysec (speed); production uses always.
    original = (await redis.config_get("appendfsync"))["appendfsync"]
    try:
        await redis.config_set("appendfsync", "everysec")
        warnings = await store.check_durability()
        assert len(warnings) == 1 and "appendfsync" in warnings[0]
        await redis.config_set("appendfsync", "always")
        assert await store.check_durability() == []
    finally:
        await redis.config_set("appendfsync", original)


async def test_concurrent_creates_with_one_key_make_one_ticket(
    store: TicketStore,
    second_redis,
    policies,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    # Two processes (a crashed turn's re-run racing a slow first run): one script wins.
    other = TicketStore(second_redis, policies.sla, grades=policies.grader.grades, clock=clock)
    results = await asyncio.gather(
        *(s.create(new(clock), idempotency_key="complaint:k1") for s in [store, other] * 5)
    )
    assert len({t.number for t in results}) == 1
    assert len((await store.list(limit=100)).items) == 1
    assert len(await store.history(results[0].number)) == 2  # created + assigned, once
    ttl = await store._r.ttl(store.keys.idempotency("complaint:k1"))
    assert 0 < ttl <= 7 * 24 * 3600


async def test_conversation_and_verification_are_stored(store: TicketStore, redis, clock) -> None:  # type: ignore[no-untyped-def]
    ticket = await store.create(
        new(clock, channel="web", conversation_id="web:" + "c" * 32, phone_verified=False)
    )
    raw = await redis.hgetall(store.keys.ticket(ticket.number))
    assert raw["phone_verified"] == "0" and raw["conversation_id"] == "web:" + "c" * 32
    assert await store.get(ticket.number) == ticket
    assert [t.number for t in await store.tickets_of_conversation("web:" + "c" * 32)] == [
        ticket.number
    ]
    assert ticket.to_json()["phone_verified"] is False


async def test_tickets_from_before_the_flag_are_verified_only_if_filed_by_sms(
    store: TicketStore,
    redis,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    sms = await store.create(new(clock, channel="sms"))
    web = await store.create(new(clock, channel="web"))
    for ticket in (sms, web):
        await redis.hdel(store.keys.ticket(ticket.number), "phone_verified")
    assert (await store.get(sms.number)).phone_verified is True
    assert (await store.get(web.number)).phone_verified is False
    assert [t.number for t in await store.open_tickets_for_phone(PHONE)] == [sms.number]
