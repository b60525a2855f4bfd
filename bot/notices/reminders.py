"""Bill reminders: one SMS KEFU_BILL_REMINDER_DAYS before a bill's due date, and one overdue
notice after it, to bill subscribers about their own accounts.

A periodic scan (a desk worker) with an injectable clock, so a simulated week runs in
seconds. Each reminder is an outbox message (kind "reminder": quiet hours apply) with an
idempotency key per bill, so a rescan, a second desk process or a restart never sends it
twice; and with the guard "bill:{account}:{period}", which the sender resolves just before
sending (bill_guard): a bill paid after the reminder was queued cancels it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.accounts.backend import AccountBackend
from bot.accounts.models import Account, Bill
from bot.notices import subscriptions, templates
from bot.phones import InvalidPhone, to_e164
from bot.sms import outbox

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
GUARD = "bill"
# An overdue notice goes out only this long after the due date: subscribing today does
# not bring reminders about a bill from last year.
OVERDUE_WINDOW_DAYS = 30
# A reminder not out within a day (quiet hours, a backlog) is stale: the next one, or the
# bill itself, says it better.
VALID_S = 24 * 3600


def reminder_key(which: str, account_id: str, period: str) -> str:
    return f"reminder:{which}:{account_id}:{period}"


def due_kind(bill: Bill, today: date, days: int) -> str | None:
    """ "due", "overdue" or None: which reminder an unpaid bill calls for today."""
    if bill.paid_on is not None:
        return None
    if bill.due_on - timedelta(days=days) <= today <= bill.due_on:
        return "due"
    if bill.due_on < today <= bill.due_on + timedelta(days=OVERDUE_WINDOW_DAYS):
        return "overdue"
    return None


def render(which: str, account: Account, bill: Bill, language: str) -> str:
    return templates.render(
        ("reminder", which),
        language,
        {
            "account": account.id,
            "period": templates.period(bill.period, language),
            "amount": f"{bill.amount:.2f}",
            "due": templates.day(bill.due_on, language),
        },
    )


class Reminders:
    def __init__(
        self,
        redis: aioredis.Redis,
        backend: AccountBackend,
        *,
        days: int,
        zone: ZoneInfo,
        clock: Clock = time.time,
    ) -> None:
        self.redis = redis
        self.backend = backend
        self.days = days
        self.zone = zone
        self.clock = clock

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.zone).date()

    async def scan_once(self) -> int:
        """Queues every reminder due now; returns how many messages that added (0 when it
        all went out earlier). A backend failure raises: the worker retries the scan."""
        today = self.today()
        items: list[outbox.Outgoing] = []
        for phone, language in await subscriptions.subscribers(self.redis, "*", "bill"):
            for account in await self.backend.accounts_for_phone(phone):
                if not _same_phone(account.holder_phone, phone):
                    continue  # only the holder hears about the account's bills
                for bill in await self.backend.bills(account.id):
                    which = due_kind(bill, today, self.days)
                    if which is None:
                        continue
                    items.append(
                        outbox.Outgoing(
                            phone,
                            render(which, account, bill, language),
                            kind="reminder",
                            idempotency_key=reminder_key(which, account.id, bill.period),
                            valid_until=self.clock() + VALID_S,
                            guard=f"{GUARD}:{account.id}:{bill.period}",
                        )
                    )
        if not items:
            return 0
        added = sum(done.new for done in await outbox.enqueue_many(self.redis, items))
        if added:
            logger.info("bill reminders: %d queued", added)
        return added


def _same_phone(a: str, b: str) -> bool:
    try:
        return to_e164(a) == to_e164(b)
    except InvalidPhone:
        return False


def bill_guard(backend: AccountBackend) -> Callable[[aioredis.Redis, str], Awaitable[str | None]]:
    """The sender's pre-send check for guard "bill:{account}:{period}": "paid" when the
    backend has recorded the payment since the reminder was queued (skip it), "no_bill"
    when the bill is gone, None to send."""

    async def check(_redis: aioredis.Redis, argument: str) -> str | None:
        account_id, _, period = argument.rpartition(":")
        for bill in await backend.bills(account_id):
            if bill.period == period:
                return "paid" if bill.paid_on is not None else None
        return "no_bill"

    return check
