""" "Why is my bill so high": the current bill against the previous period and the same month
last year (percent change in kWh), and the tier this month's usage crossed, if any.

Percentages compare kWh, not yuan: the price per kWh changes with the tier, so kWh say what
the customer did and the tier note says what the tariff did. Each percentage is rounded
half-up to a whole percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.accounts.models import Account, Bill, Reading
from bot.accounts.periods import add_months
from bot.billing.statement import charge_for
from bot.billing.tariff import Tariff, load_tariff
from bot.billing.texts import kwh, period_label, price, text, yuan


@dataclass(frozen=True)
class Comparison:
    period: str
    kwh: Decimal
    amount: Decimal
    kwh_change_pct: int | None  # this bill's kWh against this one's; None when this had 0


@dataclass(frozen=True)
class BillExplanation:
    account: Account
    bill: Bill
    previous: Comparison | None  # the period before (None: no bill for it)
    last_year: Comparison | None  # the same month a year earlier
    tiers_entered: tuple[int, ...]  # tiers this month's usage reached for the first time
    tier: int | None  # the tier the year's usage is in after this month
    year_kwh: Decimal | None
    tier_thresholds: dict[int, Decimal]  # tier -> the kWh a year above which it applies
    tier_prices: dict[int, Decimal]


def percent_change(now: Decimal, before: Decimal) -> int | None:
    if before == 0:
        return None
    change = (now - before) * 100 / before
    return int(change.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _compare(bill: Bill, other: Bill | None) -> Comparison | None:
    if other is None:
        return None
    return Comparison(other.period, other.kwh, other.amount, percent_change(bill.kwh, other.kwh))


def explain_bill(
    account: Account,
    readings: Sequence[Reading],
    bills: Sequence[Bill],
    *,
    tariff: Tariff | None = None,
) -> BillExplanation | None:
    """Why the current (latest) bill is what it is; None when the account has no bill."""
    if not bills:
        return None
    tariff = tariff or load_tariff()
    bill = bills[-1]
    by_period = {b.period: b for b in bills}
    charge = charge_for(account, readings, bill.period, tariff)
    return BillExplanation(
        account=account,
        bill=bill,
        previous=_compare(bill, by_period.get(add_months(bill.period, -1))),
        last_year=_compare(bill, by_period.get(add_months(bill.period, -12))),
        tiers_entered=charge.tiers_entered if charge else (),
        tier=charge.tier_at_end if charge else None,
        year_kwh=charge.used_after if charge else None,
        tier_thresholds={t.number: t.lower_kwh for t in tariff.tiers},
        tier_prices={t.number: t.price for t in tariff.tiers},
    )


def _change(comparison: Comparison, against_key: str, language: str) -> str:
    against = text(language, against_key)
    pct = comparison.kwh_change_pct
    other = kwh(comparison.kwh)
    if pct is None or pct == 0:
        return text(language, "change_same", against=against, other_kwh=other) if pct == 0 else ""
    key = "change_up" if pct > 0 else "change_down"
    return text(language, key, against=against, pct=abs(pct), other_kwh=other)


def render_explanation(explanation: BillExplanation, language: str) -> str:
    changes = ""
    if explanation.previous:
        changes += _change(explanation.previous, "vs_previous", language)
    if explanation.last_year:
        changes += _change(explanation.last_year, "vs_last_year", language)
    tier_note = ""
    if explanation.tiers_entered:
        top = explanation.tiers_entered[-1]
        tier_note = text(
            language,
            "tier_crossed",
            threshold=kwh(explanation.tier_thresholds[top]),
            tier=top,
            price=price(explanation.tier_prices[top]),
        )
    elif explanation.tier and explanation.tier > 1:
        tier_note = text(
            language,
            "tier_already",
            tier=explanation.tier,
            price=price(explanation.tier_prices[explanation.tier]),
        )
    elif explanation.year_kwh is not None:
        tier_note = text(language, "tier_one", year_kwh=kwh(explanation.year_kwh))
    bill = explanation.bill
    return text(
        language,
        "explain",
        period=period_label(bill.period, language),
        kwh=kwh(bill.kwh),
        amount=yuan(bill.amount),
        changes=changes,
        tier_note=tier_note,
    ).strip()
