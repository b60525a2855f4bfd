"""content/accounts/demo_accounts.json is exactly what scripts/make_demo_accounts.py makes
(so it cannot drift), small, and every stored bill is the tariff's charge."""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal as D
from typing import Any

from bot.accounts.areas import load_areas
from bot.accounts.demo import DEMO_FILE
from bot.billing.tariff import load_tariff
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import make_demo_accounts  # noqa: E402


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_file_is_what_the_script_makes() -> None:
    assert DEMO_FILE.read_text(encoding="utf-8") == make_demo_accounts.render(
        make_demo_accounts.generate()
    ), "run .venv/bin/python scripts/make_demo_accounts.py"
    assert make_demo_accounts.main(["--check"]) == 0


def test_the_file_is_modest() -> None:
    assert DEMO_FILE.stat().st_size < 1024 * 1024


def test_a_few_hundred_accounts_across_all_areas_and_both_languages() -> None:
    accounts = data()["accounts"]
    assert 200 <= len(accounts) <= 500
    assert {a["area"] for a in accounts} == set(load_areas())
    assert {a["language"] for a in accounts} == {"zh", "en"}
    assert {a["tariff"] for a in accounts} == set(load_tariff().plans)
    assert len({a["id"] for a in accounts}) == len(accounts)
    assert all(re.fullmatch(r"\+86138000\d{5}", a["phone"]) for a in accounts)


def test_every_stored_bill_is_the_tariffs_charge() -> None:
    tariff = load_tariff()
    checked = 0
    for account in data()["accounts"]:
        variants = [account["years"], *account.get("by_month", {}).values()]
        for years in variants:
            assert len(years) == 2 and all(len(year) == 12 for year in years)
            for year in years:
                used = D(0)
                for kwh, peak, valley, amount in year:
                    assert peak + valley == kwh
                    if tariff.plan(account["tariff"]).time_of_use:
                        charge = tariff.charge(D(kwh), used, peak_kwh=D(peak), valley_kwh=D(valley))
                    else:
                        charge = tariff.charge(D(kwh), used)
                    assert charge.total == D(amount), (account["id"], kwh, used)
                    used += D(kwh)
                    checked += 1
    assert checked >= 300 * 24


def test_the_seasons_cross_tiers() -> None:
    """Enough accounts cross tier 2 (and some tier 3) within a year for "why is my bill
    high" to have something to show."""
    accounts = data()["accounts"]
    yearly = [sum(month[0] for month in a["years"][1]) for a in accounts]
    assert sum(total > 2880 for total in yearly) >= len(accounts) // 4
    assert sum(total > 4800 for total in yearly) >= 10

    # And the seasons: July and January above April on average.
    def mean(month: int) -> float:
        return sum(a["years"][1][month][0] for a in accounts) / len(accounts)

    assert mean(6) > mean(3) and mean(0) > mean(3)
