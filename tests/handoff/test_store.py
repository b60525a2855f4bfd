"""The handoff state machine and queue, on the real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.handoff.errors import HandoffError
from bot.handoff.store import (
    ACTIVE,
    AGENT,
    BOT,
    CHANGES,
    CLOSED,
    PENDING_SYNC,
    QUEUE,
    QUEUED,
    HandoffStore,
)
from bot.phones import mask
from tests.support.handoff import OPEN_TIME, policy


@pytest.fixture
def store(redis: aioredis.Redis) -> HandoffStore:
    return HandoffStore(redis, policy(first_claim_window_s=120, handle_time_samples=3))


async def enqueue(store: HandoffStore, conversation: str, now: float, **fields) -> bool:  # type: ignore[no-untyped-def]
    defaults = {"channel": "socketio", "language": "zh", "grade": None, "reason": "human_handoff"}
    return await store.enqueue(conversation, now=now, **{**defaults, **fields})


async def test_full_life_cycle_bot_queued_agent_bot(store: HandoffStore) -> None:
    assert await enqueue(store, "c1", OPEN_TIME, phone="+8613800138000")
    c = await store.get("c1")
    assert c is not None and c.state == QUEUED and c.grade == "P3" and c.episode == 1
    assert c.phone == "+8613800138000" and c.enqueued_at == pytest.approx(OPEN_TIME)
    assert await store.position("c1") == 1

    await store.claim("c1", "wang.fang", OPEN_TIME + 30)
    c = await store.get("c1")
    assert c.state == AGENT and c.agent == "wang.fang"
    assert await store.position("c1") is None
    assert await store.redis.zscore(ACTIVE, "c1") is not None

    released = await store.release(
        "c1", target=BOT, actor="wang.fang", owner="wang.fang", now=OPEN_TIME + 330
    )
    assert released.previous_state == AGENT
    assert released.handle_time_s == pytest.approx(300)
    assert released.conversation.state == BOT and released.conversation.sync_pending
    assert await store.redis.zcard(ACTIVE) == 0
    assert await store.pending_sync(OPEN_TIME + 400) == ["c1"]
    await store.mark_synced("c1", released.conversation.episode)
    assert await store.pending_sync(OPEN_TIME + 400) == []
    assert not (await store.get("c1")).sync_pending

    changes = [f["change"] for _, f in await store.redis.xrange(CHANGES)]
    assert changes == ["queued", "claimed", "handed_back"]

    # A later request starts a new episode.
    assert await enqueue(store, "c1", OPEN_TIME + 1000)
    assert (await store.get("c1")).episode == 2


async def test_enqueue_is_idempotent_while_waiting_or_with_an_agent(store: HandoffStore) -> None:
    assert await enqueue(store, "c1", OPEN_TIME)
    assert not await enqueue(store, "c1", OPEN_TIME + 60, grade="P1")
    c = await store.get("c1")
    assert c.grade == "P3" and c.enqueued_at == pytest.approx(OPEN_TIME)
    assert await store.redis.zcard(QUEUE) == 1
    await store.claim("c1", "a", OPEN_TIME + 61)
    assert not await enqueue(store, "c1", OPEN_TIME + 62)
    assert (await store.get("c1")).state == AGENT


async def test_illegal_transitions_are_refused(store: HandoffStore) -> None:
    with pytest.raises(HandoffError) as exc:
        await store.claim("nobody", "a", OPEN_TIME)
    assert exc.value.code == "not_queued"
    with pytest.raises(HandoffError) as exc:
        await store.release("nobody", target=BOT, actor="a", owner="a", now=OPEN_TIME)
    assert exc.value.code == "not_active"

    await enqueue(store, "c1", OPEN_TIME)
    with pytest.raises(HandoffError) as exc:  # hand back needs an agent first
        await store.release("c1", target=BOT, actor="a", owner="a", now=OPEN_TIME)
    assert exc.value.code == "not_active"

    await store.claim("c1", "a", OPEN_TIME + 1)
    with pytest.raises(HandoffError) as exc:
        await store.claim("c1", "b", OPEN_TIME + 2)
    assert exc.value.code == "taken"
    with pytest.raises(HandoffError) as exc:  # only the holder (or a supervisor) releases
        await store.release("c1", target=CLOSED, actor="b", owner="b", now=OPEN_TIME + 3)
    assert exc.value.code == "forbidden"
    closed = await store.release("c1", target=CLOSED, actor="boss", owner=None, now=OPEN_TIME + 4)
    assert closed.conversation.state == CLOSED and closed.conversation.ended_by == "boss"
    with pytest.raises(HandoffError):
        await store.release("c1", target=CLOSED, actor="a", owner=None, now=OPEN_TIME + 5)


async def test_a_waiting_conversation_can_be_closed_without_a_handle_time(
    store: HandoffStore,
) -> None:
    await enqueue(store, "c1", OPEN_TIME)
    released = await store.release("c1", target=CLOSED, actor="a", owner="a", now=OPEN_TIME + 9)
    assert released.previous_state == QUEUED and released.handle_time_s is None
    assert await store.redis.zcard(QUEUE) == 0
    assert await store.average_handle_time() == store.policy.default_handle_time_s


async def test_queue_order_is_priority_then_waiting_time(store: HandoffStore) -> None:
    await enqueue(store, "p3-early", OPEN_TIME, grade="P3")
    await enqueue(store, "p4-earliest", OPEN_TIME - 600, grade="P4")
    await enqueue(store, "p1-late", OPEN_TIME + 300, grade="P1")
    await enqueue(store, "p3-late", OPEN_TIME + 200, grade="P3")
    await enqueue(store, "p1-early", OPEN_TIME + 100, grade="P1")
    await enqueue(store, "ungraded", OPEN_TIME + 50, grade="bogus")  # -> default P3
    order = [c.id for c in await store.queue()]
    assert order == ["p1-early", "p1-late", "p3-early", "ungraded", "p3-late", "p4-earliest"]
    assert await store.position("p1-late") == 2
    assert await store.position("p4-earliest") == 6
    # Claiming the head moves everybody up one place.
    assert await store.claim_next("a", OPEN_TIME + 400) == "p1-early"
    assert await store.position("p1-late") == 1


async def test_exactly_one_of_two_concurrent_claims_wins(
    store: HandoffStore, second_redis: aioredis.Redis
) -> None:
    other = HandoffStore(second_redis, store.policy)  # another process's connection
    for round_ in range(25):
        conversation = f"race-{round_}"
        await enqueue(store, conversation, OPEN_TIME + round_)
        results = await asyncio.gather(
            store.claim(conversation, "alice", OPEN_TIME + 100),
            other.claim(conversation, "bob", OPEN_TIME + 100),
            return_exceptions=True,
        )
        winners = [r for r in results if r is None]
        losers = [r for r in results if isinstance(r, HandoffError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].code == "taken"
        holder = (await store.get(conversation)).agent
        assert holder == ("alice" if results[0] is None else "bob")
    assert await store.redis.zcard(QUEUE) == 0
    assert await store.redis.zcard(ACTIVE) == 25


async def test_claim_next_never_hands_one_conversation_to_two_agents(
    store: HandoffStore, second_redis: aioredis.Redis
) -> None:
    other = HandoffStore(second_redis, store.policy)
    for i in range(30):
        await enqueue(store, f"c{i}", OPEN_TIME + i)

    async def drain(s: HandoffStore, agent: str) -> list[str]:
        got = []
        while (taken := await s.claim_next(agent, OPEN_TIME + 100)) is not None:
            got.append(taken)
        return got

    results = await asyncio.gather(
        *(drain(s, f"agent{i}") for i, s in enumerate([store, other] * 3))
    )
    taken = [c for batch in results for c in batch]
    assert sorted(taken) == sorted(f"c{i}" for i in range(30))  # none lost, none twice
    assert await store.claim_next("late", OPEN_TIME + 100) is None


async def test_ticket_owner_has_first_claim_for_the_window(store: HandoffStore) -> None:
    await enqueue(
        store,
        "c1",
        OPEN_TIME,
        preferred_agent="wang.fang",
        preferred_until=OPEN_TIME + 120,
    )
    await enqueue(store, "c2", OPEN_TIME + 1)
    c1 = await store.get("c1")
    assert c1.reserved_for(OPEN_TIME + 60) == "wang.fang"
    with pytest.raises(HandoffError) as exc:
        await store.claim("c1", "li.na", OPEN_TIME + 60)
    assert exc.value.code == "reserved"
    # Take-next skips what is reserved for someone else...
    assert await store.claim_next("li.na", OPEN_TIME + 60) == "c2"
    # ...but the owner may take it at once,
    await enqueue(store, "c3", OPEN_TIME + 2, preferred_agent="wang.fang",
                  preferred_until=OPEN_TIME + 120)  # fmt: skip
    await store.claim("c3", "wang.fang", OPEN_TIME + 61)
    # and after the window anyone may.
    assert c1.reserved_for(OPEN_TIME + 121) is None
    await store.claim("c1", "li.na", OPEN_TIME + 121)
    assert (await store.get("c1")).agent == "li.na"


async def test_handle_time_is_a_rolling_average_of_recent_conversations(
    store: HandoffStore,
) -> None:
    assert await store.average_handle_time() == store.policy.default_handle_time_s
    for i, minutes in enumerate([2, 4, 6, 100]):  # samples = 3: the first one drops out
        conversation = f"c{i}"
        await enqueue(store, conversation, OPEN_TIME)
        await store.claim(conversation, "a", OPEN_TIME)
        await store.release(
            conversation, target=BOT, actor="a", owner="a", now=OPEN_TIME + minutes * 60
        )
    # 100 min is capped at max_sample_s (60 min): (4 + 6 + 60) / 3 minutes.
    assert await store.average_handle_time() == pytest.approx((4 + 6 + 60) * 60 / 3)


async def test_customer_messages_update_only_live_handoffs(store: HandoffStore) -> None:
    assert not await store.record_customer_message("c1", "hi", OPEN_TIME)
    await enqueue(store, "c1", OPEN_TIME)
    assert await store.record_customer_message("c1", "停电了" * 100, OPEN_TIME + 5)
    assert not await store.record_customer_message("c1", "older", OPEN_TIME + 1)
    c = await store.get("c1")
    assert c.last_text == ("停电了" * 100)[:200] and c.last_customer_at == OPEN_TIME + 5


async def test_notes_and_ticket_links_are_recorded(store: HandoffStore) -> None:
    await enqueue(store, "c1", OPEN_TIME)
    await store.add_note("c1", "wang.fang", "<b>客户很着急</b>", now=OPEN_TIME + 1)
    assert await store.notes("c1") == [
        {"at": OPEN_TIME + 1, "author": "wang.fang", "text": "<b>客户很着急</b>"}
    ]
    assert await store.set_ticket("c1", "TK20261125-0001", "wang.fang")
    assert (await store.get("c1")).ticket_id == "TK20261125-0001"
    assert not await store.set_ticket("unknown", "TK20261125-0001", "wang.fang")
    changes = [f["change"] for _, f in await store.redis.xrange(CHANGES)]
    assert changes == ["queued", "note", "ticket"]


async def test_conversation_json_masks_the_phone_unless_asked(store: HandoffStore) -> None:
    await enqueue(store, "c1", OPEN_TIME, phone="+8613800138000")
    c = await store.get("c1")
    listed = c.to_json(OPEN_TIME + 90)
    assert listed["phone"] is None and listed["phone_masked"] == mask("+8613800138000")
    assert listed["waiting_s"] == pytest.approx(90)
    assert c.to_json(OPEN_TIME, full_phone=True)["phone"] == "+8613800138000"
    assert await store.redis.zscore(PENDING_SYNC, "c1") is None
