"""Handing a customer to a human agent (action_handoff) and the callback alternative.

action_handoff: puts the conversation in the agents' queue and pauses the bot
(ConversationPaused), telling the customer their place and the expected wait; outside
business hours or with nobody online it offers a callback ticket instead
(slot handoff_callback_offered = true, buttons /affirm and /deny).

action_handoff_callback: after that offer. On "yes" (with the phone known, or collected by
handoff_callback_form) it files a ticket (category "other") so an agent calls back; on
"no" it gives the hotline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import services
from actions.channel_context import ticket_channel
from actions.identity import owned_ticket, verified_phone
from actions.language import KeepsLanguage, language_of
from actions.services import handoff
from bot.handoff.errors import HandoffError
from bot.handoff.service import CLOSED_HOURS, QueueTicket
from bot.phones import InvalidPhone, to_e164
from bot.sms.conversation import phone_of
from bot.tickets.errors import TicketError
from bot.tickets.models import Ticket

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
OFFERED = "handoff_callback_offered"
CALLBACK_CATEGORY = "other"
FAILURES = (HandoffError, TicketError, RedisError, OSError, asyncio.TimeoutError)


def callback_phone(tracker: Tracker) -> str | None:
    """The number to call back: the slot, or the SMS sender (conversation id sms:+86...)."""
    slot = tracker.get_slot("phone")
    if isinstance(slot, str) and slot:
        try:
            return to_e164(slot)
        except InvalidPhone:
            pass
    return phone_of(tracker.sender_id or "")


def intent_of(tracker: Tracker) -> str | None:
    """The top intent as classified (get_intent_of_latest_message() would skip
    nlu_fallback, and needs an intent ranking)."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def reason_of(tracker: Tracker) -> str:
    """Why the customer is handed over (shown to agents)."""
    explicit = tracker.get_slot("handoff_reason")
    if explicit in ("human_handoff", "fallback", "p1_complaint", "form_failures"):
        return str(explicit)
    intent = intent_of(tracker)
    if intent == "nlu_fallback":
        return "fallback"
    if intent == "human_handoff":
        return "human_handoff"
    if tracker.get_slot("ticket_id") and intent in ("complain", "affirm"):
        return "p1_complaint"
    return "human_handoff"


async def linked_ticket(tracker: Tracker) -> Ticket | None:
    """The ticket this handoff is about: the `ticket_id` slot (set only by actions), and only
    if it belongs to this conversation (actions.identity.owned_ticket)."""
    number = tracker.get_slot("ticket_id")
    return await owned_ticket(tracker, number) if number else None


def last_customer_text(tracker: Tracker, skip_latest: bool = False) -> str:
    """The latest real thing the customer said (not a button payload)."""
    texts = [
        e.get("text") or ""
        for e in tracker.events
        if e.get("event") == "user" and not str(e.get("text") or "").startswith("/")
    ]
    if skip_latest and texts:
        texts = texts[:-1]
    return texts[-1].strip() if texts else ""


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        # Routing to a ticket's owner and the agent's view of the customer use only a phone
        # the customer has proven (SMS sender, or a web code); a typed number is a claim.
        phone = await verified_phone(tracker)
        try:
            outcome = await asyncio.wait_for(self._request(tracker, language, phone), TIMEOUT_S)
        except FAILURES as exc:
            logger.error("handoff for %s failed: %r", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_handoff_error")
            return []
        if isinstance(outcome, QueueTicket):
            if outcome.position <= 0:
                dispatcher.utter_message(response="utter_handoff_connecting")
            else:
                dispatcher.utter_message(
                    response="utter_handoff_queued",
                    position=outcome.position,
                    eta_minutes=outcome.eta_minutes,
                )
            # Paused: Rasa records the customer's messages but the bot stays silent
            # until the desk resumes the conversation (hand-back or close).
            return [SlotSet(OFFERED, False), ConversationPaused()]
        response = (
            "utter_handoff_offer_callback_closed"
            if outcome.reason == CLOSED_HOURS
            else "utter_handoff_offer_callback_no_agents"
        )
        dispatcher.utter_message(response=response, hours=outcome.hours)
        logger.info("handoff for %s unavailable: %s", tracker.sender_id, outcome.reason)
        return [SlotSet(OFFERED, True)]

    async def _request(self, tracker: Tracker, language: str, phone: str | None):  # type: ignore[no-untyped-def]
        ticket = await linked_ticket(tracker)
        return await handoff().request(
            tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "socketio",
            language=language,
            # A P1 complaint of this conversation is served first.
            grade=ticket.grade if ticket is not None and ticket.is_open else None,
            phone=phone,
            reason=reason_of(tracker),
            ticket_id=ticket.number if ticket is not None else None,
        )


class ValidateHandoffCallbackForm(KeepsLanguage):
    """The callback number: a phone the channel knows is used as is; typed ones are checked.
    "No" instead of a number withdraws the callback request (the form ends)."""

    def name(self) -> str:
        return "validate_handoff_callback_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return [] if tracker.get_slot(OFFERED) is False else domain_slots

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if intent_of(tracker) == "deny":
            return {"phone": None, OFFERED: False}
        try:
            return {"phone": to_e164(value if isinstance(value, str) else "")}
        except InvalidPhone:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {"phone": None}


class ActionHandoffCallback(Action):
    def name(self) -> str:
        return "action_handoff_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done: list[EventType] = [SlotSet(OFFERED, False)]
        phone = callback_phone(tracker)
        if intent_of(tracker) == "deny" or not tracker.get_slot(OFFERED):
            dispatcher.utter_message(response="utter_handoff_callback_declined")
            return done
        if phone is None:  # the form did not get a number: be honest, give the hotline
            dispatcher.utter_message(response="utter_handoff_callback_failed")
            return done
        language = language_of(tracker)
        said = last_customer_text(tracker, skip_latest=True)
        description = "客户请求人工回电 / Callback requested" + (f"：{said}" if said else "")
        tickets = services.tickets()
        try:
            ticket = await asyncio.wait_for(
                tickets.create_complaint(
                    category=CALLBACK_CATEGORY,
                    description=description[:2000],
                    phone=phone,
                    language=language,
                    channel=ticket_channel(tracker),
                    conversation_id=tracker.sender_id,
                    phone_verified=phone == await verified_phone(tracker),
                ),
                TIMEOUT_S,
            )
        except FAILURES as exc:
            # No number is promised unless the ticket is stored.
            logger.error("callback ticket for %s not stored: %r", phone, exc)
            dispatcher.utter_message(response="utter_handoff_callback_failed")
            return done
        dispatcher.utter_message(
            response="utter_handoff_callback_created",
            ticket=ticket.number,
            promise=tickets.promised_response(ticket, language),
        )
        logger.info("callback ticket %s for %s", ticket.number, phone)
        return [*done, SlotSet("ticket_id", ticket.number)]
