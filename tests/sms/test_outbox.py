"""The durable outbox: one enqueue() for every SMS, idempotent, split and counted."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from bot.sms import outbox
from tests.support.sms import CUSTOMER


async def test_enqueue_records_segments_encoding_and_queues_it(redis: aioredis.Redis) -> None:
    [message_id] = await outbox.enqueue(
        redis,
        "138-0013-8000",
        "您的工单TK20261127-0042已受理。",
        kind="notice",
        idempotency_key="ticket:TK20261127-0042:accepted",
        conversation_id="sms:+8613800138000",
    )
    record = await outbox.get(redis, message_id)
    assert record["to"] == CUSTOMER
    assert record["kind"] == "notice" and record["urgent"] == "0"
    assert record["status"] == "pending" and record["attempts"] == "0"
    assert (record["encoding"], record["segments"]) == ("UCS-2", "1")
    assert float(record["created_at"]) <= time.time()
    [(_entry, fields)] = await redis.xrange(outbox.STREAM)
    assert fields == {"id": message_id}
    assert [e["event"] for e in await outbox.history(redis, message_id)] == ["enqueued"]


async def test_same_idempotency_key_enqueues_once(redis: aioredis.Redis) -> None:
    first = await outbox.enqueue(
        redis, CUSTOMER, "回访：请为服务打分", kind="survey", idempotency_key="survey:TK1"
    )
    second = await outbox.enqueue(
        redis, CUSTOMER, "回访：请为服务打分", kind="survey", idempotency_key="survey:TK1"
    )
    assert first == second
    assert await redis.xlen(outbox.STREAM) == 1


async def test_long_body_becomes_parts_each_within_1600(redis: aioredis.Redis) -> None:
    body = "Your bill is ready. " * 120  # 2,400 characters
    ids = await outbox.enqueue(redis, CUSTOMER, body, kind="notice", idempotency_key="bill:7")
    assert len(ids) == 2
    records = [await outbox.get(redis, i) for i in ids]
    assert [r["part"] for r in records] == ["1", "2"] and {r["parts"] for r in records} == {"2"}
    assert all(len(r["body"]) <= 1600 for r in records)
    assert records[0]["encoding"] == "GSM-7" and int(records[0]["segments"]) == 11
    assert (
        await outbox.enqueue(redis, CUSTOMER, body, kind="notice", idempotency_key="bill:7") == ids
    )


async def test_not_before_defers_until_due(redis: aioredis.Redis) -> None:
    [message_id] = await outbox.enqueue(
        redis, CUSTOMER, "明早提醒", kind="reminder", not_before=time.time() + 3600
    )
    assert await redis.xlen(outbox.STREAM) == 0
    assert await outbox.release_due(redis) == 0
    assert await outbox.release_due(redis, now=time.time() + 3601) == 1
    [(_entry, fields)] = await redis.xrange(outbox.STREAM)
    assert fields["id"] == message_id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to": "12", "body": "hi"}, "to"),
        ({"to": CUSTOMER, "body": "   "}, "body"),
        ({"to": CUSTOMER, "body": "hi", "kind": "spam"}, "kind"),
    ],
)
async def test_bad_arguments_name_the_field(
    redis: aioredis.Redis, kwargs: dict, field: str
) -> None:
    with pytest.raises(outbox.OutboxError) as error:
        await outbox.enqueue(redis, **kwargs)
    assert error.value.field == field
    assert await redis.dbsize() == 0


async def test_messages_survive_a_new_connection(redis: aioredis.Redis, sms_redis_url: str) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "durable", kind="agent")
    other = aioredis.Redis.from_url(sms_redis_url, decode_responses=True)
    try:
        assert (await outbox.get(other, message_id))["body"] == "durable"
        assert [m["id"] for m in await outbox.recent(other)] == [message_id]
    finally:
        await other.close()


async def test_claim_is_exclusive_and_finished_messages_are_not_claimed_again(
    redis: aioredis.Redis,
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="agent")
    state, message = await outbox.claim(redis, message_id)
    assert state == "claimed" and message.status == "sending"
    state_again, _ = await outbox.claim(redis, message_id)
    assert state_again == "resume"  # someone holds it (a crashed worker, as far as we know)
    await outbox.finish(redis, message_id, None, status="failed", error="test")
    assert await outbox.claim(redis, message_id) == ("done", None)
    assert await outbox.claim(redis, "OBmissing") == ("missing", None)


async def test_status_callbacks_never_move_backwards(redis: aioredis.Redis) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="agent")
    sid = "SM" + "0f" * 16
    await outbox.mark_sent(redis, message_id, None, twilio_sid=sid, twilio_status="queued")
    for status in ("delivered", "sent", "queued"):
        assert await outbox.record_status(redis, message_id, twilio_sid=sid, twilio_status=status)
    record = await outbox.get(redis, message_id)
    assert (record["status"], record["twilio_status"]) == ("delivered", "delivered")
    assert not await outbox.record_status(
        redis, message_id, twilio_sid="SM" + "00" * 16, twilio_status="failed"
    )  # another message's SID
    assert not await outbox.record_status(
        redis, None, twilio_sid="SM" + "99" * 16, twilio_status="sent"
    )
