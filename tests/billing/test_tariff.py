"""The tier arithmetic against hand-worked examples.

Every expected figure below was worked out by hand from the FAQ's prices (tier 1 0.4883,
tier 2 0.5383, tier 3 0.7883 yuan/kWh over 2880 and 4800 kWh a year; peak 0.5483,
off-peak 0.2983, surcharges 0.05 and 0.30), each line rounded half-up to 0.01 yuan and the
total the sum of the lines. None of them is recomputed by the code under test.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.accounts.models import Reading
from bot.billing.tariff import Tariff, TariffError, load_tariff, money, used_before


@pytest.fixture(scope="module")
def tariff() -> Tariff:
    return load_tariff()


def lines(charge_lines: object) -> list[tuple[str, int | None, str, str]]:
    return [(line.kind, line.tier, str(line.kwh), str(line.amount)) for line in charge_lines]  # type: ignore[attr-defined]


def test_within_tier_one(tariff: Tariff) -> None:
    # 312 x 0.4883 = 152.3496 -> 152.35
    c = tariff.charge(D(312), D(0))
    assert lines(c.lines) == [("tier", 1, "312", "152.35")]
    assert c.total == D("152.35")
    assert c.tiers_entered == () and c.tier_at_end == 1


def test_exactly_at_the_first_threshold_is_all_tier_one(tariff: Tariff) -> None:
    # 2880 x 0.4883 = 1406.304 -> 1406.30
    c = tariff.charge(D(2880), D(0))
    assert lines(c.lines) == [("tier", 1, "2880", "1406.30")]
    assert c.total == D("1406.30")
    assert c.tiers_entered == () and c.tier_at_end == 1


def test_one_kwh_over_the_first_threshold(tariff: Tariff) -> None:
    # 1406.30 + 1 x 0.5383 = 0.5383 -> 0.54; total 1406.84
    c = tariff.charge(D(2881), D(0))
    assert lines(c.lines) == [("tier", 1, "2880", "1406.30"), ("tier", 2, "1", "0.54")]
    assert c.total == D("1406.84")
    assert c.tiers_entered == (2,) and c.tier_at_end == 2


def test_a_month_ending_exactly_at_the_threshold_then_the_next_month(tariff: Tariff) -> None:
    # Before 2500, this month 380: 380 x 0.4883 = 185.554 -> 185.55, the year at 2880.
    c = tariff.charge(D(380), D(2500))
    assert lines(c.lines) == [("tier", 1, "380", "185.55")]
    assert c.tiers_entered == ()
    # Next month starts exactly at 2880: all 100 in tier 2, 100 x 0.5383 = 53.83.
    n = tariff.charge(D(100), D(2880))
    assert lines(n.lines) == [("tier", 2, "100", "53.83")]
    assert n.total == D("53.83")
    assert n.tiers_entered == (2,)


def test_a_month_crossing_into_tier_two(tariff: Tariff) -> None:
    # Before 2500, this month 500: 380 in tier 1 (185.554 -> 185.55), 120 in tier 2
    # (64.596 -> 64.60); total 250.15.
    c = tariff.charge(D(500), D(2500))
    assert lines(c.lines) == [("tier", 1, "380", "185.55"), ("tier", 2, "120", "64.60")]
    assert c.total == D("250.15")
    assert c.used_after == D(3000)
    assert c.tiers_entered == (2,) and c.tier_at_end == 2


def test_exactly_at_the_second_threshold_and_one_over(tariff: Tariff) -> None:
    # Before 4500, 300: all tier 2, 300 x 0.5383 = 161.49.
    at = tariff.charge(D(300), D(4500))
    assert lines(at.lines) == [("tier", 2, "300", "161.49")]
    assert at.total == D("161.49") and at.tier_at_end == 2 and at.tiers_entered == ()
    # 301: plus 1 x 0.7883 -> 0.79; total 162.28.
    over = tariff.charge(D(301), D(4500))
    assert lines(over.lines) == [("tier", 2, "300", "161.49"), ("tier", 3, "1", "0.79")]
    assert over.total == D("162.28") and over.tiers_entered == (3,) and over.tier_at_end == 3


def test_a_month_crossing_two_tiers(tariff: Tariff) -> None:
    # Before 2800, this month 2100 (year at 4900): 80 x 0.4883 = 39.064 -> 39.06,
    # 1920 x 0.5383 = 1033.536 -> 1033.54, 100 x 0.7883 = 78.83; total 1151.43.
    c = tariff.charge(D(2100), D(2800))
    assert lines(c.lines) == [
        ("tier", 1, "80", "39.06"),
        ("tier", 2, "1920", "1033.54"),
        ("tier", 3, "100", "78.83"),
    ]
    assert c.total == D("1151.43")
    assert c.tiers_entered == (2, 3) and c.tier_at_end == 3


def test_deep_in_tier_three(tariff: Tariff) -> None:
    # Before 6000, 100: 100 x 0.7883 = 78.83.
    c = tariff.charge(D(100), D(6000))
    assert lines(c.lines) == [("tier", 3, "100", "78.83")]
    assert c.tiers_entered == ()


def test_rounding_is_half_up_per_line(tariff: Tariff) -> None:
    # 150 x 0.4883 = 73.245: half-up 73.25 (half-even would give 73.24).
    assert tariff.charge(D(150), D(0)).total == D("73.25")
    assert money(D("0.005")) == D("0.01")
    assert money(D("2.675")) == D("2.68")


def test_fractional_kwh(tariff: Tariff) -> None:
    # Before 2879.5, 1.5 kWh: 0.5 x 0.4883 = 0.24415 -> 0.24; 1 x 0.5383 -> 0.54; 0.78.
    c = tariff.charge(D("1.5"), D("2879.5"))
    assert lines(c.lines) == [("tier", 1, "0.5", "0.24"), ("tier", 2, "1.0", "0.54")]
    assert c.total == D("0.78")


def test_time_of_use_within_tier_one(tariff: Tariff) -> None:
    # Peak 300 x 0.5483 = 164.49, off-peak 200 x 0.2983 = 59.66; total 224.15.
    c = tariff.charge(D(500), D(0), peak_kwh=D(300), valley_kwh=D(200))
    assert lines(c.lines) == [("peak", None, "300", "164.49"), ("valley", None, "200", "59.66")]
    assert c.total == D("224.15")


def test_time_of_use_crossing_into_tier_two(tariff: Tariff) -> None:
    # Before 2700, 500 (300 peak, 200 off-peak): 164.49 + 59.66, and the 320 kWh above
    # 2880 pay 0.05 more: 16.00; total 240.15.
    c = tariff.charge(D(500), D(2700), peak_kwh=D(300), valley_kwh=D(200))
    assert lines(c.lines) == [
        ("peak", None, "300", "164.49"),
        ("valley", None, "200", "59.66"),
        ("surcharge", 2, "320", "16.00"),
    ]
    assert c.total == D("240.15")
    assert c.tiers_entered == (2,)


def test_time_of_use_crossing_two_tiers(tariff: Tariff) -> None:
    # Before 4700, 300 (200 peak, 100 off-peak): 200 x 0.5483 = 109.66, 100 x 0.2983 =
    # 29.83, 100 kWh of tier 2 x 0.05 = 5.00, 200 kWh of tier 3 x 0.30 = 60.00; 204.49.
    # (Tier 2 starts at 2881, so from 4700 only 100 kWh remain in it.)
    c = tariff.charge(D(300), D(4700), peak_kwh=D(200), valley_kwh=D(100))
    assert lines(c.lines) == [
        ("peak", None, "200", "109.66"),
        ("valley", None, "100", "29.83"),
        ("surcharge", 2, "100", "5.00"),
        ("surcharge", 3, "200", "60.00"),
    ]
    assert c.total == D("204.49")
    assert c.tiers_entered == (3,)


def test_time_of_use_needs_both_halves_adding_up(tariff: Tariff) -> None:
    with pytest.raises(TariffError):
        tariff.charge(D(500), D(0), peak_kwh=D(300), valley_kwh=D(100))
    with pytest.raises(TariffError):
        tariff.charge(D(500), D(0), peak_kwh=D(500))
    with pytest.raises(TariffError):
        tariff.charge(D(-1), D(0))


def test_the_plan_decides_time_of_use(tariff: Tariff) -> None:
    reading = Reading("2026-07", D(500), D(300), D(200))
    assert tariff.charge_reading("residential_tiered", reading, D(0)).total == D("244.15")
    # 500 x 0.4883 = 244.15 flat; 164.49 + 59.66 = 224.15 time-of-use.
    assert tariff.charge_reading("residential_tiered_tou", reading, D(0)).total == D("224.15")
    with pytest.raises(TariffError):
        tariff.charge_reading("business", reading, D(0))


def test_used_before_counts_the_same_billing_year_only() -> None:
    readings = [
        Reading("2025-11", D(400), D(0), D(0)),
        Reading("2025-12", D(500), D(0), D(0)),
        Reading("2026-01", D(300), D(0), D(0)),
        Reading("2026-02", D(200), D(0), D(0)),
        Reading("2026-03", D(100), D(0), D(0)),
    ]
    assert used_before(readings, "2026-03") == D(500)
    assert used_before(readings, "2026-01") == D(0)
    assert used_before(readings, "2025-12") == D(400)


def test_a_malformed_tariff_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "tariff.yml"
    bad.write_text(
        "tiers:\n  - {tier: 1, up_to_kwh: 100, price: abc}\n"
        "time_of_use: {peak: {hours: x, price: 1}, valley: {hours: y, price: 1}}\nplans: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(TariffError, match=r"tiers\[0\]\.price"):
        load_tariff(bad)
    bounded = tmp_path / "bounded.yml"
    bounded.write_text(
        "tiers:\n  - {tier: 1, up_to_kwh: 100, price: 1}\n"
        "time_of_use: {peak: {hours: x, price: 1}, valley: {hours: y, price: 1}}\nplans: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(TariffError, match="unbounded"):
        load_tariff(bounded)
