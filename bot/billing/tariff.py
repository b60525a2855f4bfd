"""The residential tariff (content/billing/tariff.yml) and the arithmetic of one month's bill.

Money is Decimal, never float. Rounding rule: each line of a bill (a tier's kWh times its
price, a peak or off-peak line, a tier surcharge) is rounded half-up to 0.01 yuan; the
bill's total is the sum of its rounded lines, so the lines a customer reads always add up
to the total they pay. kWh are not rounded.

Tiers (阶梯电价) are cumulative over the billing year (1 January to 31 December): a tier
covers usage up to and including its `up_to_kwh`, so with tiers 2880/4800 the 2880th kWh
of the year is tier 1 and the 2881st tier 2. A month's charge therefore depends on what
was used earlier in the year: `charge(month_kwh, used_before)` splits the month across
the tiers it touches, and one month can cross one tier or two.

Time-of-use (峰谷) is an option the holder applies for: peak and off-peak kWh are charged at
their (tier-1) prices, and the part of the month that falls in tier 2 or 3 pays that tier's
surcharge (tier price minus tier-1 price) on top, which is what the FAQ says ("Tiers 2 and
3 add 0.05 and 0.30"). Accounts on plan `residential_tiered_tou` are billed that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.accounts.models import Reading

TARIFF_FILE = Path(__file__).resolve().parents[2] / "content" / "billing" / "tariff.yml"
CENT = Decimal("0.01")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """`value` rounded half-up to 0.01 yuan (the rounding rule of every bill line)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class TariffError(ValueError):
    """tariff.yml is missing or malformed, or a charge was asked with impossible figures."""


@dataclass(frozen=True)
class Tier:
    number: int
    lower_kwh: Decimal  # usage above this (exclusive) ...
    upper_kwh: Decimal | None  # ... up to this (inclusive); None: no upper bound
    price: Decimal


@dataclass(frozen=True)
class Plan:
    id: str
    time_of_use: bool
    zh: str
    en: str

    def name(self, language: str) -> str:
        return self.zh if language.startswith("zh") else self.en


@dataclass(frozen=True)
class ChargeLine:
    """One line of a bill. kind: "tier" (kWh of that tier at its price), "peak" / "valley"
    (time-of-use kWh at their price; tier None), "surcharge" (time-of-use kWh that fell in
    `tier`, at that tier's surcharge)."""

    kind: str
    tier: int | None
    kwh: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Charge:
    lines: tuple[ChargeLine, ...]
    total: Decimal
    used_before: Decimal  # kWh used earlier in the billing year
    used_after: Decimal  # ... including this month
    tiers_entered: tuple[int, ...]  # tiers this month's usage reached for the first time this year
    tier_at_end: int  # the tier the year's usage is in after this month


@dataclass(frozen=True)
class Tariff:
    tiers: tuple[Tier, ...]
    peak_price: Decimal
    valley_price: Decimal
    peak_hours: str
    valley_hours: str
    plans: dict[str, Plan]

    def surcharge(self, tier: int) -> Decimal:
        """What a kWh in `tier` costs on top of the tier-1 price."""
        return self.tiers[tier - 1].price - self.tiers[0].price

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise TariffError(f"unknown tariff plan {plan_id!r}") from None

    def split(self, month_kwh: Decimal, used_before: Decimal) -> list[tuple[Tier, Decimal]]:
        """The month's kWh per tier it touches (tiers with no kWh left out), lowest first."""
        if month_kwh < 0 or used_before < 0:
            raise TariffError("kWh cannot be negative")
        after = used_before + month_kwh
        parts = []
        for tier in self.tiers:
            top = after if tier.upper_kwh is None else min(after, tier.upper_kwh)
            kwh = top - max(used_before, tier.lower_kwh)
            if kwh > 0:
                parts.append((tier, kwh))
        return parts

    def tier_of(self, year_kwh: Decimal) -> int:
        """The tier the `year_kwh`-th kWh of the year is billed in (1 for none yet)."""
        for tier in self.tiers:
            if tier.upper_kwh is None or year_kwh <= tier.upper_kwh:
                return tier.number
        return self.tiers[-1].number  # pragma: no cover - the last tier is unbounded

    def charge(
        self,
        month_kwh: Decimal,
        used_before: Decimal,
        *,
        peak_kwh: Decimal | None = None,
        valley_kwh: Decimal | None = None,
    ) -> Charge:
        """One month's charge. With peak_kwh and valley_kwh (they must add up to month_kwh)
        it is billed time-of-use, otherwise at the tier prices."""
        parts = self.split(month_kwh, used_before)
        lines: list[ChargeLine] = []
        if peak_kwh is None and valley_kwh is None:
            lines = [
                ChargeLine("tier", tier.number, kwh, tier.price, money(kwh * tier.price))
                for tier, kwh in parts
            ]
        else:
            if peak_kwh is None or valley_kwh is None or peak_kwh + valley_kwh != month_kwh:
                raise TariffError(
                    "peak and off-peak kWh must both be given and add up to the month"
                )
            if peak_kwh < 0 or valley_kwh < 0:
                raise TariffError("kWh cannot be negative")
            lines = [
                ChargeLine(
                    "peak", None, peak_kwh, self.peak_price, money(peak_kwh * self.peak_price)
                ),
                ChargeLine(
                    "valley",
                    None,
                    valley_kwh,
                    self.valley_price,
                    money(valley_kwh * self.valley_price),
                ),
            ]
            for tier, kwh in parts:
                extra = self.surcharge(tier.number)
                if extra > 0:
                    lines.append(
                        ChargeLine("surcharge", tier.number, kwh, extra, money(kwh * extra))
                    )
        after = used_before + month_kwh
        entered = tuple(
            tier.number for tier in self.tiers[1:] if used_before <= tier.lower_kwh < after
        )
        return Charge(
            lines=tuple(lines),
            total=sum((line.amount for line in lines), ZERO),
            used_before=used_before,
            used_after=after,
            tiers_entered=entered,
            tier_at_end=self.tier_of(after),
        )

    def charge_reading(self, plan_id: str, reading: Reading, used_before: Decimal) -> Charge:
        """The charge for one month's meter reading on the account's plan."""
        if self.plan(plan_id).time_of_use:
            return self.charge(
                reading.kwh, used_before, peak_kwh=reading.peak_kwh, valley_kwh=reading.valley_kwh
            )
        return self.charge(reading.kwh, used_before)


def used_before(readings: Sequence[Reading], period: str) -> Decimal:
    """kWh used in `period`'s billing year before `period` ("YYYY-MM"), from `readings`
    (which must include every earlier month of that year)."""
    year = period[:4]
    return sum((r.kwh for r in readings if r.period[:4] == year and r.period < period), ZERO)


def _decimal(value: Any, where: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise TariffError(f"{where}: {value!r} is not a number") from None
    if not result.is_finite() or result < 0:
        raise TariffError(f"{where}: {value!r} is not a number >= 0")
    return result


def parse_tariff(data: dict[str, Any], where: str = "tariff") -> Tariff:
    """A Tariff from tariff.yml's mapping; TariffError names the bad entry."""
    try:
        tiers: list[Tier] = []
        lower = ZERO
        for index, entry in enumerate(data["tiers"]):
            upper = entry.get("up_to_kwh")
            price = _decimal(entry["price"], f"{where}: tiers[{index}].price")
            top = None if upper is None else _decimal(upper, f"{where}: tiers[{index}].up_to_kwh")
            if int(entry["tier"]) != index + 1 or (top is not None and top <= lower):
                raise TariffError(f"{where}: tiers[{index}] out of order")
            tiers.append(Tier(index + 1, lower, top, price))
            if top is None:
                if index != len(data["tiers"]) - 1:
                    raise TariffError(f"{where}: only the last tier may be unbounded")
                break
            lower = top
        if not tiers or tiers[-1].upper_kwh is not None:
            raise TariffError(f"{where}: the last tier must be unbounded (up_to_kwh: null)")
        tou = data["time_of_use"]
        plans = {
            str(plan_id): Plan(str(plan_id), bool(p["time_of_use"]), str(p["zh"]), str(p["en"]))
            for plan_id, p in data["plans"].items()
        }
        return Tariff(
            tiers=tuple(tiers),
            peak_price=_decimal(tou["peak"]["price"], f"{where}: time_of_use.peak.price"),
            valley_price=_decimal(tou["valley"]["price"], f"{where}: time_of_use.valley.price"),
            peak_hours=str(tou["peak"]["hours"]),
            valley_hours=str(tou["valley"]["hours"]),
            plans=plans,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, TariffError):
            raise
        raise TariffError(f"{where}: missing or malformed {exc}") from exc


@lru_cache(maxsize=4)
def _load(path: Path) -> Tariff:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TariffError(f"{path}: {exc}") from exc
    return parse_tariff(data, str(path))


def load_tariff(path: Path | None = None) -> Tariff:
    """The tariff in `path` (default content/billing/tariff.yml), parsed once per path."""
    return _load((path or TARIFF_FILE).resolve())
