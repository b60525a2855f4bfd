"""bot/locks.py: Rasa's conversation lock store, atomic across processes and live after a
crash, against a real Redis (and, for comparison, Rasa's own RedisLockStore)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import redis
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.locks import KefuLockStore
from tests.conftest import RedisServer

LOCK_DB = 13


@pytest.fixture
def endpoint(redis_server: RedisServer) -> Iterator[EndpointConfig]:
    redis.Redis.from_url(redis_server.db_url(LOCK_DB)).flushdb()
    yield EndpointConfig(
        url="127.0.0.1",
        type="bot.locks.KefuLockStore",
        port=redis_server.port,
        db=LOCK_DB,
        password=redis_server.password,
        key_prefix="kefu",
    )


def stores(endpoint: EndpointConfig, count: int) -> list[KefuLockStore]:
    """Separate stores, each with its own connection: separate Rasa processes."""
    return [KefuLockStore(endpoint_config=endpoint) for _ in range(count)]


def test_rasa_builds_it_from_endpoints_yml(endpoint: EndpointConfig) -> None:
    store = LockStore.create(endpoint)
    assert isinstance(store, KefuLockStore)
    assert store.key_prefix == "kefu:lock:"


def test_tickets_issued_at_once_by_many_processes_are_all_different(
    endpoint: EndpointConfig,
) -> None:
    many = stores(endpoint, 8)
    numbers: list[int] = []
    start = threading.Barrier(len(many))

    def issue(store: KefuLockStore) -> None:
        start.wait()
        for _ in range(25):
            numbers.append(store.issue_ticket("sms:+8613800000001", 30))

    threads = [threading.Thread(target=issue, args=(s,)) for s in many]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(200))
    lock = many[0].get_lock("sms:+8613800000001")
    assert lock is not None and [t.number for t in lock.tickets] == list(range(200))
    ttl = redis.Redis.from_url(
        f"redis://:{endpoint.kwargs['password']}@127.0.0.1:{endpoint.kwargs['port']}/{LOCK_DB}"
    ).ttl("kefu:lock:sms:+8613800000001")
    assert 30 < ttl <= 30 + 61  # the key goes once its last ticket has


async def test_turns_of_one_conversation_run_one_after_another(
    endpoint: EndpointConfig,
) -> None:
    a, b = stores(endpoint, 2)
    running: list[str] = []
    overlaps = 0

    async def turn(store: KefuLockStore, name: str) -> None:
        nonlocal overlaps
        async with store.lock("web:x", lock_lifetime=30):
            overlaps += bool(running)
            running.append(name)
            await asyncio.sleep(0.05)
            running.remove(name)

    await asyncio.gather(*(turn(a if i % 2 else b, f"t{i}") for i in range(10)))
    assert overlaps == 0
    assert a.get_lock("web:x") is None  # the last ticket returned: the key is gone


async def test_a_crashed_turn_and_its_waiter_expiring_together_never_strand_the_next(
    endpoint: EndpointConfig,
) -> None:
    """A Rasa killed mid-turn left ticket 0; the next message's ticket 1 waited, and both
    expired before the waiter looked again. Rasa's store then serves no number for good."""
    kefu = stores(endpoint, 1)[0]
    dead = kefu.issue_ticket("sms:+8613800000002", 0.2)  # the killed Rasa's turn
    waiter = kefu.issue_ticket("sms:+8613800000002", 0.3)
    await asyncio.sleep(0.4)
    rasa = RedisLockStore(
        host="127.0.0.1",
        port=endpoint.kwargs["port"],
        db=LOCK_DB,
        password=endpoint.kwargs["password"],
        key_prefix="kefu",
    )
    rasa.update_lock("sms:+8613800000002")  # both expired in one polling interval
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(rasa._acquire_lock("sms:+8613800000002", waiter, 0.05), 1.0)
    lock = await asyncio.wait_for(kefu._acquire_lock("sms:+8613800000002", waiter, 1), 1.0)
    assert lock.conversation_id == "sms:+8613800000002"
    assert dead != waiter


async def test_a_live_earlier_ticket_still_holds_the_waiter(endpoint: EndpointConfig) -> None:
    kefu = stores(endpoint, 1)[0]
    kefu.issue_ticket("web:y", 30)
    second = kefu.issue_ticket("web:y", 30)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(kefu._acquire_lock("web:y", second, 1), 0.5)
    kefu.cleanup("web:y", 0)
    lock = await asyncio.wait_for(kefu._acquire_lock("web:y", second, 1), 1.0)
    assert [t.number for t in lock.tickets] == [second]


async def test_a_turn_nobody_is_ahead_of_never_reads_the_lock_back(
    endpoint: EndpointConfig,
) -> None:
    """Two round trips (take the ticket, return it) for a free conversation; a turn with a
    live ticket ahead waits, as Rasa's, until that ticket is returned."""
    kefu = stores(endpoint, 1)[0]
    reads: list[str] = []
    get_lock = kefu.get_lock
    kefu.get_lock = lambda conversation_id: (
        reads.append(conversation_id)
        or get_lock(  # type: ignore[method-assign]
            conversation_id
        )
    )
    async with kefu.lock("web:z", lock_lifetime=30) as held:
        assert [t.number for t in held.tickets] == [0]
        assert reads == []
        order: list[str] = []

        async def second() -> None:
            async with kefu.lock("web:z", lock_lifetime=30) as lock:
                order.append("second")
                assert [t.number for t in lock.tickets] == [1]

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert order == [] and reads  # it waits, reading the lock as it polls
        order.append("first done")
    await asyncio.wait_for(waiting, 2)
    assert order == ["first done", "second"]
    assert kefu.get_lock("web:z") is None
