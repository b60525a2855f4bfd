"""An outage change as notices: recipients, languages, exactly once, opt-out, quiet hours,
validity, ETA replacement, progress and the reply context."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.notices import broadcast, context, progress, subscriptions
from bot.sms import optout, outbox
from bot.sms.sender import Sender
from bot.sms.settings import QuietHours, SmsSettings
from tests.support.notices import FakeBackend, account, drain, notices_by_phone, outage

SUB_ZH = "+8613900000001"
SUB_EN = "+8613900000002"
HOLDER_EN = "+8613900000003"
HOLDER_SUB_ZH = "+8613900000004"  # holder (account says en) and subscriber (chose zh)
OPTED_OUT = "+8613900000005"
ELSEWHERE = "+8613900000006"  # subscriber in another area
ALL_DAY = QuietHours(clock_time(0, 0), clock_time(23, 59, 59), ZoneInfo("Asia/Shanghai"))


def quiet_now() -> QuietHours:
    """Quiet hours from an hour ago to an hour from now (ending within a notice's validity)."""
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.now(zone)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
    return QuietHours(start.replace(microsecond=0), end.replace(microsecond=0), zone)


async def audience(redis: aioredis.Redis) -> FakeBackend:
    await subscriptions.subscribe(redis, SUB_ZH, topic="outage", area="chaoyang", language="zh")
    await subscriptions.subscribe(redis, SUB_EN, topic="outage", area="chaoyang", language="en")
    await subscriptions.subscribe(
        redis, HOLDER_SUB_ZH, topic="outage", area="chaoyang", language="zh"
    )
    await subscriptions.subscribe(redis, OPTED_OUT, topic="outage", area="chaoyang", language="zh")
    await subscriptions.subscribe(redis, ELSEWHERE, topic="outage", area="haidian", language="zh")
    await optout.opt_out(redis, OPTED_OUT, source="sms", keyword="TD")
    return FakeBackend(
        [
            account("A1", HOLDER_EN, "chaoyang", "en"),
            account("A2", HOLDER_SUB_ZH, "chaoyang", "en"),
            account("A3", ELSEWHERE, "fengtai", "zh"),
        ]
    )


async def test_each_recipient_gets_one_notice_in_their_language(redis: aioredis.Redis) -> None:
    backend = await audience(redis)
    fault = outage(kind="fault")
    result = await broadcast.send(redis, backend, fault, "published")
    assert result.recipients == 4 and result.queued == 4
    sent = await notices_by_phone(redis)
    assert set(sent) == {SUB_ZH, SUB_EN, HOLDER_EN, HOLDER_SUB_ZH}  # no opt-out, no other area
    assert all(len(messages) == 1 for messages in sent.values())
    assert "故障停电" in sent[SUB_ZH][0]["body"]
    assert sent[SUB_EN][0]["body"].startswith("Kefu Power: we know about the outage")
    assert sent[HOLDER_EN][0]["body"].startswith("Kefu Power")
    assert "故障停电" in sent[HOLDER_SUB_ZH][0]["body"]  # the subscription's language wins
    record = sent[SUB_ZH][0]
    assert record["kind"] == "notice" and record["urgent"] == "1"
    assert float(record["valid_until"]) > time.time() + 3 * 3600


async def test_running_the_same_change_again_queues_nothing(redis: aioredis.Redis) -> None:
    backend = await audience(redis)
    fault = outage(kind="fault")
    first = await broadcast.send(redis, backend, fault, "published")
    before = await redis.zcard(outbox.RECENT)
    again = await broadcast.send(
        redis, backend, dataclasses.replace(fault, revision=2), "published"
    )
    assert await redis.zcard(outbox.RECENT) == before == 4
    assert sorted(again.ids) == sorted(first.ids)
    # A different kind of notice is a new message.
    await broadcast.send(redis, backend, fault, "restored")
    assert await redis.zcard(outbox.RECENT) == 8


async def test_planned_notices_wait_out_quiet_hours_fault_ones_do_not(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = await audience(redis)
    worker = Sender(redis, dataclasses.replace(sms_settings, quiet_hours=ALL_DAY))
    await broadcast.send(
        redis,
        backend,
        outage(kind="planned", starts_in_h=48, outage_id="OG20261201-0001"),
        "published",
    )
    assert set((await drain(redis, worker)).values()) == {"deferred"}
    await broadcast.send(
        redis, backend, outage(kind="fault", outage_id="OG20261201-0002"), "published"
    )
    assert set((await drain(redis, worker)).values()) == {"delivered"}
    planned = outage(kind="planned", starts_in_h=48, outage_id="OG20261201-0003")
    await broadcast.send(redis, backend, planned, "restored")  # restoration: at once
    assert set((await drain(redis, worker)).values()) == {"delivered"}


async def test_a_planned_warning_expires_when_quiet_hours_outlast_it(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    """Valid until the outage starts: quiet hours that end after that expire it unsent."""
    backend = await audience(redis)
    worker = Sender(redis, dataclasses.replace(sms_settings, quiet_hours=ALL_DAY))
    soon = outage(kind="planned", starts_in_h=0.05)  # starts in 3 minutes
    await broadcast.send(redis, backend, soon, "published")
    statuses = await drain(redis, worker)
    assert set(statuses.values()) == {"expired"}
    assert (await progress.summary(redis, soon.id))["expired"] == 4


async def test_a_notice_past_its_validity_is_expired_not_sent(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = await audience(redis)
    fault = outage(kind="fault")
    # Changed 10 minutes ago with 15 minutes' validity: queued; the sender gets to it late.
    await broadcast.send(redis, backend, fault, "published", now=time.time() - 600, validity_s=900)
    messages = [m for ms in (await notices_by_phone(redis)).values() for m in ms]
    for record in messages:
        await redis.hset(outbox.msg_key(record["id"]), "valid_until", repr(time.time() - 1))
    assert set((await drain(redis, Sender(redis, sms_settings))).values()) == {"expired"}
    assert await redis.xlen("kefu:sms:sink") == 0
    # A change older than its validity is not announced at all.
    late = await broadcast.send(
        redis,
        backend,
        outage(kind="fault", outage_id="OG20261201-0009"),
        "published",
        now=time.time() - 1000,
        validity_s=900,
    )
    assert late.queued == 0


async def test_a_second_eta_change_replaces_the_unsent_notice(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = await audience(redis)
    worker = Sender(redis, dataclasses.replace(sms_settings, quiet_hours=quiet_now()))
    planned = outage(kind="planned", starts_in_h=48, eta_in_h=4, revision=2)
    first = await broadcast.send(redis, backend, planned, "eta_changed")
    await drain(redis, worker)  # planned: held for quiet hours, still unsent
    later = dataclasses.replace(
        planned, revision=3, eta=planned.starts_at + (planned.eta - planned.starts_at) * 2
    )
    second = await broadcast.send(redis, backend, later, "eta_changed")
    assert sorted(second.ids) == sorted(first.ids) and second.replaced == 4
    assert await redis.zcard(outbox.RECENT) == 4
    body = (await notices_by_phone(redis))[SUB_ZH][0]["body"]
    assert (
        later.eta is not None
        and later.eta.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") in body
    )
    # Re-running revision 3 changes nothing.
    again = await broadcast.send(redis, backend, later, "eta_changed")
    assert again.replaced == 0 and await redis.zcard(outbox.RECENT) == 4


async def test_an_eta_change_after_the_notice_went_out_is_a_new_notice(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = await audience(redis)
    fault = outage(kind="fault", revision=2)
    await broadcast.send(redis, backend, fault, "eta_changed")
    await drain(redis, Sender(redis, sms_settings))  # urgent: delivered at once
    result = await broadcast.send(
        redis, backend, dataclasses.replace(fault, revision=3), "eta_changed"
    )
    assert result.replaced == 0
    assert await redis.zcard(outbox.RECENT) == 8


async def test_no_replacement_outside_the_merge_window(redis: aioredis.Redis) -> None:
    backend = await audience(redis)
    planned = outage(kind="planned", starts_in_h=48, revision=2)
    await broadcast.send(redis, backend, planned, "eta_changed", merge_s=0)
    result = await broadcast.send(
        redis, backend, dataclasses.replace(planned, revision=3), "eta_changed", merge_s=0
    )
    assert result.replaced == 0 and await redis.zcard(outbox.RECENT) == 8


async def test_progress_counts_the_messages_by_status(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = await audience(redis)
    fault = outage(kind="fault")
    await broadcast.send(redis, backend, fault, "published")
    assert await progress.summary(redis, fault.id) == {
        "recipients": 4,
        "queued": 4,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "expired": 0,
        "skipped": 0,
    }
    await optout.opt_out(redis, SUB_EN, source="sms", keyword="STOP")  # after queueing
    await drain(redis, Sender(redis, sms_settings))
    await broadcast.send(redis, backend, fault, "restored")
    summary = await progress.summary(redis, fault.id)
    assert summary == {
        "recipients": 4,
        "queued": 3,
        "sent": 0,
        "delivered": 3,
        "failed": 0,
        "expired": 0,
        "skipped": 1,
    }


async def test_the_last_notice_is_remembered_per_phone(redis: aioredis.Redis) -> None:
    backend = await audience(redis)
    assert await context.last_notice(redis, SUB_ZH) is None
    fault = outage(kind="fault")
    await broadcast.send(redis, backend, fault, "published", now=1_000.0, clock=lambda: 1_500.0)
    assert await context.last_notice(redis, SUB_ZH) == {
        "outage_id": fault.id,
        "change": "published",
        "at": 1_000.0,
    }
    assert await context.last_notice(redis, OPTED_OUT) is None
    assert await context.last_notice(redis, ELSEWHERE) is None


async def test_preview_counts_recipients_and_segments(redis: aioredis.Redis) -> None:
    backend = await audience(redis)
    shown = await broadcast.preview(
        redis,
        backend,
        areas=["chaoyang"],
        kind="planned",
        text={"zh": "更换变压器。", "en": "Transformer replacement."},
    )
    assert shown["recipients"] == 4
    assert shown["segments"] == {"zh": 1, "en": 1}
    assert "更换变压器。" in shown["bodies"]["zh"]
    none = await broadcast.preview(
        redis, backend, areas=["tongzhou"], kind="fault", text={"zh": "x", "en": "x"}
    )
    assert none["recipients"] == 0
