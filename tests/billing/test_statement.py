"""The current bill in plain language: figures worked by hand, zh and en wording, paid /
due / overdue, and no breakdown when the tariff's lines do not add up to the billed amount."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from bot.accounts.models import Account, Bill, Reading
from bot.billing.statement import bill_status, build_statement, render_statement

ACCOUNT = Account(
    "A1", "+8613800000009", "王芳", "北京市朝阳区建国路1号", "chaoyang", "residential_tiered", "zh"
)
READINGS = [
    Reading("2025-12", D(300), D(200), D(100)),
    Reading("2026-01", D(2500), D(1500), D(1000)),
    Reading("2026-02", D(500), D(300), D(200)),
]


def bills(amount: str = "250.15", paid_on: date | None = None) -> list[Bill]:
    return [
        Bill("A1", "2026-01", D(2500), D("1220.75"), date(2026, 2, 1), date(2026, 2, 25), None),
        Bill("A1", "2026-02", D(500), D(amount), date(2026, 3, 1), date(2026, 3, 25), paid_on),
    ]


def test_the_breakdown_of_a_month_crossing_into_tier_two() -> None:
    # 2500 used in January; February's 500: 380 x 0.4883 = 185.554 -> 185.55 and
    # 120 x 0.5383 = 64.596 -> 64.60, total 250.15; the year at 3000 kWh, tier 2.
    st = build_statement(ACCOUNT, READINGS, bills(), today=date(2026, 3, 10))
    assert st is not None
    assert st.status == "due" and st.breakdown_matches
    assert st.year_kwh == D(3000) and st.tier == 2
    assert render_statement(st, "zh") == (
        "2026年2月电费250.15元，用电500度，请于3月25日前缴费。\n"
        "第1档380度×0.4883元=185.55元；第2档120度×0.5383元=64.60元\n"
        "今年累计用电3000度，处于第2档。"
    )
    assert render_statement(st, "en") == (
        "Feb 2026 bill: 250.15 yuan for 500 kWh, due by 25 Mar.\n"
        "Tier 1: 380 kWh x 0.4883 = 185.55; Tier 2: 120 kWh x 0.5383 = 64.60\n"
        "This year: 3000 kWh so far, tier 2."
    )


def test_overdue_and_paid() -> None:
    overdue = build_statement(ACCOUNT, READINGS, bills(), today=date(2026, 3, 26))
    assert overdue is not None and overdue.status == "overdue"
    assert "已逾期（应于3月25日前缴费）" in render_statement(overdue, "zh")
    assert "overdue since 25 Mar" in render_statement(overdue, "en")
    on_due_day = build_statement(ACCOUNT, READINGS, bills(), today=date(2026, 3, 25))
    assert on_due_day is not None and on_due_day.status == "due"
    paid = build_statement(
        ACCOUNT, READINGS, bills(paid_on=date(2026, 3, 3)), today=date(2026, 4, 1)
    )
    assert paid is not None and paid.status == "paid"
    assert "已于3月3日缴清" in render_statement(paid, "zh")
    assert "paid on 3 Mar" in render_statement(paid, "en")


def test_bill_status() -> None:
    bill = bills()[1]
    assert bill_status(bill, date(2026, 3, 1)) == "due"
    assert bill_status(bill, date(2026, 3, 26)) == "overdue"


def test_time_of_use_lines() -> None:
    # Peak 300 x 0.5483 = 164.49, off-peak 200 x 0.2983 = 59.66, and 120 kWh above 2880
    # x 0.05 = 6.00; total 230.15.
    tou = Account(**{**ACCOUNT.__dict__, "tariff": "residential_tiered_tou"})
    st = build_statement(tou, READINGS, bills("230.15"), today=date(2026, 3, 10))
    assert st is not None and st.breakdown_matches
    assert render_statement(st, "zh").splitlines()[1] == (
        "峰时300度×0.5483元=164.49元；谷时200度×0.2983元=59.66元；第2档加价120度×0.05元=6.00元"
    )
    assert render_statement(st, "en").splitlines()[1] == (
        "Peak: 300 kWh x 0.5483 = 164.49; Off-peak: 200 kWh x 0.2983 = 59.66; "
        "Tier 2 extra: 120 kWh x 0.05 = 6.00"
    )


def test_a_bill_the_tariff_does_not_explain_gets_no_breakdown() -> None:
    st = build_statement(ACCOUNT, READINGS, bills("262.15"), today=date(2026, 3, 10))
    assert st is not None and not st.breakdown_matches
    assert render_statement(st, "zh") == (
        "2026年2月电费262.15元，用电500度，请于3月25日前缴费。\n本期暂无抄表明细。"
    )


def test_no_reading_or_no_bill() -> None:
    st = build_statement(ACCOUNT, READINGS[:2], bills(), today=date(2026, 3, 10))
    assert st is not None and st.charge is None and st.year_kwh is None
    assert "No meter breakdown" in render_statement(st, "en")
    assert build_statement(ACCOUNT, READINGS, [], today=date(2026, 3, 10)) is None


def test_a_plan_the_tariff_does_not_know_still_gets_the_bill() -> None:
    business = Account(**{**ACCOUNT.__dict__, "tariff": "business"})
    st = build_statement(business, READINGS, bills(), today=date(2026, 3, 10))
    assert st is not None and st.charge is None and not st.breakdown_matches
    assert render_statement(st, "en") == (
        "Feb 2026 bill: 250.15 yuan for 500 kWh, due by 25 Mar.\n"
        "No meter breakdown for this period yet."
    )
