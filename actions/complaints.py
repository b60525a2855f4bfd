"""Complaint intake: the complaint form's validation, questions and submission.

The form (domain.yml `complaint_form`) asks for category, description, location
or account number, contact phone, then reads a summary back for confirmation.
At any question the customer may cancel ("算了"), ask why we need the value, or,
at the summary, say "no" and name the item to change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import services
from actions.channel_context import ticket_channel
from actions.complaint_content import content, normalise
from actions.identity import verified_phone
from actions.language import KeepsLanguage, language_of
from bot.phones import InvalidPhone, mask, to_e164
from bot.settings import ENV_NAMES
from bot.settings import get as settings
from bot.text import is_ascii_digits
from bot.tickets.errors import TicketError

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "complaint_category",
    "complaint_description",
    "complaint_location",
    "phone",
    "complaint_confirm",
)
# Free-text questions where an FAQ question is answered by the validation
# (the domain lets FAQs through there, because answers can look like FAQs).
FAQ_AWARE_SLOTS = ("complaint_category", "complaint_location")
# Bookkeeping slots of the form, cleared with the form's own slots when it ends.
STATE_SLOTS = ("complaint_cancelled", "complaint_correcting", "complaint_failures")
STORE_TIMEOUT_S = 10.0
# TEST-ONLY fault injection (tests/integration/test_sms_crash.py): after a NEW complaint
# ticket is written, wait this many seconds before answering Rasa, so a test can kill Rasa
# between the ticket write and the SMS inbox's `done`. Unset (the default) in production.
FAULT_SLEEP_ENV = ENV_NAMES["fault_sleep_after_ticket_s"]
_fault_slept: set[str] = set()  # tickets already delayed in this process: once each
SUBMIT_ACTION = "action_submit_complaint"
AFFIRM_WORDS = ("是", "对", "确认", "提交", "好", "yes", "y", "ok", "correct", "confirm", "submit")
DENY_WORDS = ("不", "否", "错", "改", "no", "n", "wrong", "change")


def category_labels(language: str | None = None) -> dict[str, tuple[str, ...]]:
    """Roster labels per category, in one or both languages."""
    roster = services.tickets().roster
    languages = (language,) if language else ("zh", "en")
    return {
        c: tuple(roster.category_label(c, lang) for lang in languages) for c in roster.categories
    }


def complaint_details(text: str) -> str | None:
    """The specifics in an opening message ("我要投诉，抄表员骂人" -> "抄表员骂人")."""
    rest = normalise(text)
    for phrase in content().opening_phrases:
        rest = rest.replace(phrase, " ")
    rest = rest.strip(" ,.!?;:，。！？；：、")
    return text.strip() if len(rest) >= content().description_chars[0] + 2 else None


class ValidateComplaintForm(KeepsLanguage):
    def name(self) -> str:
        return "validate_complaint_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # A cancelled form has nothing left to ask: the form ends and the
        # submit action says so.
        return [] if tracker.get_slot("complaint_cancelled") else domain_slots

    # -- details given up front ("我要投诉抄表员骂人") prefill the description
    async def extract_complaint_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        opening = tracker.get_slot("requested_slot") is None and (
            tracker.get_intent_of_latest_message() == "complain"
        )
        if not opening or tracker.get_slot("complaint_description"):
            return {}
        details = complaint_details(tracker.latest_message.get("text") or "")
        return {"complaint_description": details} if details else {}

    # -- one validator per question ------------------------------------------------
    async def validate_complaint_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        def parse(text: str) -> str | None:
            # A category key is what this validator stored: the form validates it again
            # when a failed submit re-opens the form (ActionSubmitComplaint).
            labels = category_labels()
            return text if text in labels else content().category_for(text, labels)

        return self._check("complaint_category", value, dispatcher, tracker, parse)

    async def validate_complaint_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        low, high = content().description_chars

        def parse(text: str) -> str | None:
            text = text.strip()
            return text if low <= len(text) <= high else None

        return self._check("complaint_description", value, dispatcher, tracker, parse)

    async def validate_complaint_location(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        low, high = content().location_chars

        def parse(text: str) -> str | None:
            text = text.strip()
            return text if low <= len(text) <= high else None

        return self._check("complaint_location", value, dispatcher, tracker, parse)

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        def parse(text: str) -> str | None:
            try:
                return to_e164(text)
            except InvalidPhone:
                return None

        return self._check("phone", value, dispatcher, tracker, parse)

    async def validate_complaint_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = value if isinstance(value, str) else ""
        if content().is_cancel(text):
            return {"complaint_confirm": None, "complaint_cancelled": True}
        if tracker.get_slot("complaint_correcting"):
            field = content().field_named(text)
            if field is None:
                dispatcher.utter_message(response="utter_complaint_which_field_hint")
                return {"complaint_confirm": None}
            return {field: None, "complaint_confirm": None, "complaint_correcting": False}
        answer = _yes_or_no(text, tracker.get_intent_of_latest_message())
        if answer is True:
            return {"complaint_confirm": True}
        if answer is False:
            field = content().field_named(text)
            if field:  # "电话错了" names the item straight away
                return {field: None, "complaint_confirm": None}
            return {"complaint_confirm": None, "complaint_correcting": True}
        dispatcher.utter_message(response="utter_complaint_confirm_hint")
        return {"complaint_confirm": None}

    # -- shared rules of every question -----------------------------------------------
    def _check(
        self,
        slot: str,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        parse: Any,
    ) -> dict[str, Any]:
        if slot == "phone" and value == tracker.get_slot("phone") and _is_e164(value):
            return {"phone": value}  # known already (SMS sender): nothing to check
        text = value if isinstance(value, str) else ""
        if content().is_cancel(text):
            return {slot: None, "complaint_cancelled": True}
        if content().is_why(text):
            dispatcher.utter_message(response=f"utter_why_{slot}")
            return {slot: None}
        faq = faq_answer(tracker) if slot in FAQ_AWARE_SLOTS else None
        if faq and content().is_question(text):
            dispatcher.utter_message(response=faq)
            return {slot: None}
        parsed = parse(text)
        failures = dict(tracker.get_slot("complaint_failures") or {})
        if parsed is None:
            failures[slot] = failures.get(slot, 0) + 1
            dispatcher.utter_message(response=f"utter_invalid_{slot}")
            if failures[slot] >= content().offer_human_after:
                dispatcher.utter_message(response="utter_complaint_offer_human")
            if slot == "phone":
                logger.info("invalid phone %s (%d failures)", mask(text), failures[slot])
            return {slot: None, "complaint_failures": failures}
        failures.pop(slot, None)
        return {slot: parsed, "complaint_failures": failures}


def faq_answer(tracker: Tracker) -> str | None:
    """The FAQ answer (utter_faq/<key>) Rasa picked for the latest message, if it is an FAQ."""
    if tracker.get_intent_of_latest_message() != "faq":
        return None
    selected = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    action = (selected.get("response") or {}).get("utter_action")
    return action if isinstance(action, str) and action.startswith("utter_faq/") else None


def complaint_key(tracker: Tracker) -> str | None:
    """The idempotency key of this complaint: one per complaint_form activation.

    A turn can run twice (the SMS inbox re-runs a turn whose Rasa process died before
    `done`), and the second run must get the same ticket. The tracker of the re-run is the
    one saved before the crashed turn, plus the same message again; what is the same in
    both runs is the id of the message that opened the form (the Twilio MessageSid by
    SMS). Hashed: the key is a Redis key name and must not carry a phone number.

    A failed submit re-opens the form in the same turn (ActionSubmitComplaint): that is the
    same complaint, and keeps its key, so a write that did land is not filed twice.
    """
    opener: str | None = None
    last_message: str | None = None
    submitted_this_turn = False
    for event in tracker.events:
        kind = event.get("event")
        if kind == "user":
            last_message = event.get("message_id") or None
            submitted_this_turn = False
        elif kind == "action" and event.get("name") == SUBMIT_ACTION:
            submitted_this_turn = True
        elif kind == "active_loop" and event.get("name") == "complaint_form":
            if not (submitted_this_turn and opener):
                opener = last_message
    message_id = opener or last_message
    if not message_id:
        return None  # nothing stable to derive a key from: file without one
    digest = hashlib.sha256(f"{tracker.sender_id}|{message_id}".encode()).hexdigest()
    return f"complaint:{digest[:40]}"


async def _fault_sleep_after_ticket(number: str) -> None:
    """TEST-ONLY fault injection (FAULT_SLEEP_ENV): once per ticket, hold the answer."""
    delay = settings().fault_sleep_after_ticket_s
    if delay is None or number in _fault_slept:
        return
    _fault_slept.add(number)
    logger.warning("fault injection: holding ticket %s's answer for %d s", number, delay)
    await asyncio.sleep(delay)


def _e164_or_none(value: Any) -> str | None:
    try:
        return to_e164(value) if isinstance(value, str) else None
    except InvalidPhone:
        return None


def _is_e164(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("+") and is_ascii_digits(value[1:])


def _yes_or_no(text: str, intent: str | None) -> bool | None:
    t = normalise(text)
    if intent == "affirm" or t in AFFIRM_WORDS:
        return True
    if intent == "deny" or t in DENY_WORDS or t.startswith(("不", "no ")):
        return False
    return None


class ActionAskComplaintCategory(Action):
    """Asks for the category with one button per roster category."""

    def name(self) -> str:
        return "action_ask_complaint_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        labels = category_labels(language_of(tracker))
        buttons = [{"title": label, "payload": label} for (label,) in labels.values()]
        dispatcher.utter_message(response="utter_ask_complaint_category", buttons=buttons)
        return []


class ActionAskComplaintConfirm(Action):
    """Reads the complaint back for confirmation, or asks which item to change."""

    def name(self) -> str:
        return "action_ask_complaint_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("complaint_correcting"):
            dispatcher.utter_message(response="utter_ask_complaint_field")
            return []
        language = language_of(tracker)
        category = tracker.get_slot("complaint_category")
        dispatcher.utter_message(
            response="utter_ask_complaint_confirm",
            category_label=services.tickets().category_label(category, language),
            description=tracker.get_slot("complaint_description"),
            location=tracker.get_slot("complaint_location"),
            phone=tracker.get_slot("phone"),
        )
        return []


class ActionSubmitComplaint(Action):
    """Creates the ticket once the form is complete, or confirms the cancellation."""

    def name(self) -> str:
        return SUBMIT_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in (*FORM_SLOTS[:3], FORM_SLOTS[4], *STATE_SLOTS)]
        if tracker.get_slot("complaint_cancelled") or not tracker.get_slot("complaint_confirm"):
            dispatcher.utter_message(response="utter_complaint_cancelled")
            return reset

        svc = services.tickets()
        language = language_of(tracker)
        phone = tracker.get_slot("phone")
        try:
            verified = await asyncio.wait_for(verified_phone(tracker), STORE_TIMEOUT_S)
            ticket = await asyncio.wait_for(
                svc.create_complaint(
                    category=tracker.get_slot("complaint_category"),
                    description=tracker.get_slot("complaint_description"),
                    location=tracker.get_slot("complaint_location"),
                    phone=phone,
                    language=language,
                    channel=ticket_channel(tracker),
                    # A typed phone is still a valid contact number, but only a proven one
                    # lists the ticket to that phone and counts for its repeat grade.
                    phone_verified=verified is not None and verified == _e164_or_none(phone),
                    conversation_id=tracker.sender_id,
                    idempotency_key=complaint_key(tracker),
                ),
                STORE_TIMEOUT_S,
            )
            await _fault_sleep_after_ticket(ticket.number)
        except (TicketError, RedisError, OSError, asyncio.TimeoutError) as exc:
            # No ticket number unless the ticket is stored: say so, keep the answers, and
            # re-open the form at its last question (the summary, "submit?"), so the "yes"
            # the apology asks for submits them again. The form had already ended: without
            # this, "yes" reached no form and the complaint was lost.
            logger.error("complaint not stored for %s: %r", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_complaint_not_stored")
            return [SlotSet("complaint_confirm", None), FollowupAction("complaint_form")]

        owner = svc.owner_name(ticket, language)
        dispatcher.utter_message(
            response="utter_complaint_created" if owner else "utter_complaint_created_unassigned",
            ticket=ticket.number,
            owner=owner,
            promise=svc.promised_response(ticket, language),
        )
        logger.info("complaint %s filed (%s) by %s", ticket.number, ticket.grade, ticket.phone)
        events = [*reset, SlotSet("ticket_id", ticket.number)]
        if svc.is_urgent(ticket):
            # A safety hazard: emergency advice now, and a person at the front of the queue.
            dispatcher.utter_message(response="utter_complaint_safety")
            events += [SlotSet("handoff_reason", "p1_complaint"), FollowupAction("action_handoff")]
        return events
