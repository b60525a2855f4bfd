"""Proving a phone on the web with a one-time SMS code.

1. action_check_ticket (or a later disclosure) offers a code for the phone the customer
   typed (actions.identity.offer_code: slot verification_offered, buttons /affirm /deny).
2. action_send_verification_code: "yes" texts the code (bot/identity/otp.py, outbox kind
   "otp"), or says why not (too many codes); "no" drops the offer. Slot verification_sent
   says whether verification_form should ask for the code.
3. verification_form / validate_verification_form: the customer types the code; "resend"
   sends a new one; the cancel words stop. Wrong, expired and locked codes get their own
   replies. Success records the verified phone (bot/identity/verification.py) and marks the
   conversation's unverified tickets with that phone verified (TicketService).
4. action_verification_done: says so, and answers the ticket question that led here.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import identity, service_requests, services
from actions.complaint_content import content
from actions.language import KeepsLanguage, language_of
from actions.ticket_status import asked_number, disclose
from bot.identity import otp, verification
from bot.phones import InvalidPhone, to_e164
from bot.sms.outbox import OutboxError
from bot.tickets.errors import TicketError

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0
CODE = "verification_code"
# What the form leaves in verification_code when it ends (any value ends the form).
VERIFIED, LOCKED, STOPPED = "verified", "locked", "stopped"
FAILURES = (RedisError, OSError, asyncio.TimeoutError)


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _phone_slot(tracker: Tracker) -> str | None:
    value = tracker.get_slot("phone")
    try:
        return to_e164(value) if isinstance(value, str) else None
    except InvalidPhone:
        return None


async def _send(dispatcher: CollectingDispatcher, tracker: Tracker, phone: str) -> bool:
    """Texts a new code to `phone` and tells the customer; False if none was sent."""
    policy = otp.load_policy()
    try:
        result = await asyncio.wait_for(
            otp.send_code(services.redis(), tracker.sender_id, phone, language_of(tracker), policy),
            TIMEOUT_S,
        )
    except (*FAILURES, OutboxError) as exc:
        logger.error("code for %s not sent: %r", phone, exc)
        dispatcher.utter_message(response="utter_verification_failed")
        return False
    if result.outcome is otp.Outcome.LIMITED:
        logger.info("code for %s refused: limit", phone)
        dispatcher.utter_message(
            response="utter_verification_limited", minutes=_minutes(result.retry_after_s)
        )
        return False
    dispatcher.utter_message(
        response="utter_verification_code_sent", phone=phone, minutes=_minutes(policy.ttl_s)
    )
    return True


class ActionSendVerificationCode(Action):
    """The answer to the code offer: "yes" sends it, "no" drops it."""

    def name(self) -> str:
        return "action_send_verification_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = [SlotSet(identity.OFFERED, False), SlotSet(CODE, None)]
        phone = _phone_slot(tracker)
        if _intent(tracker) == "deny" or not tracker.get_slot(identity.OFFERED):
            dispatcher.utter_message(response="utter_anything_else")
            return [*events, SlotSet(identity.SENT, False)]
        if phone is None or not identity.is_web(tracker):
            dispatcher.utter_message(response="utter_verification_failed")
            return [*events, SlotSet(identity.SENT, False)]
        sent = await _send(dispatcher, tracker, phone)
        return [*events, SlotSet(identity.SENT, sent)]


class ValidateVerificationForm(KeepsLanguage):
    def name(self) -> str:
        return "validate_verification_form"

    async def validate_verification_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = value if isinstance(value, str) else ""
        policy = otp.load_policy()
        if content().is_cancel(text):
            dispatcher.utter_message(response="utter_verification_stopped")
            return {CODE: STOPPED}
        if policy.is_resend(text):
            return await self._resend(dispatcher, tracker)
        code = otp.as_code(text, policy.digits)
        if code is None:
            dispatcher.utter_message(response="utter_verification_code_format")
            return {CODE: None}
        try:
            result = await asyncio.wait_for(
                otp.check_code(services.redis(), tracker.sender_id, code, policy), TIMEOUT_S
            )
            if result.outcome is otp.Outcome.VERIFIED and result.phone:
                return await self._verified(tracker, result.phone)
        except FAILURES as exc:
            logger.error("code check failed: %r", exc)
            dispatcher.utter_message(response="utter_verification_failed")
            return {CODE: STOPPED}
        if result.outcome is otp.Outcome.WRONG:
            dispatcher.utter_message(
                response="utter_verification_code_wrong", tries=result.tries_left
            )
            return {CODE: None}
        if result.outcome is otp.Outcome.LOCKED:
            dispatcher.utter_message(response="utter_verification_code_locked")
            return {CODE: LOCKED}
        dispatcher.utter_message(response="utter_verification_code_expired")
        return {CODE: None}

    async def _resend(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        try:
            pending = await otp.pending_phone(services.redis(), tracker.sender_id)
        except FAILURES as exc:
            logger.error("code lookup failed: %r", exc)
            pending = None
        phone = pending or _phone_slot(tracker)
        if phone is None or not await _send(dispatcher, tracker, phone):
            return {CODE: STOPPED}
        return {CODE: None}

    async def _verified(self, tracker: Tracker, phone: str) -> dict[str, Any]:
        redis = services.redis()
        await verification.record_verified(redis, tracker.sender_id, phone)
        logger.info("conversation verified %s", phone)
        try:
            await asyncio.wait_for(
                services.tickets().mark_phone_verified(tracker.sender_id, phone), TIMEOUT_S
            )
        except (*FAILURES, TicketError) as exc:
            # The phone is verified; its earlier web tickets stay unlisted until a retry.
            logger.error("tickets of %s not marked verified: %r", phone, exc)
        return {CODE: VERIFIED, "phone": phone}


class ActionVerificationDone(Action):
    """After verification_form: confirms a verified phone and answers the question that
    led here, a ticket's or a service request's (bill, subscription), the other endings
    having been explained by the form."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = [SlotSet(CODE, None), SlotSet(identity.SENT, False)]
        request = tracker.get_slot(service_requests.REQUEST)
        if request:
            events += [
                SlotSet(service_requests.REQUEST, None),
                SlotSet(service_requests.AREA, None),
            ]
        if tracker.get_slot(CODE) != VERIFIED:
            return events
        try:
            phone = await identity.verified_phone(tracker)
            if phone is None:
                dispatcher.utter_message(response="utter_verification_failed")
                return events
            dispatcher.utter_message(response="utter_phone_verified", phone=phone)
            if request:
                return [*events, *await service_requests.answer(dispatcher, tracker, request)]
            await disclose(dispatcher, tracker, phone, asked_number(tracker))
        except FAILURES as exc:
            logger.error("lookup after verification failed: %r", exc)
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
        return events
