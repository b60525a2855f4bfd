"""What an account backend returns: accounts, monthly meter readings, bills.

kWh and money are Decimal (money in yuan, two decimals); periods are calendar months
"YYYY-MM"; phones are E.164.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Account:
    id: str
    holder_phone: str  # E.164
    name: str
    address: str
    area: str  # an id of content/accounts/areas.yml
    tariff: str  # a plan of content/billing/tariff.yml
    language: str  # "zh" | "en": the holder's language for notices


@dataclass(frozen=True)
class Reading:
    period: str  # "YYYY-MM"
    kwh: Decimal
    peak_kwh: Decimal
    valley_kwh: Decimal


@dataclass(frozen=True)
class Bill:
    account_id: str
    period: str  # the month billed, "YYYY-MM"
    kwh: Decimal
    amount: Decimal
    issued_on: date
    due_on: date
    paid_on: date | None  # None: unpaid

    @property
    def paid(self) -> bool:
        return self.paid_on is not None
