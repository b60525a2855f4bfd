"""Opted-out numbers: answers to the customer stay exempt only while they answer something
recent; anything else is skipped with reason `opted_out`. And records are kept only as long
as configured (SMS_OUTBOX_RETENTION_S, SMS_SINK_RETENTION_S).

Real Redis and the real sender, delivering to the local sink (no Twilio account)."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from bot.sms import optout, outbox, sink
from bot.sms.sender import Sender
from bot.sms.settings import SmsSettings
from tests.support.sms import CUSTOMER

WINDOW_S = 600.0


async def _send_one(redis: aioredis.Redis, settings: SmsSettings, message_id: str) -> str:
    return await Sender(redis, settings).process(None, message_id)


async def _opt_out(redis: aioredis.Redis, at: float) -> None:
    await optout.opt_out(redis, CUSTOMER, source="sms", keyword="STOP")
    record = await optout.record(redis, CUSTOMER)
    assert record is not None
    # Back-date the opt-out: the registry keeps its time as JSON.
    await redis.hset(optout.REGISTRY, CUSTOMER, f'{{"at": {at}, "keyword": "STOP"}}')


@pytest.mark.parametrize(
    ("kind", "answers_ago", "opted_out_ago", "sent"),
    [
        # The STOP confirmation: answers the STOP itself, seconds ago.
        ("reply", 2, 1, True),
        # The customer wrote again after opting out (HELP, a question): answer it.
        ("reply", 3600, 7200, True),
        ("agent", 3600, 7200, True),
        # An agent answering, an hour later, a question sent before the opt-out: skipped.
        ("agent", 3600, 1800, False),
        # ...but within the window of the question, it still goes.
        ("agent", 300, 200, True),
        # A reply queued long ago (e.g. stuck behind an outage), answering a message from
        # before the opt-out: skipped.
        ("reply", 3600, 1800, False),
        # No answers_at: not an answer to anything.
        ("agent", None, 60, False),
        # Not an answer at all: never.
        ("notice", 1, 3600, False),
        ("survey", 1, 0, False),
    ],
)
async def test_answers_reach_an_opted_out_number_only_while_they_answer_something_recent(
    redis: aioredis.Redis,
    settings: SmsSettings,
    kind: str,
    answers_ago: float | None,
    opted_out_ago: float,
    sent: bool,
) -> None:
    now = time.time()
    await _opt_out(redis, now - opted_out_ago)
    [message_id] = await outbox.enqueue(
        redis,
        CUSTOMER,
        "您好",
        kind=kind,
        urgent=True,  # quiet hours are not what this test is about
        answers_at=None if answers_ago is None else now - answers_ago,
    )
    status = await _send_one(redis, settings, message_id)
    record = await outbox.get(redis, message_id)
    assert record is not None
    if sent:
        assert status == "delivered" and record["status"] == "delivered"
    else:
        assert status == "skipped"
        assert record["status"] == "skipped" and record["reason"] == outbox.SKIPPED_OPTED_OUT
        assert "opted out" in record["error"]
        history = await outbox.history(redis, message_id)
        assert history[-1]["event"] == "skipped" and history[-1]["reason"] == "opted_out"


async def test_window_is_configurable(redis: aioredis.Redis, settings: SmsSettings) -> None:
    now = time.time()
    await _opt_out(redis, now - 30)
    [message_id] = await outbox.enqueue(
        redis, CUSTOMER, "您好", kind="agent", answers_at=now - 60, idempotency_key="a:1"
    )
    narrow = SmsSettings(**{**settings.__dict__, "reply_window_s": 10.0})
    assert await _send_one(redis, narrow, message_id) == "skipped"


async def test_outbox_records_expire_as_configured(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_OUTBOX_RETENTION_S", "3600")
    ids = await outbox.enqueue(redis, CUSTOMER, "x" * 2000, kind="notice", idempotency_key="r:1")
    assert len(ids) == 2
    for message_id in ids:
        assert 3590 <= await redis.ttl(outbox.msg_key(message_id)) <= 3600
        assert 3590 <= await redis.ttl(outbox.history_key(message_id)) <= 3600
    assert 3590 <= await redis.ttl(outbox.idem_key("r:1#1/2")) <= 3600
    assert 3590 <= await redis.ttl(outbox.parts_key("r:1")) <= 3600
    assert [m["id"] for m in await outbox.find(redis, "r:1")] == ids
    # The console's index forgets what is past retention.
    await redis.zadd(outbox.RECENT, {"OBold": time.time() - 7200})
    await outbox.enqueue(redis, CUSTOMER, "新的", kind="notice")
    assert await redis.zscore(outbox.RECENT, "OBold") is None


async def test_sink_keeps_only_its_retention(
    redis: aioredis.Redis, settings: SmsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_SINK_RETENTION_S", "3600")
    old_ms = int((time.time() - 7200) * 1000)
    await redis.xadd(sink.STREAM, {"to": CUSTOMER, "body": "old"}, id=f"{old_ms}-0")
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "新的", kind="reply", urgent=True)
    assert await _send_one(redis, settings, message_id) == "delivered"
    assert [m["body"] for m in await sink.read(redis, to=CUSTOMER)] == ["新的"]


def test_retention_settings_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.sms.settings import Retention, SettingsError

    monkeypatch.setenv("SMS_SINK_RETENTION_S", "①")
    with pytest.raises(SettingsError, match="SMS_SINK_RETENTION_S"):
        Retention.from_env()
