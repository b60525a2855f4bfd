"""The demo backend: always-current months mapped onto `today`, the showcase holders, and
payments recorded in Redis."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from bot.accounts.backend import AccountBackend, BackendUnavailable
from bot.accounts.demo import DemoBackend, current_period
from bot.accounts.periods import add_months
from bot.billing.tariff import load_tariff, used_before


def backend(redis: aioredis.Redis | None, today: date) -> DemoBackend:
    return DemoBackend(redis, today=lambda: today)


def test_period_arithmetic() -> None:
    assert add_months("2026-01", -1) == "2025-12"
    assert add_months("2025-12", 1) == "2026-01"
    assert add_months("2026-11", -12) == "2025-11"
    assert current_period(date(2026, 12, 1)) == "2026-11"
    assert current_period(date(2027, 1, 31)) == "2026-12"


def test_it_is_an_account_backend() -> None:
    demo: AccountBackend = DemoBackend(None)
    assert demo is not None


@pytest.mark.parametrize(
    "today", [date(2026, 12, 1), date(2027, 1, 15), date(2027, 3, 28), date(2030, 8, 10)]
)
async def test_the_showcase_holder_is_current_whatever_the_date(today: date) -> None:
    demo = backend(None, today)
    accounts = await demo.accounts_for_phone("+8613800000001")
    assert len(accounts) == 1
    account = accounts[0]
    assert (account.area, account.language, account.holder_phone) == (
        "chaoyang",
        "zh",
        "+8613800000001",
    )
    readings = await demo.readings(account.id)
    bills = await demo.bills(account.id)
    assert len(readings) == len(bills) == 13
    current = current_period(today)
    assert [r.period for r in readings] == [add_months(current, -k) for k in range(12, -1, -1)]
    assert [b.period for b in bills] == [r.period for r in readings]
    latest = bills[-1]
    assert latest.period == current and latest.paid_on is None
    assert latest.issued_on == date(today.year, today.month, 1)
    assert (latest.due_on - latest.issued_on).days == 24
    assert all(b.paid_on is not None and b.paid_on <= today for b in bills[:-1])
    # Its current month crosses a tier, and the bill is the tariff's figure.
    tariff = load_tariff()
    charge = tariff.charge_reading(account.tariff, readings[-1], used_before(readings, current))
    assert charge.tiers_entered
    assert charge.total == latest.amount
    assert latest.kwh == readings[-1].kwh


async def test_the_english_holder() -> None:
    demo = backend(None, date(2026, 12, 1))
    (account,) = await demo.accounts_for_phone("+8613800000002")
    assert account.language == "en" and account.tariff == "residential_tiered_tou"
    assert "Beijing" in account.address
    bills = await demo.bills(account.id)
    assert bills[-1].paid_on is None


async def test_every_demo_bill_is_the_tariffs_charge_on_any_date() -> None:
    tariff = load_tariff()
    for today in (date(2026, 12, 1), date(2027, 2, 1), date(2027, 7, 20)):
        demo = backend(None, today)
        holders = await demo.holders_in_areas(
            ["dongcheng", "xicheng", "chaoyang", "haidian", "fengtai", "tongzhou"]
        )
        assert len(holders) == 300
        for account in holders:
            readings = await demo.readings(account.id)
            bills = await demo.bills(account.id)
            # The oldest month's year may have begun before the 13 months shown: check the
            # months whose whole billing year is visible.
            for reading, bill in zip(readings, bills, strict=True):
                if reading.period[:4] != readings[-1].period[:4]:
                    continue
                charge = tariff.charge_reading(
                    account.tariff, reading, used_before(readings, reading.period)
                )
                assert charge.total == bill.amount, (account.id, bill.period)


async def test_unknowns_are_empty_not_errors() -> None:
    demo = backend(None, date(2026, 12, 1))
    assert await demo.accounts_for_phone("+8613900000000") == []
    assert await demo.account("nope") is None
    assert await demo.readings("nope") == []
    assert await demo.bills("nope") == []
    assert await demo.holders_in_areas(["atlantis"]) == []


async def test_areas_and_multi_account_holders() -> None:
    demo = backend(None, date(2026, 12, 1))
    chaoyang = await demo.holders_in_areas(["chaoyang"])
    assert chaoyang and all(a.area == "chaoyang" for a in chaoyang)
    both = await demo.holders_in_areas(["chaoyang", "chaoyang", "haidian"])
    haidian = await demo.holders_in_areas(["haidian"])
    assert len(both) == len({a.id for a in both}) == len(chaoyang) + len(haidian)
    # Every 40th account is a second home of the previous holder.
    second = await demo.accounts_for_phone("+8613800000039")
    assert [a.id for a in second] == ["1100000039", "1100000040"]
    assert all(a.holder_phone.startswith("+86138000") for a in both)


async def test_some_current_bills_are_unpaid_and_some_autopaid() -> None:
    today = date(2026, 12, 10)
    demo = backend(None, today)
    states = []
    for account in await demo.holders_in_areas(["haidian"]):
        states.append((await demo.bills(account.id))[-1].paid_on)
    assert None in states and date(2026, 12, 1) in states


async def test_record_payment_marks_the_bill_paid_for_every_process(
    redis: aioredis.Redis,
) -> None:
    today = date(2026, 12, 5)
    demo = backend(redis, today)
    account_id = "1100000001"
    assert (await demo.bills(account_id))[-1].paid_on is None
    await demo.record_payment(account_id, "2026-11", date(2026, 12, 5))
    assert (await demo.bills(account_id))[-1].paid_on == date(2026, 12, 5)
    other = backend(redis, today)  # another process, same Redis
    assert (await other.bills(account_id))[-1].paid_on == date(2026, 12, 5)
    # A month later that bill is an older one; the payment still stands.
    later = backend(redis, date(2027, 1, 5))
    bills = await later.bills(account_id)
    assert bills[-2].period == "2026-11" and bills[-2].paid_on == date(2026, 12, 5)
    assert bills[-1].paid_on is None


async def test_record_payment_refuses_what_does_not_exist(redis: aioredis.Redis) -> None:
    demo = backend(redis, date(2026, 12, 5))
    with pytest.raises(ValueError, match="unknown account"):
        await demo.record_payment("nope", "2026-11", date(2026, 12, 5))
    with pytest.raises(ValueError, match="no bill"):
        await demo.record_payment("1100000001", "2020-01", date(2026, 12, 5))
    with pytest.raises(ValueError, match="no Redis"):
        await backend(None, date(2026, 12, 5)).record_payment(
            "1100000001", "2026-11", date(2026, 12, 5)
        )


async def test_redis_down_is_backend_unavailable() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    demo = backend(dead, date(2026, 12, 5))
    with pytest.raises(BackendUnavailable):
        await demo.bills("1100000001")
    await dead.close()


async def test_readings_split_into_peak_and_valley() -> None:
    demo = backend(None, date(2026, 12, 1))
    for reading in await demo.readings("1100000002"):
        assert reading.peak_kwh + reading.valley_kwh == reading.kwh
        assert reading.kwh > D(0)
