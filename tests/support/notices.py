"""Notice test helpers: an in-memory account backend and outage builders."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import redis.asyncio as aioredis

from bot.accounts.backend import BackendUnavailable
from bot.accounts.models import Account, Bill, Reading
from bot.outages.models import Outage
from bot.sms import outbox, sender


class FakeBackend:
    """AccountBackend over lists; `down` makes every call raise BackendUnavailable."""

    def __init__(self, accounts: Sequence[Account] = (), bills: Sequence[Bill] = ()) -> None:
        self.accounts = list(accounts)
        self.bill_list = list(bills)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("down")

    async def accounts_for_phone(self, phone: str) -> list[Account]:
        self._check()
        return [a for a in self.accounts if a.holder_phone == phone]

    async def account(self, account_id: str) -> Account | None:
        self._check()
        return next((a for a in self.accounts if a.id == account_id), None)

    async def readings(self, account_id: str) -> list[Reading]:
        self._check()
        return []

    async def bills(self, account_id: str) -> list[Bill]:
        self._check()
        return [b for b in self.bill_list if b.account_id == account_id]

    async def holders_in_areas(self, areas: Sequence[str]) -> list[Account]:
        self._check()
        return [a for a in self.accounts if a.area in areas]

    def pay(self, account_id: str, period: str, paid_on: date) -> None:
        self.bill_list = [
            dataclasses.replace(b, paid_on=paid_on)
            if (b.account_id, b.period) == (account_id, period)
            else b
            for b in self.bill_list
        ]


def account(account_id: str, phone: str, area: str = "chaoyang", language: str = "zh") -> Account:
    return Account(account_id, phone, "Test Holder", "1 Test Road", area, "residential", language)


def bill(account_id: str, period: str, due_on: date, amount: str = "123.45") -> Bill:
    return Bill(
        account_id,
        period,
        Decimal("200"),
        Decimal(amount),
        due_on - timedelta(days=14),
        due_on,
        None,
    )


def outage(
    *,
    kind: str = "fault",
    areas: Sequence[str] = ("chaoyang",),
    status: str = "announced",
    revision: int = 1,
    starts_in_h: float = 0.0,
    eta_in_h: float | None = 3.0,
    text: dict[str, str] | None = None,
    outage_id: str = "OG20261201-0001",
) -> Outage:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    starts = now + timedelta(hours=starts_in_h)
    return Outage(
        id=outage_id,
        areas=list(areas),
        kind=kind,
        starts_at=starts,
        eta=starts + timedelta(hours=eta_in_h) if eta_in_h is not None else None,
        cause="cable fault",
        text=text or {"zh": "线路故障抢修", "en": "A cable is being repaired."},
        status=status,
        revision=revision,
    )


async def drain(redis: aioredis.Redis, worker: sender.Sender) -> dict[str, str]:
    """Runs the sender once over every entry the outbox stream holds; id -> status."""
    entries = await redis.xrange(outbox.STREAM)
    await redis.delete(outbox.STREAM)
    return {fields["id"]: await worker.process(None, fields["id"]) for _id, fields in entries}


async def notices_by_phone(redis: aioredis.Redis) -> dict[str, list[dict[str, str]]]:
    """Every outbox message, grouped by recipient."""
    out: dict[str, list[dict[str, str]]] = {}
    for message_id in await redis.zrange(outbox.RECENT, 0, -1):
        record = await outbox.get(redis, message_id)
        if record:
            out.setdefault(record["to"], []).append(record)
    return out
