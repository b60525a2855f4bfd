""" "Why is my bill so high": changes against last month and a year ago (worked by hand),
and the tier crossed this month named, in zh and en."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from bot.accounts.models import Account, Bill, Reading
from bot.billing.explain import explain_bill, percent_change, render_explanation

ACCOUNT = Account(
    "A1", "+8613800000009", "Emily", "Beijing", "chaoyang", "residential_tiered", "en"
)


def bill(period: str, kwh: int, amount: str) -> Bill:
    return Bill("A1", period, D(kwh), D(amount), date(2026, 1, 1), date(2026, 1, 25), None)


def reading(period: str, kwh: int) -> Reading:
    return Reading(period, D(kwh), D(0), D(kwh))


def test_percent_change_rounds_half_up() -> None:
    assert percent_change(D(500), D(400)) == 25
    assert percent_change(D(100), D(300)) == -67  # -66.67
    assert percent_change(D(225), D(200)) == 13  # 12.5
    assert percent_change(D(175), D(200)) == -13  # -12.5, away from zero
    assert percent_change(D(5), D(0)) is None


def test_a_month_that_crossed_into_tier_two() -> None:
    readings = [reading("2025-02", 400), reading("2026-01", 2500), reading("2026-02", 500)]
    bills = [
        bill("2025-02", 400, "195.32"),
        bill("2026-01", 2500, "1220.75"),
        bill("2026-02", 500, "250.15"),
    ]
    ex = explain_bill(ACCOUNT, readings, bills)
    assert ex is not None
    assert ex.previous is not None and ex.previous.kwh_change_pct == -80  # 500 vs 2500
    assert ex.last_year is not None and ex.last_year.kwh_change_pct == 25  # 500 vs 400
    assert ex.tiers_entered == (2,) and ex.tier == 2 and ex.year_kwh == D(3000)
    assert render_explanation(ex, "zh") == (
        "2026年2月用电500度，电费250.15元。比上月少80%（2500度）。比去年同月多25%（400度）。"
        "本月今年累计用电超过2880度，进入第2档，超出部分每度0.5383元。"
    )
    assert render_explanation(ex, "en") == (
        "Feb 2026: 500 kWh, 250.15 yuan. 80% less than last month (2500 kWh). "
        "25% more than a year ago (400 kWh). This month your usage for the year passed "
        "2880 kWh, so the rest is tier 2 at 0.5383 yuan/kWh."
    )


def test_a_month_crossing_two_tiers_names_the_top_one() -> None:
    readings = [reading("2026-06", 2800), reading("2026-07", 2100)]
    bills = [bill("2026-06", 2800, "1367.24"), bill("2026-07", 2100, "1151.43")]
    ex = explain_bill(ACCOUNT, readings, bills)
    assert ex is not None and ex.tiers_entered == (2, 3) and ex.last_year is None
    text = render_explanation(ex, "zh")
    assert "比上月少25%（2800度）" in text  # 2100 vs 2800
    assert "比去年同月" not in text
    assert text.endswith("超过4800度，进入第3档，超出部分每度0.7883元。")


def test_already_in_a_higher_tier_or_still_tier_one() -> None:
    high = explain_bill(
        ACCOUNT,
        [reading("2026-09", 3000), reading("2026-10", 300)],
        [bill("2026-09", 3000, "1470.90"), bill("2026-10", 300, "161.49")],
    )
    assert high is not None and high.tiers_entered == () and high.tier == 2
    assert render_explanation(high, "en").endswith(
        "Your usage this year is already in tier 2, 0.5383 yuan/kWh."
    )
    low = explain_bill(
        ACCOUNT,
        [reading("2026-03", 200), reading("2026-04", 200)],
        [bill("2026-03", 200, "97.66"), bill("2026-04", 200, "97.66")],
    )
    assert low is not None
    assert render_explanation(low, "zh") == (
        "2026年4月用电200度，电费97.66元。比上月持平（200度）。今年累计400度，仍在第一档。"
    )


def test_no_bill() -> None:
    assert explain_bill(ACCOUNT, [], []) is None
