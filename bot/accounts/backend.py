"""The one interface account data comes through (bot.accounts.demo, bot.accounts.http)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.accounts.models import Account, Bill, Reading


class BackendUnavailable(Exception):
    """The backend did not answer usably (timeout, connection error, 5xx, malformed answer)
    after its retries: tell the customer sorry and give the hotline."""


class AccountBackend(Protocol):
    async def accounts_for_phone(self, phone: str) -> list[Account]:
        """The accounts whose holder has this E.164 phone ([] for none)."""
        ...

    async def account(self, account_id: str) -> Account | None: ...

    async def readings(self, account_id: str) -> list[Reading]:
        """Monthly readings, oldest first ([] for an unknown account)."""
        ...

    async def bills(self, account_id: str) -> list[Bill]:
        """Bills, oldest first; the last is the current one ([] for an unknown account)."""
        ...

    async def holders_in_areas(self, areas: Sequence[str]) -> list[Account]:
        """Every account in any of these areas, once each."""
        ...
