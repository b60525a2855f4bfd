"""How figures are written in bill answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from bot.billing.texts import day_label, kwh, period_label, price, text, yuan


def test_figures() -> None:
    assert kwh(D(412)) == "412"
    assert kwh(D("412.0")) == "412"
    assert kwh(D("12.50")) == "12.5"
    assert kwh(D("4.12E+2")) == "412"
    assert price(D("0.4883")) == "0.4883"
    assert price(D("0.0500")) == "0.05"
    assert price(D("0.3000")) == "0.30"
    assert price(D(1)) == "1.00"
    assert yuan(D("250.1")) == "250.10"


def test_periods_and_dates() -> None:
    assert period_label("2026-02", "zh") == "2026年2月"
    assert period_label("2026-02", "en") == "Feb 2026"
    assert day_label(date(2026, 3, 25), "zh") == "3月25日"
    assert day_label(date(2026, 3, 25), "en") == "25 Mar"


def test_both_languages_have_every_wording() -> None:
    # A key missing in one language would only fail when a customer of it asks.
    for key in ("statement", "explain", "tier_crossed", "status_overdue", "line_surcharge"):
        assert text("zh", key, **_blank()) and text("en", key, **_blank())


def _blank() -> dict[str, object]:
    names = "period amount kwh status lines changes tier_note threshold tier price due".split()
    return {name: "x" for name in names}
