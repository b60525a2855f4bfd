"""Bill reminders over a simulated week (an injectable clock, an hourly scan), once per
bill, only to bill subscribers, respecting quiet hours, cancelled by a payment."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.notices import subscriptions
from bot.notices.reminders import GUARD, Reminders, bill_guard
from bot.sms import outbox, sender
from bot.sms.settings import QuietHours, SmsSettings
from tests.support.notices import FakeBackend, account, bill, drain, notices_by_phone

ZONE = ZoneInfo("Asia/Shanghai")
HOLDER = "+8613900000011"
NOT_SUBSCRIBED = "+8613900000012"
# Ahead of the real date: the sender checks validity against the real clock.
DUE = datetime.now(ZONE).date() + timedelta(days=10)
DUE_ZH = f"{DUE.month}月{DUE.day}日"


def setup_backend() -> FakeBackend:
    backend = FakeBackend(
        [account("A1", HOLDER, language="zh"), account("A2", NOT_SUBSCRIBED, language="en")],
        [
            bill("A1", "2026-10", DUE - timedelta(days=30)),  # paid long ago
            bill("A1", "2026-11", DUE),
            bill("A2", "2026-11", DUE),
        ],
    )
    backend.pay("A1", "2026-10", DUE - timedelta(days=25))
    return backend


async def test_a_simulated_week_sends_one_reminder_and_one_overdue_notice(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = setup_backend()
    await subscriptions.subscribe(redis, HOLDER, topic="bill", area=None, language="zh")
    now = datetime.combine(DUE - timedelta(days=5), time(0, 0), ZONE).timestamp()
    reminders = Reminders(redis, backend, days=3, zone=ZONE, clock=lambda: now)
    worker = sender.Sender(redis, sms_settings)
    sender.register_guard(GUARD, bill_guard(backend))
    added_on: dict[date, int] = {}
    for _hour in range(7 * 24):
        added = await reminders.scan_once()
        if added:
            added_on[reminders.today()] = added_on.get(reminders.today(), 0) + added
        await drain(redis, worker)
        now += 3600
    assert added_on == {DUE - timedelta(days=3): 1, DUE + timedelta(days=1): 1}
    [messages] = (await notices_by_phone(redis)).values()
    assert [m["kind"] for m in messages] == ["reminder", "reminder"]
    assert all(m["status"] == "delivered" for m in messages)
    bodies = sorted(m["body"] for m in messages)
    assert f"将于{DUE_ZH}到期" in bodies[0] or f"将于{DUE_ZH}到期" in bodies[1]
    assert any(f"已于{DUE_ZH}逾期" in b for b in bodies)
    assert all("户号A1" in b and "年11月" in b for b in bodies)
    assert all(m["guard"] == "bill:A1:2026-11" for m in messages)


async def test_a_payment_before_the_send_cancels_a_queued_reminder(
    redis: aioredis.Redis, sms_settings: SmsSettings
) -> None:
    backend = setup_backend()
    await subscriptions.subscribe(redis, HOLDER, topic="bill", area=None, language="en")
    sender.register_guard(GUARD, bill_guard(backend))
    now = datetime.combine(DUE - timedelta(days=2), time(22, 0), ZONE).timestamp()
    reminders = Reminders(redis, backend, days=3, zone=ZONE, clock=lambda: now)
    assert await reminders.scan_once() == 1
    # 22:00: quiet hours hold it (reminders are not urgent).
    quiet = QuietHours(time(0, 0), time(23, 59, 59), ZONE)
    held = sender.Sender(redis, dataclasses.replace(sms_settings, quiet_hours=quiet))
    assert set((await drain(redis, held)).values()) == {"deferred"}
    backend.pay("A1", "2026-11", DUE - timedelta(days=1))  # paid overnight
    await redis.delete(outbox.DELAYED)
    [[record]] = (await notices_by_phone(redis)).values()
    assert await sender.Sender(redis, sms_settings).process(None, record["id"]) == "skipped"
    record = await outbox.get(redis, record["id"])
    assert record is not None and record["reason"] == "paid"
    assert await redis.xlen("kefu:sms:sink") == 0
    # ...and the scan does not queue it again.
    assert await reminders.scan_once() == 0


async def test_only_subscribed_holders_and_only_once(redis: aioredis.Redis) -> None:
    backend = setup_backend()
    now = datetime.combine(DUE - timedelta(days=1), time(10, 0), ZONE).timestamp()
    reminders = Reminders(redis, backend, days=3, zone=ZONE, clock=lambda: now)
    assert await reminders.scan_once() == 0  # nobody subscribed
    # Subscribed, but to someone else's account: the holder's phone decides.
    await subscriptions.subscribe(redis, "+8613900000099", topic="bill", area=None, language="zh")
    assert await reminders.scan_once() == 0
    await subscriptions.subscribe(redis, NOT_SUBSCRIBED, topic="bill", area=None, language="en")
    assert await reminders.scan_once() == 1
    assert await reminders.scan_once() == 0
    [[record]] = (await notices_by_phone(redis)).values()
    assert record["to"] == NOT_SUBSCRIBED and record["body"].startswith("Kefu Power: account A2")


async def test_no_reminder_outside_the_windows(redis: aioredis.Redis) -> None:
    backend = setup_backend()
    await subscriptions.subscribe(redis, HOLDER, topic="bill", area=None, language="zh")
    for day in (DUE - timedelta(days=4), DUE + timedelta(days=31)):
        now = datetime.combine(day, time(12, 0), ZONE).timestamp()
        reminders = Reminders(redis, backend, days=3, zone=ZONE, clock=lambda at=now: at)
        assert await reminders.scan_once() == 0
