"""The demo account backend: synthetic customers from content/accounts/demo_accounts.json
(made by scripts/make_demo_accounts.py), always current, with payments kept in Redis.

The file stores no dates. Each account has two billing years by calendar month; the current
bill is last month's (relative to `today`), year 1 is the current bill's calendar year and
year 0 the one before, and an account shows the 13 months ending at the current bill. A
bill is issued on the 1st of the month after its period and due `due_after_days` later.
Older bills were paid `pay_lag_days` after issue; the current bill is paid on issue for
autopay accounts and unpaid for the others, until record_payment() says otherwise.

Payments (the "backend recorded a payment" a reminder must notice) live in the Redis hash
kefu:accounts:demo:payments:{account_id}, field period → ISO date, so they survive restarts
and every process sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.accounts.backend import BackendUnavailable
from bot.accounts.models import Account, Bill, Reading
from bot.accounts.periods import add_months, period_of
from bot.settings import DEFAULT_TIMEZONE

DEMO_FILE = Path(__file__).resolve().parents[2] / "content" / "accounts" / "demo_accounts.json"
PAYMENTS_KEY = "kefu:accounts:demo:payments:{}"
MONTHS_SHOWN = 13


def current_period(today: date) -> str:
    """The period of the current bill: last month."""
    return add_months(period_of(today), -1)


def issue_date(period: str) -> date:
    """A bill is issued on the 1st of the month after its period."""
    following = add_months(period, 1)
    return date(int(following[:4]), int(following[5:7]), 1)


@dataclass(frozen=True)
class _Stored:
    account: Account
    autopay: bool
    pay_lag_days: int
    years: list[list[list[Any]]]  # [year 0, year 1], 12 months of [kwh, peak, valley, "amount"]
    by_month: dict[str, list[list[list[Any]]]]  # calendar month of the current bill → years


@dataclass(frozen=True)
class _Data:
    due_after_days: int
    accounts: dict[str, _Stored]  # by id, in file order
    by_phone: dict[str, list[str]]
    by_area: dict[str, list[str]]


@lru_cache(maxsize=4)
def _load(path: Path) -> _Data:
    # Loaded once per process (per path): a few hundred KB, read far more than it changes.
    raw = json.loads(path.read_text(encoding="utf-8"))
    accounts: dict[str, _Stored] = {}
    by_phone: dict[str, list[str]] = {}
    by_area: dict[str, list[str]] = {}
    for item in raw["accounts"]:
        account = Account(
            id=item["id"],
            holder_phone=item["phone"],
            name=item["name"],
            address=item["address"],
            area=item["area"],
            tariff=item["tariff"],
            language=item["language"],
        )
        accounts[account.id] = _Stored(
            account, item["autopay"], item["pay_lag_days"], item["years"], item.get("by_month", {})
        )
        by_phone.setdefault(account.holder_phone, []).append(account.id)
        by_area.setdefault(account.area, []).append(account.id)
    return _Data(int(raw["due_after_days"]), accounts, by_phone, by_area)


def company_today(timezone: str = DEFAULT_TIMEZONE) -> Callable[[], date]:
    """A `today` for DemoBackend: the date in the company's time zone."""
    zone = ZoneInfo(timezone)
    return lambda: datetime.now(zone).date()


class DemoBackend:
    """AccountBackend over the demo file. `today` is injectable so tests (and a simulated
    month of reminders) can pin or move the date; `redis` None means no payment overlay."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        path: Path | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self._redis = redis
        self._data = _load((path or DEMO_FILE).resolve())
        self._today = today or company_today()

    # ------------------------------------------------------------ AccountBackend
    async def accounts_for_phone(self, phone: str) -> list[Account]:
        return [self._data.accounts[i].account for i in self._data.by_phone.get(phone, [])]

    async def account(self, account_id: str) -> Account | None:
        stored = self._data.accounts.get(account_id)
        return stored.account if stored else None

    async def readings(self, account_id: str) -> list[Reading]:
        stored = self._data.accounts.get(account_id)
        if stored is None:
            return []
        return [
            Reading(period, Decimal(row[0]), Decimal(row[1]), Decimal(row[2]))
            for period, row in self._months(stored)
        ]

    async def bills(self, account_id: str) -> list[Bill]:
        stored = self._data.accounts.get(account_id)
        if stored is None:
            return []
        payments = await self._payments(account_id)
        today = self._today()
        current = current_period(today)
        due_after = timedelta(days=self._data.due_after_days)
        bills = []
        for period, row in self._months(stored):
            issued = issue_date(period)
            paid: date | None = None
            if period != current:
                paid = issued + timedelta(days=stored.pay_lag_days)
            elif stored.autopay:
                paid = issued
            if period in payments:
                paid = payments[period]
            bills.append(
                Bill(
                    account_id=account_id,
                    period=period,
                    kwh=Decimal(row[0]),
                    amount=Decimal(row[3]),
                    issued_on=issued,
                    due_on=issued + due_after,
                    paid_on=paid,
                )
            )
        return bills

    async def holders_in_areas(self, areas: Sequence[str]) -> list[Account]:
        seen: dict[str, Account] = {}
        for area_id in areas:
            for account_id in self._data.by_area.get(area_id, []):
                seen.setdefault(account_id, self._data.accounts[account_id].account)
        return list(seen.values())

    # ------------------------------------------------------------ demo only
    async def record_payment(self, account_id: str, period: str, paid_on: date) -> None:
        """Record that the bill of `period` was paid on `paid_on` (what a real billing
        system would report). ValueError for an unknown account, period or no Redis."""
        if self._redis is None:
            raise ValueError("the demo backend has no Redis to record payments in")
        stored = self._data.accounts.get(account_id)
        if stored is None:
            raise ValueError(f"unknown account {account_id!r}")
        if period not in {p for p, _ in self._months(stored)}:
            raise ValueError(f"account {account_id} has no bill for {period!r}")
        await self._redis.hset(PAYMENTS_KEY.format(account_id), period, paid_on.isoformat())

    def _months(self, stored: _Stored) -> list[tuple[str, list[Any]]]:
        """The 13 (period, row) ending at the current bill, oldest first."""
        current = current_period(self._today())
        year1 = int(current[:4])
        years = stored.by_month.get(str(int(current[5:7])), stored.years)
        out = []
        for back in range(MONTHS_SHOWN - 1, -1, -1):
            period = add_months(current, -back)
            year_index = 1 if int(period[:4]) == year1 else 0
            out.append((period, years[year_index][int(period[5:7]) - 1]))
        return out

    async def _payments(self, account_id: str) -> dict[str, date]:
        if self._redis is None:
            return {}
        try:
            raw = await self._redis.hgetall(PAYMENTS_KEY.format(account_id))
        except RedisError as exc:
            # Without the payments a bill might be shown unpaid when it is paid: say sorry
            # (BackendUnavailable) rather than tell a customer they owe what they paid.
            raise BackendUnavailable(f"demo payments unreadable: {exc}") from exc
        return {str(k): date.fromisoformat(str(v)) for k, v in raw.items()}
