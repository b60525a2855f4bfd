"""check_ticket: a ticket's progress, disclosed only to the phone that filed it."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import services
from actions.complaint_content import content
from actions.complaints import ValidateComplaintForm
from actions.language import language_of
from bot.config import Settings
from bot.tickets.models import Ticket

logger = logging.getLogger(__name__)
LOOKUP_TIMEOUT_S = 5.0
MAX_LISTED = 5


class ValidateTicketLookupForm(ValidateComplaintForm):
    """Asks for the customer's phone when the channel did not tell us (web)."""

    def name(self) -> str:
        return "validate_ticket_lookup_form"


def describe(ticket: Ticket, language: str) -> dict[str, str]:
    svc = services.tickets()
    due = ticket.resolve_due.astimezone(ZoneInfo(Settings.timezone)).strftime("%Y-%m-%d %H:%M")
    unknown = "待分派" if language == "zh" else "not yet assigned"
    return {
        "ticket": ticket.number,
        "status": content().status_label(ticket.status.value, language),
        "owner": svc.owner_name(ticket, language) or unknown,
        "due": due,
    }


def asked_number(tracker: Tracker) -> str | None:
    """The ticket number in the customer's check_ticket message, if it named one.

    The lookup may answer a few turns later (after asking for the phone), so read
    the message that asked, not the latest one.
    """
    for event in reversed(tracker.events):
        parse = event.get("parse_data") or {}
        if event.get("event") == "user" and parse.get("intent", {}).get("name") == "check_ticket":
            values = [
                e.get("value") for e in parse.get("entities", []) if e.get("entity") == "ticket_id"
            ]
            return next((v for v in values if isinstance(v, str)), None)
    return None


class ActionCheckTicket(Action):
    def name(self) -> str:
        return "action_check_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("complaint_cancelled"):
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("complaint_cancelled", None)]
        svc = services.tickets()
        language = language_of(tracker)
        phone = tracker.get_slot("phone")
        asked = asked_number(tracker)
        try:
            if asked:
                ticket = await asyncio.wait_for(
                    svc.lookup_for_phone(asked, phone), LOOKUP_TIMEOUT_S
                )
                tickets = [ticket] if ticket else []
            else:
                tickets = await asyncio.wait_for(
                    svc.open_tickets_for_phone(phone), LOOKUP_TIMEOUT_S
                )
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            logger.error("ticket lookup failed: %r", exc)
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
            return []

        if asked and not tickets:
            # Same answer for "no such ticket" and "not yours": guessing reveals nothing.
            dispatcher.utter_message(response="utter_ticket_not_found", ticket=asked.upper())
        elif not tickets:
            dispatcher.utter_message(response="utter_no_open_tickets")
        else:
            for ticket in tickets[:MAX_LISTED]:
                dispatcher.utter_message(
                    response="utter_ticket_status", **describe(ticket, language)
                )
        return []
