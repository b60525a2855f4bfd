"""The current bill in plain language (ask_bill): amount, due date, consumption, and the
tariff lines that make up the amount, as data (BillStatement) and as zh/en text.

The lines are recomputed from the meter reading with bot.billing.tariff. They are shown
only when they add up to the amount the backend billed (`breakdown_matches`): a bill with
items the tariff does not know (an adjustment, a late fee) gets its amount and due date
without a breakdown that would contradict it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.accounts.models import Account, Bill, Reading
from bot.billing.tariff import Charge, ChargeLine, Tariff, TariffError, load_tariff, used_before
from bot.billing.texts import day_label, kwh, period_label, price, text, yuan


@dataclass(frozen=True)
class BillStatement:
    account: Account
    bill: Bill
    status: str  # "paid" | "due" | "overdue"
    charge: Charge | None  # None: no reading for the period
    breakdown_matches: bool  # the charge's lines add up to the billed amount
    year_kwh: Decimal | None  # the billing year's kWh through this period (None: unknown)
    tier: int | None  # the tier the year's usage is in after this period


def bill_status(bill: Bill, today: date) -> str:
    if bill.paid_on is not None:
        return "paid"
    return "overdue" if today > bill.due_on else "due"


def charge_for(
    account: Account, readings: Sequence[Reading], period: str, tariff: Tariff
) -> Charge | None:
    """The tariff's charge for `period`, from the readings; None without that reading, or
    when the tariff cannot price it (a plan it does not know, figures that do not add up:
    the customer still gets the billed amount, without a breakdown)."""
    reading = next((r for r in readings if r.period == period), None)
    if reading is None:
        return None
    try:
        return tariff.charge_reading(account.tariff, reading, used_before(readings, period))
    except TariffError:
        return None


def build_statement(
    account: Account,
    readings: Sequence[Reading],
    bills: Sequence[Bill],
    *,
    today: date,
    tariff: Tariff | None = None,
) -> BillStatement | None:
    """The statement of the current (latest) bill; None when the account has no bill."""
    if not bills:
        return None
    bill = bills[-1]
    charge = charge_for(account, readings, bill.period, tariff or load_tariff())
    matches = charge is not None and charge.total == bill.amount
    return BillStatement(
        account=account,
        bill=bill,
        status=bill_status(bill, today),
        charge=charge,
        breakdown_matches=matches,
        year_kwh=charge.used_after if charge else None,
        tier=charge.tier_at_end if charge else None,
    )


def render_line(line: ChargeLine, language: str) -> str:
    return text(
        language,
        f"line_{line.kind}",
        tier=line.tier,
        kwh=kwh(line.kwh),
        price=price(line.price),
        amount=yuan(line.amount),
    )


def render_statement(statement: BillStatement, language: str) -> str:
    """The statement as a short text in `language` (zh or en)."""
    bill = statement.bill
    status = text(
        language,
        f"status_{statement.status}",
        due=day_label(bill.due_on, language),
        paid=day_label(bill.paid_on, language) if bill.paid_on else "",
    )
    if statement.charge is not None and statement.breakdown_matches:
        separator = text(language, "line_separator")
        lines = separator.join(render_line(line, language) for line in statement.charge.lines)
        if statement.year_kwh is not None:
            lines += "\n" + text(
                language, "year_to_date", year_kwh=kwh(statement.year_kwh), tier=statement.tier
            )
    else:
        lines = text(language, "no_breakdown")
    return text(
        language,
        "statement",
        period=period_label(bill.period, language),
        amount=yuan(bill.amount),
        kwh=kwh(bill.kwh),
        status=status,
        lines=lines,
    )
