"""content/billing/tariff.yml says what the FAQ answers say: every threshold and price in
the YAML appears in the tiered-pricing and time-of-use answers (zh and en), and the
surcharges the FAQ names are the tier prices' differences."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
import yaml

from bot.billing.tariff import load_tariff
from tests.conftest import ROOT


def answers(name: str) -> list[str]:
    data = yaml.safe_load((ROOT / "data" / "faq" / "answers.yml").read_text(encoding="utf-8"))
    return [variant["text"] for variant in data["responses"][f"utter_faq/{name}"]]


def numbers(text: str) -> set[D]:
    return {D(n) for n in re.findall(r"\d+(?:\.\d+)?", text)}


# The zh SMS variant (2) abbreviates: it gives tier 1 only, checked below.
@pytest.mark.parametrize("variant", [0, 1, 3])
def test_tier_thresholds_and_prices_are_the_faqs(variant: int) -> None:
    text = answers("tiered_pricing")[variant]
    tariff = load_tariff()
    found = numbers(text)
    for tier in tariff.tiers:
        assert tier.price in found, f"{tier.price} not in {text!r}"
        if tier.upper_kwh is not None:
            assert tier.upper_kwh in found, f"{tier.upper_kwh} not in {text!r}"


def test_the_faq_states_each_tier_range() -> None:
    zh, en, zh_sms = answers("tiered_pricing")[:3]
    assert "年用电2880度内0.4883元/度" in zh_sms
    assert "0-2880度：0.4883元/度" in zh
    assert "2881-4800度：0.5383元/度" in zh
    assert "4800度以上：0.7883元/度" in zh
    assert "0-2880 kWh: 0.4883" in en and "2881-4800 kWh: 0.5383" in en
    assert "above 4800 kWh: 0.7883" in en
    assert [(t.lower_kwh, t.upper_kwh) for t in load_tariff().tiers] == [
        (D(0), D(2880)),
        (D(2880), D(4800)),
        (D(4800), None),
    ]


@pytest.mark.parametrize("variant", range(4))
def test_time_of_use_prices_are_the_faqs(variant: int) -> None:
    text = answers("time_of_use")[variant]
    tariff = load_tariff()
    found = numbers(text)
    assert tariff.peak_price in found and tariff.valley_price in found


def test_time_of_use_hours_and_surcharges_are_the_faqs() -> None:
    zh, en = answers("time_of_use")[:2]
    tariff = load_tariff()
    assert f"峰时{tariff.peak_hours}" in zh
    assert tariff.valley_hours in en.replace("Off-peak ", "")
    # "进入第二、三档后分别加0.05、0.30元" / "Tiers 2 and 3 add 0.05 and 0.30"
    assert "加0.05、0.30元" in zh and "add 0.05 and 0.30" in en
    assert (tariff.surcharge(2), tariff.surcharge(3)) == (D("0.05"), D("0.30"))
    assert tariff.surcharge(1) == 0
