"""Customer account data: areas, accounts, readings and bills, behind one backend interface.

get_backend() gives the process's backend, chosen by KEFU_ACCOUNTS_BACKEND: the demo file
(bot.accounts.demo) or the customer-data API (bot.accounts.http).
"""

from __future__ import annotations

from functools import lru_cache

from bot import db
from bot.accounts.backend import AccountBackend, BackendUnavailable
from bot.accounts.demo import DemoBackend, company_today
from bot.accounts.http import HttpBackend
from bot.settings import Settings, get

__all__ = ["AccountBackend", "BackendUnavailable", "backend_for", "get_backend"]


def backend_for(settings: Settings) -> AccountBackend:
    """A new backend as `settings` say (tests, entry points with their own settings)."""
    if settings.accounts_backend == "http":
        return HttpBackend(
            settings.require("accounts_url"),
            timeout_s=settings.accounts_timeout_s,
            retries=settings.accounts_retries,
        )
    return DemoBackend(
        db.connect(settings.redis_url),
        settings.accounts_file,
        company_today(settings.timezone),
    )


@lru_cache(maxsize=1)
def _backend(settings: Settings) -> AccountBackend:
    return backend_for(settings)


def get_backend() -> AccountBackend:
    """The process's backend (one per process and settings)."""
    return _backend(get())
