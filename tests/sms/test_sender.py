"""The sender worker in offline mode (local sink): opt-outs, quiet hours, crash recovery,
and the desk wiring."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.desk.app import create_app
from bot.http import WORKERS
from bot.settings import Settings
from bot.sms import optout, outbox, sender
from bot.sms.settings import QuietHours, SmsSettings
from bot.tasks import Workers
from tests.support.sms import CUSTOMER, drain_outbox, eventually, read_sink


def quiet_now() -> QuietHours:
    """Quiet hours around the current time."""
    now = datetime.now(timezone.utc)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
    return QuietHours(start.replace(microsecond=0), end.replace(microsecond=0), ZoneInfo("UTC"))


async def test_offline_delivery_goes_to_the_local_sink(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "您好，您的工单已处理。", kind="agent")
    await drain_outbox(sender.Sender(redis, settings))
    [delivered] = await read_sink(redis, CUSTOMER)
    assert delivered["body"] == "您好，您的工单已处理。" and delivered["outbox_id"] == message_id
    assert (delivered["segments"], delivered["encoding"]) == ("1", "UCS-2")
    record = await outbox.get(redis, message_id)
    assert (record["status"], record["transport"], record["attempts"]) == (
        "delivered",
        "local",
        "1",
    )
    assert await redis.xlen(outbox.STREAM) == 0  # processed entries leave the stream


async def test_opted_out_numbers_get_answers_but_nothing_else(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    """Answers to what the customer just sent still go (test_optout_replies.py has the
    timing rules); everything else is skipped, with the reason the console shows."""
    await optout.opt_out(redis, CUSTOMER, source="test", keyword="STOP")
    just_now = time.time()
    ids = {
        kind: (
            await outbox.enqueue(
                redis, CUSTOMER, f"{kind} text", kind=kind, urgent=True, answers_at=just_now
            )
        )[0]
        for kind in outbox.KINDS
    }
    [unanswering] = await outbox.enqueue(redis, CUSTOMER, "reply text", kind="reply")
    await drain_outbox(sender.Sender(redis, settings))
    statuses = {kind: (await outbox.get(redis, i))["status"] for kind, i in ids.items()}
    assert statuses == {
        "reply": "delivered",
        "agent": "delivered",
        "otp": "skipped",  # only a code the customer asked for (customer_requested)
        "notice": "skipped",
        "survey": "skipped",
        "reminder": "skipped",
    }
    assert (await outbox.get(redis, unanswering))["status"] == "skipped"
    notice = await outbox.get(redis, ids["notice"])
    assert notice["reason"] == "opted_out" and "opted out" in notice["error"]


async def test_quiet_hours_defer_non_urgent_messages_until_morning(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    quiet = quiet_now()
    worker = sender.Sender(redis, replace(settings, quiet_hours=quiet))
    ids = {
        name: (await outbox.enqueue(redis, CUSTOMER, name, kind=kind, urgent=urgent))[0]
        for name, kind, urgent in [
            ("notice", "notice", False),
            ("survey", "survey", False),
            ("urgent-notice", "notice", True),
            ("reply", "reply", False),
            ("agent", "agent", False),
        ]
    }
    await drain_outbox(worker)
    status = {name: (await outbox.get(redis, i))["status"] for name, i in ids.items()}
    assert status == {
        "notice": "deferred",
        "survey": "deferred",
        "urgent-notice": "delivered",
        "reply": "delivered",
        "agent": "delivered",
    }
    record = await outbox.get(redis, ids["notice"])
    end = datetime.combine(datetime.now(timezone.utc).date(), quiet.end, tzinfo=timezone.utc)
    if end.timestamp() < time.time():
        end += timedelta(days=1)
    assert end.timestamp() <= float(record["not_before"]) <= end.timestamp() + 300
    assert record["defer_reason"] == "quiet_hours" and record["attempts"] == "0"
    # Morning comes: the messages are released and sent.
    assert await outbox.release_due(redis, now=end.timestamp() + 301) == 2
    await drain_outbox(sender.Sender(redis, settings))
    assert (await outbox.get(redis, ids["notice"]))["status"] == "delivered"
    assert len(await read_sink(redis, CUSTOMER)) == 5


async def test_entries_of_a_crashed_worker_are_reclaimed_and_sent_once(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    first = (await outbox.enqueue(redis, CUSTOMER, "one", kind="agent"))[0]
    second = (await outbox.enqueue(redis, CUSTOMER, "two", kind="agent"))[0]
    await outbox.ensure_group(redis)
    # A worker read both entries, claimed the second, then died.
    await redis.xreadgroup(outbox.GROUP, "dead-worker", {outbox.STREAM: ">"}, count=2)
    await outbox.claim(redis, second)
    survivor = sender.Sender(redis, replace(settings, reclaim_idle_s=0.0))
    assert await survivor.housekeeping_once() == 2
    assert await survivor.housekeeping_once() == 0
    assert sorted(m["body"] for m in await read_sink(redis, CUSTOMER)) == ["one", "two"]
    assert {(await outbox.get(redis, i))["status"] for i in (first, second)} == {"delivered"}
    pending = await redis.xpending(outbox.STREAM, outbox.GROUP)
    assert pending["pending"] == 0


async def test_desk_runs_the_sender_and_serves_the_outbox_api(
    redis: aioredis.Redis, sms_redis_url: str, monkeypatch
) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMS_QUIET_HOURS", "off")
    app = create_app(
        Settings(
            redis_url=sms_redis_url,
            desk_host="127.0.0.1",
            desk_port=0,
            rasa_public_url="http://127.0.0.1:5005",
            api_token="t0ken",
        )
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        [message_id] = await outbox.enqueue(redis, CUSTOMER, "停电通知：明天9点", kind="notice")
        await eventually(lambda: read_sink(redis, CUSTOMER))
        auth = {"Authorization": "Bearer t0ken"}
        listing = await (await client.get("/api/sms/outbox?limit=5", headers=auth)).json()
        assert [m["id"] for m in listing["messages"]] == [message_id]
        one = await (await client.get(f"/api/sms/outbox/{message_id}", headers=auth)).json()
        assert one["message"]["status"] == "delivered"
        assert [e["event"] for e in one["history"]] == ["enqueued", "delivered"]
        sink = await (await client.get("/api/sms/sink?to=13800138000", headers=auth)).json()
        assert [m["body"] for m in sink["messages"]] == ["停电通知：明天9点"]
        bad = await client.get("/api/sms/outbox?limit=0", headers=auth)
        assert bad.status == 400 and (await bad.json())["field"] == "limit"
        missing = await client.get("/api/sms/outbox/OBnope", headers=auth)
        assert missing.status == 404 and (await missing.json())["field"] == "id"
        assert (await client.get("/api/sms/outbox")).status == 401
        # The sender's workers are supervised tasks of the desk, listed on /healthz.
        workers = app[WORKERS].status()
        for name in ("sms_sender_0", "sms_outbox_release", "sms_outbox_reclaim"):
            assert workers[name]["running"], name
    finally:
        await client.close()
    await asyncio.sleep(0)


def test_sender_setup_starts_workers_and_registers_no_routes() -> None:
    """The outbox API and the status callbacks are capabilities of their own (bot.sms.api,
    bot.sms.delivery_status); the desk app registers them."""
    app = web.Application()
    sender.setup(app)
    assert list(app.router.routes()) == []
    assert len(app.cleanup_ctx) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempt, full in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 300.0)]:
        delays = [sender.backoff(attempt, 2.0, 300.0) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1


async def test_a_guard_can_skip_a_message_just_before_it_is_sent(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    checked: list[str] = []

    async def paid(_redis: aioredis.Redis, argument: str) -> str | None:
        checked.append(argument)
        return "paid" if argument == "A1:2026-11" else None

    sender.register_guard("testbill", paid)
    try:
        [skip] = await outbox.enqueue(
            redis, CUSTOMER, "Bill due", kind="reminder", guard="testbill:A1:2026-11"
        )
        [send] = await outbox.enqueue(
            redis, CUSTOMER, "Bill due too", kind="reminder", guard="testbill:A1:2026-12"
        )
        await drain_outbox(sender.Sender(redis, settings))
    finally:
        sender.GUARDS.pop("testbill")
    assert checked == ["A1:2026-11", "A1:2026-12"]
    skipped, sent = await outbox.get(redis, skip), await outbox.get(redis, send)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "paid")
    assert sent["status"] == "delivered"
    assert [m["body"] for m in await read_sink(redis, CUSTOMER)] == ["Bill due too"]


async def test_a_guard_that_fails_leaves_the_message_for_a_retry(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    async def down(_redis: aioredis.Redis, _argument: str) -> str | None:
        raise ConnectionError("backend down")

    sender.register_guard("testdown", down)
    try:
        [message_id] = await outbox.enqueue(
            redis, CUSTOMER, "Bill due", kind="reminder", guard="testdown:x"
        )
        worker = sender.Sender(redis, replace(settings, reclaim_idle_s=0.0))
        await outbox.ensure_group(redis)
        [[_stream, [(entry_id, fields)]]] = await redis.xreadgroup(
            outbox.GROUP, "w1", {outbox.STREAM: ">"}, count=1
        )
        await worker._safe_process(entry_id, fields)  # logged, left pending
        assert (await outbox.get(redis, message_id))["status"] == "sending"
        sender.register_guard("testdown", lambda _r, _a: asyncio.sleep(0, None))
        assert await worker.housekeeping_once() == 1
    finally:
        sender.GUARDS.pop("testdown")
    assert (await outbox.get(redis, message_id))["status"] == "delivered"


async def test_a_message_whose_validity_ends_during_quiet_hours_expires(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    held = sender.Sender(redis, replace(settings, quiet_hours=quiet_now()))
    [short] = await outbox.enqueue(
        redis, CUSTOMER, "Outage at 9", kind="notice", valid_until=time.time() + 600
    )
    [long] = await outbox.enqueue(
        redis, CUSTOMER, "Outage tomorrow", kind="notice", valid_until=time.time() + 86400
    )
    await drain_outbox(held)
    assert (await outbox.get(redis, short))["status"] == "expired"
    assert (await outbox.get(redis, long))["status"] == "deferred"
    assert [e["event"] for e in await outbox.history(redis, short)] == ["enqueued", "expired"]
    assert await read_sink(redis, CUSTOMER) == []


async def test_the_local_sink_is_paced_by_the_rate_limit_too(
    redis: aioredis.Redis, settings: SmsSettings
) -> None:
    """Offline mode paces like production: every delivery takes a limiter slot, recorded on
    the message; no 1-second window holds more slots than the rate."""
    rate = 20.0
    worker = sender.Sender(redis, replace(settings, rate_per_sec=rate, concurrency=4))
    ids = [
        (await outbox.enqueue(redis, f"+86139{n:08d}", f"notice {n}", kind="notice"))[0]
        for n in range(50)
    ]
    tasks = worker.start(Workers())
    try:

        async def all_delivered() -> list[float] | None:
            records = [await outbox.get(redis, i) for i in ids]
            if any(r["status"] != "delivered" for r in records):
                return None
            return sorted(float(r["rate_slot_at"]) for r in records)

        slots = await eventually(all_delivered, timeout=30)
    finally:
        await worker.stop(tasks)
    most = max(sum(1 for t in slots[i:] if t < start + 1.0) for i, start in enumerate(slots))
    assert most <= rate
    assert all(b - a >= 1 / rate - 1e-6 for a, b in zip(slots, slots[1:], strict=False))
