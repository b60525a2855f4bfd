"""The HTTP account backend: the company's customer-data service, configured by URL.

The API it expects (JSON; every path relative to KEFU_ACCOUNTS_URL; path parts
URL-encoded, so a phone's "+" travels as %2B):

    GET /phones/{phone}/accounts   -> {"accounts": [ACCOUNT, ...]}     404: no accounts
    GET /accounts/{id}             -> ACCOUNT                           404: unknown
    GET /accounts/{id}/readings    -> {"readings": [READING, ...]}      oldest first
    GET /accounts/{id}/bills       -> {"bills": [BILL, ...]}            oldest first
    GET /areas/{area}/holders      -> {"accounts": [ACCOUNT, ...]}

    ACCOUNT = {"id": "1100000001", "holder_phone": "+8613800000001", "name": "...",
               "address": "...", "area": "chaoyang", "tariff": "residential_tiered",
               "language": "zh"}
    READING = {"period": "2026-11", "kwh": "412", "peak_kwh": "280", "valley_kwh": "132"}
    BILL    = {"account_id": "1100000001", "period": "2026-11", "kwh": "412",
               "amount": "201.18", "issued_on": "2026-12-01", "due_on": "2026-12-25",
               "paid_on": null}

kWh and amounts are decimal strings (or JSON numbers; strings avoid binary floats), dates
ISO 8601. A 404 means "none": None for one account, [] for a list. Every request gets
KEFU_ACCOUNTS_TIMEOUT_S in total; connection errors, timeouts and 5xx are retried
KEFU_ACCOUNTS_RETRIES times with exponential backoff (0.2 s, 0.4 s, ...), since they are
usually momentary; any other 4xx is not (asking again gets the same answer). When the
retries are used up, or an answer is not the shape above, BackendUnavailable is raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.accounts.backend import BackendUnavailable
from bot.accounts.models import Account, Bill, Reading
from bot.phones import mask

log = logging.getLogger(__name__)


class _Malformed(ValueError):
    pass


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Malformed(f"not a number: {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _Malformed(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise _Malformed(f"not a number: {value!r}")
    return result


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise _Malformed(f"not a date: {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Malformed(f"not a date: {value!r}") from None


def _text(item: dict[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str):
        raise _Malformed(f"{key} is not text")
    return value


def parse_account(item: Any) -> Account:
    if not isinstance(item, dict):
        raise _Malformed("an account is not an object")
    return Account(
        id=_text(item, "id"),
        holder_phone=_text(item, "holder_phone"),
        name=_text(item, "name"),
        address=_text(item, "address"),
        area=_text(item, "area"),
        tariff=_text(item, "tariff"),
        language=_text(item, "language"),
    )


def parse_reading(item: Any) -> Reading:
    if not isinstance(item, dict):
        raise _Malformed("a reading is not an object")
    return Reading(
        period=_text(item, "period"),
        kwh=_decimal(item["kwh"]),
        peak_kwh=_decimal(item.get("peak_kwh", 0)),
        valley_kwh=_decimal(item.get("valley_kwh", 0)),
    )


def parse_bill(item: Any) -> Bill:
    if not isinstance(item, dict):
        raise _Malformed("a bill is not an object")
    paid = item.get("paid_on")
    return Bill(
        account_id=_text(item, "account_id"),
        period=_text(item, "period"),
        kwh=_decimal(item["kwh"]),
        amount=_decimal(item["amount"]),
        issued_on=_date(item["issued_on"]),
        due_on=_date(item["due_on"]),
        paid_on=None if paid is None else _date(paid),
    )


def _list(body: Any, key: str) -> list[Any]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise _Malformed(f'expected {{"{key}": [...]}}')
    return items


class HttpBackend:
    """AccountBackend over HTTP. One per process; its aiohttp session is made on first use
    (inside the running loop) and closed by close()."""

    def __init__(
        self, url: str, *, timeout_s: float = 3.0, retries: int = 2, backoff_s: float = 0.2
    ) -> None:
        self._url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, *parts: str) -> Any | None:
        """The JSON body of GET url/parts..., None for a 404."""
        path = "/".join(quote(part, safe="") for part in parts)
        url = f"{self._url}/{path}"
        shown = "/".join(mask(p) if p.startswith("+") else p for p in parts)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        for attempt in range(self._retries + 1):
            try:
                async with self._session.get(url) as response:
                    if response.status == 404:
                        return None
                    if response.status < 500:
                        if response.status >= 400:
                            raise BackendUnavailable(f"accounts API {shown}: {response.status}")
                        try:
                            return await response.json(content_type=None)
                        except ValueError as exc:
                            raise BackendUnavailable(f"accounts API {shown}: not JSON") from exc
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self._retries:
                log.warning("accounts API %s: %s, retrying", shown, problem)
                await asyncio.sleep(self._backoff_s * 2**attempt)
        raise BackendUnavailable(
            f"accounts API {shown}: {problem} after {self._retries + 1} attempts"
        )

    async def _parsed(self, parse: Any, *parts: str) -> Any:
        body = await self._get(*parts)
        if body is None:
            return None
        try:
            return parse(body)
        except (_Malformed, KeyError) as exc:
            raise BackendUnavailable(f"accounts API {parts[0]}: malformed answer ({exc})") from exc

    async def accounts_for_phone(self, phone: str) -> list[Account]:
        found = await self._parsed(
            lambda b: [parse_account(i) for i in _list(b, "accounts")], "phones", phone, "accounts"
        )
        return found or []

    async def account(self, account_id: str) -> Account | None:
        found: Account | None = await self._parsed(parse_account, "accounts", account_id)
        return found

    async def readings(self, account_id: str) -> list[Reading]:
        found = await self._parsed(
            lambda b: [parse_reading(i) for i in _list(b, "readings")],
            "accounts",
            account_id,
            "readings",
        )
        return sorted(found or [], key=lambda r: r.period)

    async def bills(self, account_id: str) -> list[Bill]:
        found = await self._parsed(
            lambda b: [parse_bill(i) for i in _list(b, "bills")], "accounts", account_id, "bills"
        )
        return sorted(found or [], key=lambda b: b.period)

    async def holders_in_areas(self, areas: Sequence[str]) -> list[Account]:
        seen: dict[str, Account] = {}
        for area_id in areas:
            found = await self._parsed(
                lambda b: [parse_account(i) for i in _list(b, "accounts")],
                "areas",
                area_id,
                "holders",
            )
            for account in found or []:
                seen.setdefault(account.id, account)
        return list(seen.values())
