"""check_ticket: a ticket's progress, disclosed only to the phone that filed it, and in full
only to a verified phone (actions.identity.verified_phone)."""

from __future__ import annotations

import asyncio
import logging
import math
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import identity, services
from actions.complaint_content import content
from actions.complaints import ValidateComplaintForm
from actions.language import language_of
from bot.identity import otp
from bot.phones import InvalidPhone, to_e164
from bot.ratelimit import Limiter
from bot.settings import get as settings
from bot.tickets.models import Ticket

logger = logging.getLogger(__name__)
LOOKUP_TIMEOUT_S = 5.0
MAX_LISTED = 5


class ValidateTicketLookupForm(ValidateComplaintForm):
    """Asks for the customer's phone when the channel did not tell us (web), unless the
    conversation has a verified phone already."""

    def name(self) -> str:
        return "validate_ticket_lookup_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        try:
            if await identity.verified_phone(tracker):
                return []
        except (RedisError, OSError) as exc:  # ask for the phone; the lookup reports it
            logger.warning("verified phone unavailable: %r", exc)
        return await super().required_slots(domain_slots, dispatcher, tracker, domain)


def describe(ticket: Ticket, language: str) -> dict[str, str]:
    svc = services.tickets()
    # The company's zone as configured (KEFU_TIMEZONE): the customer is told the local time.
    due = ticket.resolve_due.astimezone(ZoneInfo(settings().timezone)).strftime("%Y-%m-%d %H:%M")
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


async def disclose(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str, asked: str | None
) -> None:
    """Everything check_ticket tells the owner of `phone` (a verified phone, see
    actions.identity): the asked ticket, or the phone's open tickets."""
    svc = services.tickets()
    language = language_of(tracker)
    if asked:
        ticket = await asyncio.wait_for(
            svc.lookup_for_phone(asked, phone, conversation_id=tracker.sender_id),
            LOOKUP_TIMEOUT_S,
        )
        tickets = [ticket] if ticket else []
    else:
        tickets = await asyncio.wait_for(
            svc.open_tickets_for_phone(phone, conversation_id=tracker.sender_id),
            LOOKUP_TIMEOUT_S,
        )
    if asked and not tickets:
        # Same answer for "no such ticket" and "not yours": guessing reveals nothing.
        dispatcher.utter_message(response="utter_ticket_not_found", ticket=asked.upper())
    elif not tickets:
        dispatcher.utter_message(response="utter_no_open_tickets")
    else:
        for ticket in tickets[:MAX_LISTED]:
            dispatcher.utter_message(response="utter_ticket_status", **describe(ticket, language))


async def status_only(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str, asked: str
) -> None:
    """An unverified customer who gave both the ticket number and the phone that filed it
    learns the status and nothing else, a limited number of times per conversation."""
    policy = otp.load_policy()
    wait = await Limiter(services.redis()).try_acquire(
        otp.quota(policy.unverified_lookup_per_conversation, f"lookup:{tracker.sender_id}")
    )
    if wait > 0:
        dispatcher.utter_message(
            response="utter_ticket_lookup_limited", minutes=max(1, math.ceil(wait / 60))
        )
        return
    ticket = await asyncio.wait_for(
        services.tickets().lookup_for_phone(asked, phone, conversation_id=tracker.sender_id),
        LOOKUP_TIMEOUT_S,
    )
    if ticket is None:
        dispatcher.utter_message(response="utter_ticket_not_found", ticket=asked.upper())
        return
    label = content().status_label(ticket.status.value, language_of(tracker))
    dispatcher.utter_message(
        response="utter_ticket_status_only", ticket=ticket.number, status=label
    )


class ActionCheckTicket(Action):
    """check_ticket. A verified phone (SMS sender, or a web phone proven with a code) gets
    its tickets as before. Anyone else gets, at most, the status of a ticket whose number
    and phone they both gave, and on the web an offer to verify the phone by SMS code."""

    def name(self) -> str:
        return "action_check_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("complaint_cancelled"):
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("complaint_cancelled", None)]
        asked = asked_number(tracker)
        typed = _typed_phone(tracker)
        events: list[EventType] = []
        try:
            phone = await identity.verified_phone(tracker)
            if phone is not None:
                await disclose(dispatcher, tracker, phone, asked)
                return events
            if asked and typed:
                await status_only(dispatcher, tracker, typed, asked)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            logger.error("ticket lookup failed: %r", exc)
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
            return events
        if typed and identity.is_web(tracker):
            events += identity.offer_code(dispatcher, typed)
        elif not (asked and typed):
            # Not verifiable here (neither SMS nor web): nothing to list without proof.
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
        return events


def _typed_phone(tracker: Tracker) -> str | None:
    """The phone the customer typed (the `phone` slot): a contact number, not proof."""
    value = tracker.get_slot("phone")
    try:
        return to_e164(value) if isinstance(value, str) else None
    except InvalidPhone:
        return None
