"""ask_bill and pay_bill: the current bill of a verified phone's accounts, with a
plain-language breakdown (bot/billing/statement.py) or, when the customer asks why it is
so high, the comparison and the tier crossed (bot/billing/explain.py); and how to pay.

Bills are disclosed only to a verified phone (actions/service_requests.py checks it).
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.channel_context import request_text
from actions.language import language_of
from bot.accounts import get_backend
from bot.accounts.demo import company_today
from bot.accounts.models import Account
from bot.billing.explain import explain_bill, render_explanation
from bot.billing.payment import payment_info
from bot.billing.statement import build_statement, render_statement
from bot.settings import PROJECT_ROOT
from bot.settings import get as settings

QUESTIONS_FILE = PROJECT_ROOT / "content" / "billing" / "questions.yml"
TIMEOUT_S = 5.0
MAX_ACCOUNTS = 3  # a landlord with many accounts is better served by the website


@cache
def _why_high_words(path: Path = QUESTIONS_FILE) -> tuple[str, ...]:
    with path.open(encoding="utf-8") as handle:
        return tuple(str(w).casefold() for w in yaml.safe_load(handle)["why_high"])


def asks_why_high(text: str) -> bool:
    lowered = text.casefold()
    return any(word in lowered for word in _why_high_words())


async def _bill_text(account: Account, why: bool, language: str) -> str | None:
    backend = get_backend()
    readings, bills = await asyncio.gather(
        asyncio.wait_for(backend.readings(account.id), TIMEOUT_S),
        asyncio.wait_for(backend.bills(account.id), TIMEOUT_S),
    )
    if why:
        explanation = explain_bill(account, readings, bills)
        if explanation is not None:
            return render_explanation(explanation, language)
    today = company_today(settings().timezone)()
    statement = build_statement(account, readings, bills, today=today)
    return render_statement(statement, language) if statement else None


async def answer(dispatcher: CollectingDispatcher, tracker: Tracker, phone: str) -> list[EventType]:
    """The current bill of each account `phone` holds (a verified phone)."""
    language = language_of(tracker)
    accounts = await asyncio.wait_for(get_backend().accounts_for_phone(phone), TIMEOUT_S)
    if not accounts:
        dispatcher.utter_message(response="utter_no_account")
        return []
    why = asks_why_high(request_text(tracker, "ask_bill"))
    for account in accounts[:MAX_ACCOUNTS]:
        text = await _bill_text(account, why, language)
        if text is None:
            dispatcher.utter_message(response="utter_no_bill_yet", account=account.id)
            continue
        if len(accounts) > 1:
            text = (
                f"{account.id}（{account.address}）\n{text}"
                if language == "zh"
                else (f"{account.id} ({account.address})\n{text}")
            )
        dispatcher.utter_message(text=text)
    return []


class ActionPayBill(Action):
    """pay_bill: the payment channels and the company's payment link (content/billing/)."""

    def name(self) -> str:
        return "action_pay_bill"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=payment_info(language_of(tracker)).text)
        return []
