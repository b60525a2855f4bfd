from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from bot.outages.errors import IllegalTransition, InvalidField, OutageNotFound
from bot.outages.registry import CHANGES, PREFIX, OutageRegistry
from tests.support.outages import START, FakeClock, outage_fields, publish


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(redis: aioredis.Redis, clock: FakeClock) -> OutageRegistry:
    return OutageRegistry(redis, clock=clock)


async def changes(redis: aioredis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in await redis.xrange(CHANGES)]


async def test_publish_stores_the_outage_and_its_change_together(
    registry: OutageRegistry, redis: aioredis.Redis
) -> None:
    outage = await publish(registry)
    assert outage.id == "OG20261201-0001"
    assert outage.status == "announced" and outage.revision == 1
    assert outage.history == [
        {
            "at": "2026-12-01T02:00:00Z",
            "actor": "boss",
            "change": "published",
            "from": None,
            "to": "announced",
        }
    ]
    stored = await registry.get(outage.id)
    assert stored is not None and stored.to_json() == outage.to_json()
    assert stored.covers("chaoyang") and not stored.covers("haidian")
    assert await changes(redis) == [
        {
            "outage_id": outage.id,
            "change": "published",
            "revision": "1",
            "at": repr(START.timestamp()),
        }
    ]
    second = await publish(registry, areas=["haidian", "xicheng", "haidian"])
    assert second.id == "OG20261201-0002"
    assert second.areas == ["haidian", "xicheng"]  # duplicates dropped, order kept


async def test_ids_are_unique_across_processes(
    redis: aioredis.Redis, second_redis: aioredis.Redis, clock: FakeClock
) -> None:
    one, two = OutageRegistry(redis, clock=clock), OutageRegistry(second_redis, clock=clock)
    made = await asyncio.gather(*(publish(r) for r in [one, two] * 10))
    ids = {o.id for o in made}
    assert len(ids) == 20
    assert ids == {f"OG20261201-{n:04d}" for n in range(1, 21)}


async def test_a_lost_day_counter_never_reuses_an_id(
    registry: OutageRegistry, redis: aioredis.Redis
) -> None:
    first = await publish(registry)
    await redis.delete(f"{PREFIX}:counter:20261201")
    second = await publish(registry)
    assert second.id != first.id and second.id == "OG20261201-0002"


async def test_the_id_uses_the_operators_day(registry: OutageRegistry, clock: FakeClock) -> None:
    clock.now = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 2nd in Shanghai
    assert (await publish(registry)).id == "OG20261202-0001"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"areas": ["atlantis"]}, "areas"),
        ({"areas": []}, "areas"),
        ({"areas": "chaoyang"}, "areas"),
        ({"kind": "scheduled"}, "kind"),
        ({"eta": START}, "eta"),  # before the start
        ({"eta": START + timedelta(days=1)}, "eta"),  # equal to the start
        ({"starts_at": datetime(2026, 12, 2, 10, 0)}, "starts_at"),  # no time zone
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2026-12-02T10:00:00"}, "starts_at"),  # no offset
        ({"starts_at": "2026-02-30T10:00:00Z"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),  # out of range in UTC
        ({"cause": "  "}, "cause"),
        ({"cause": "x" * 201}, "cause"),
        ({"text": {"zh": "停电"}}, "text"),
        ({"text": {"zh": "", "en": "Outage"}}, "text.zh"),
        ({"text": {"zh": "停电", "en": "x" * 501}}, "text.en"),
        ({"text": {"zh": "停电", "en": "Outage", "fr": "Panne"}}, "text"),
        ({"text": {"zh": "\ud800", "en": "Outage"}}, "text.zh"),
        ({"actor": "not a user id"}, "actor"),
    ],
)
async def test_bad_fields_are_refused_naming_the_field(
    registry: OutageRegistry, redis: aioredis.Redis, override: dict, field: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        await publish(registry, **override)
    assert caught.value.field == field
    assert await redis.xlen(CHANGES) == 0  # nothing broadcast for a refused outage


async def test_text_times_with_offsets_are_stored_in_utc(registry: OutageRegistry) -> None:
    outage = await publish(
        registry, starts_at="2026-12-02T10:00:00+08:00", eta="2026-12-02t14:30:00.5z"
    )
    assert outage.to_json()["starts_at"] == "2026-12-02T02:00:00Z"
    assert outage.to_json()["eta"] == "2026-12-02T14:30:00Z"
    fault = await publish(registry, kind="fault", eta=None)
    assert fault.eta is None


async def test_each_change_bumps_the_revision_and_is_streamed(
    registry: OutageRegistry, redis: aioredis.Redis, clock: FakeClock
) -> None:
    outage = await publish(registry)
    clock.advance(minutes=5)
    new_eta = START + timedelta(days=1, hours=6)
    changed = await registry.update(outage.id, actor="boss", eta=new_eta)
    assert changed.revision == 2 and changed.eta == new_eta
    assert changed.history[-1] == {
        "at": "2026-12-01T02:05:00Z",
        "actor": "boss",
        "change": "eta_changed",
        "from": "2026-12-02T06:00:00Z",
        "to": "2026-12-02T08:00:00Z",
    }
    # The same value again (a retried request) changes nothing and broadcasts nothing.
    again = await registry.update(outage.id, actor="boss", eta=new_eta.isoformat())
    assert again.revision == 2
    # Several changes at once: one revision and one stream entry each (text, eta, status).
    done = await registry.update(
        outage.id,
        actor="lead",
        text={"en": "Planned outage in Chaoyang, now until 18:00."},
        eta=START + timedelta(days=1, hours=8),
        status="in_progress",
    )
    assert done.revision == 5 and done.status == "in_progress"
    assert done.text["zh"] == outage.text["zh"]  # left out: kept
    stream = await changes(redis)
    assert [(c["change"], c["revision"]) for c in stream] == [
        ("published", "1"),
        ("eta_changed", "2"),
        ("text_changed", "3"),
        ("eta_changed", "4"),
        ("in_progress", "5"),
    ]
    assert {c["outage_id"] for c in stream} == {outage.id}
    assert [h["change"] for h in done.history] == [
        "published", "eta_changed", "text_changed", "eta_changed", "in_progress",
    ]  # fmt: skip
    assert done.history[-1]["from"] == "announced" and done.history[-1]["to"] == "in_progress"
    stored = await registry.get(outage.id)
    assert stored is not None and stored.to_json() == done.to_json()


async def test_status_transitions_and_final_states(
    registry: OutageRegistry, redis: aioredis.Redis
) -> None:
    outage = await publish(registry)
    in_progress = await registry.update(outage.id, actor="boss", status="in_progress")
    with pytest.raises(IllegalTransition):
        await registry.update(outage.id, actor="boss", status="cancelled")
    with pytest.raises(IllegalTransition):
        await registry.update(outage.id, actor="boss", status="announced")
    restored = await registry.update(outage.id, actor="boss", status="restored")
    assert restored.revision == in_progress.revision + 1
    # Restored is final: no ETA, text or status change any more; repeating it is a no-op.
    with pytest.raises(IllegalTransition):
        await registry.update(outage.id, actor="boss", eta=START + timedelta(days=3))
    with pytest.raises(IllegalTransition):
        await registry.update(outage.id, actor="boss", text={"zh": "又停了"})
    assert (await registry.update(outage.id, actor="boss", status="restored")).revision == 3
    cancelled = await registry.update(
        (await publish(registry)).id, actor="boss", status="cancelled"
    )
    with pytest.raises(IllegalTransition):
        await registry.update(cancelled.id, actor="boss", status="in_progress")
    with pytest.raises(InvalidField) as caught:
        await registry.update(cancelled.id, actor="boss", status="gone")
    assert caught.value.field == "status"
    assert [c["change"] for c in await changes(redis)] == [
        "published", "in_progress", "restored", "published", "cancelled",
    ]  # fmt: skip


async def test_update_checks_eta_against_the_start(registry: OutageRegistry) -> None:
    outage = await publish(registry)
    with pytest.raises(InvalidField) as caught:
        await registry.update(outage.id, actor="boss", eta=START)
    assert caught.value.field == "eta"
    cleared = await registry.update(outage.id, actor="boss", eta=None)
    assert cleared.eta is None and cleared.history[-1]["to"] is None


async def test_unknown_outages(registry: OutageRegistry) -> None:
    assert await registry.get("OG20261201-0099") is None
    assert await registry.get("../../etc") is None
    with pytest.raises(OutageNotFound):
        await registry.update("OG20261201-0099", actor="boss", status="restored")


async def test_concurrent_changes_from_two_processes_all_apply(
    redis: aioredis.Redis, second_redis: aioredis.Redis, clock: FakeClock
) -> None:
    one, two = OutageRegistry(redis, clock=clock), OutageRegistry(second_redis, clock=clock)
    outage = await publish(one)
    etas = [START + timedelta(days=1, hours=h) for h in range(5, 15)]
    await asyncio.gather(
        *(
            (one if i % 2 else two).update(outage.id, actor="boss", eta=eta)
            for i, eta in enumerate(etas)
        )
    )
    final = await one.require(outage.id)
    stream = await changes(redis)
    revisions = [int(c["revision"]) for c in stream]
    assert revisions == list(range(1, final.revision + 1))  # no revision lost or repeated
    assert len(final.history) == final.revision


async def test_a_stale_change_writes_neither_record_nor_stream(
    registry: OutageRegistry, redis: aioredis.Redis
) -> None:
    outage = await publish(registry)
    result = await registry._update(  # the script, with a revision someone else moved on
        keys=[registry.key(outage.id), CHANGES],
        args=[PREFIX, outage.id, "7", json.dumps({}), "announced", "restored", "[]",
              json.dumps(["restored"]), "0", 1000, "0"],
    )  # fmt: skip
    assert result == 0
    assert await redis.xlen(CHANGES) == 1
    stored = await registry.require(outage.id)
    assert stored.status == "announced" and stored.revision == 1


async def test_lists_and_area_lookups(registry: OutageRegistry, clock: FakeClock) -> None:
    now = START
    planned = await publish(registry, areas=["chaoyang", "haidian"])  # tomorrow
    fault = await publish(
        registry, kind="fault", starts_at=now - timedelta(minutes=30), eta=None, areas=["chaoyang"]
    )
    soon = await publish(registry, starts_at=now + timedelta(minutes=10), eta=None)
    far = await publish(registry, starts_at=now + timedelta(days=9), eta=None)
    other = await publish(registry, areas=["tongzhou"], starts_at=now - timedelta(hours=1))
    assert [o.id for o in await registry.list()] == [
        o.id for o in (other, far, soon, fault, planned)
    ]
    assert [o.id for o in await registry.list(area="haidian")] == [planned.id]
    assert [o.id for o in await registry.list(area="chaoyang", limit=2)] == [far.id, soon.id]
    # Started, or starting within minutes: a customer without power is most likely in it.
    assert [o.id for o in await registry.active_for_area("chaoyang", now)] == [fault.id, soon.id]
    assert await registry.active_for_area("dongcheng", now) == []
    # Planned within 7 days (not the fault, not the one in 9 days).
    assert [o.id for o in await registry.planned_for_area("chaoyang", now)] == [
        soon.id,
        planned.id,
    ]
    assert [o.id for o in await registry.planned_for_area("chaoyang", now, days=10)] == [
        soon.id,
        planned.id,
        far.id,
    ]
    # Over: out of the area's open set, listed under its new status.
    await registry.update(fault.id, actor="boss", status="restored")
    await registry.update(soon.id, actor="boss", status="cancelled")
    assert await registry.active_for_area("chaoyang", now) == []
    assert [o.id for o in await registry.planned_for_area("chaoyang", now)] == [planned.id]
    assert [o.id for o in await registry.list(status="restored")] == [fault.id]
    assert [o.id for o in await registry.list(status="announced", area="chaoyang")] == [
        far.id,
        planned.id,
    ]
    assert await registry.list(status="nonsense") == []
    # A planned outage past its ETA is no longer "planned" for customers.
    later = now + timedelta(days=1, hours=5)
    assert [o.id for o in await registry.planned_for_area("haidian", later)] == []
    assert outage_fields()["areas"] == ["chaoyang"]
