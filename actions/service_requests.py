"""One form for the requests that need to know where or who the customer is: outage
reports and questions, bills, and SMS subscriptions (domain.yml `service_form`).

The form asks only for what it cannot find out:
- the area: named in the message ("朝阳区停电了"), or the area of the verified phone's
  account, or asked for ("which district?");
- the phone, on the web only (an SMS sender is known): bills and subscriptions disclose or
  change a customer's own data, so a typed number is then verified with a code
  (actions/identity.py); an outage report with no known outage files a fault ticket, and
  the typed number is its contact phone, as in a complaint.
A reply to an outage notice needs neither: it is about that outage (actions/outages.py).

`action_service_request` then answers the request that started the form
(`service_request`, the intent of the message that activated it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import bills, identity, outages, subscriptions
from actions.channel_context import request_has_entity
from actions.complaints import ValidateComplaintForm
from actions.language import language_of
from bot.accounts import get_backend
from bot.accounts.areas import area as known_area
from bot.accounts.areas import find_area, load_areas
from bot.accounts.backend import BackendUnavailable
from bot.tickets.errors import InvalidField

logger = logging.getLogger(__name__)

REQUEST = "service_request"
AREA = "area"
REQUESTS = ("report_outage", "ask_outage_info", "ask_bill", "subscribe", "unsubscribe")
# Requests about the customer's own account or subscriptions: a verified phone only.
OWN_DATA = frozenset({"ask_bill", "subscribe", "unsubscribe"})
LOOKUP_TIMEOUT_S = 5.0
# InvalidField: a channel that knows no phone for the fault ticket (Rasa's REST channel,
# not one of ours) gets the same polite answer, not an action server error.
FAILURES = (BackendUnavailable, RedisError, OSError, asyncio.TimeoutError, InvalidField)


def request_of(tracker: Tracker) -> str | None:
    """The request being served: the latest message's, unless it answers a question the
    form asked ("朝阳区" may read as an outage report), then the one kept in the slot."""
    intent = tracker.get_intent_of_latest_message()
    if tracker.get_slot("requested_slot") is None and intent in REQUESTS:
        return str(intent)
    request = tracker.get_slot(REQUEST)
    return str(request) if request in REQUESTS else None


async def account_area(phone: str | None) -> str | None:
    """The area of the first account held by a verified phone, if any."""
    if phone is None:
        return None
    accounts = await asyncio.wait_for(get_backend().accounts_for_phone(phone), LOOKUP_TIMEOUT_S)
    return accounts[0].area if accounts else None


class ValidateServiceForm(ValidateComplaintForm):
    """Fills `area` and `phone` for a service request when they can be found, asks otherwise.

    Inherits the complaint form's phone check and its "cancel" and "why?" handling.
    """

    def name(self) -> str:
        return "validate_service_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        request = request_of(tracker)
        if request is not None and tracker.get_slot(REQUEST) != request:
            events.insert(0, SlotSet(REQUEST, request))
        return events

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        request = request_of(tracker)
        if tracker.get_slot("complaint_cancelled") or request is None:
            return []
        try:
            phone = await identity.verified_phone(tracker)
        except FAILURES as exc:  # ask; the request's answer reports the failure
            logger.warning("verified phone unavailable: %r", exc)
            phone = None
        needed: list[str] = []
        if request in OWN_DATA:
            if phone is None and identity.is_web(tracker):
                needed.append("phone")
            if request == "subscribe" and subscriptions.wants_outage_topic(tracker):
                needed.append(AREA)
        elif not await outages.answers_notice(tracker, phone):
            needed.append(AREA)
            if request == "report_outage" and phone is None and identity.is_web(tracker):
                needed.append("phone")  # the contact number of a fault ticket
        return needed

    async def extract_area(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """On activation: the area the message names, else the verified account's area."""
        if tracker.get_slot(AREA) or tracker.get_slot("requested_slot") == AREA:
            return {}
        named = find_area(tracker.latest_message.get("text") or "")
        if named is not None:
            return {AREA: named.id}
        try:
            found = await account_area(await identity.verified_phone(tracker))
        except FAILURES as exc:
            logger.warning("account area unavailable: %r", exc)
            return {}
        return {AREA: found} if found else {}

    async def validate_area(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = value if isinstance(value, str) else ""
        if known_area(text) is not None:
            return {AREA: text}
        named = find_area(text)
        if named is not None:
            return {AREA: named.id}
        language = language_of(tracker)
        names = "、" if language == "zh" else ", "
        dispatcher.utter_message(
            response="utter_area_unknown",
            areas=names.join(a.name(language) for a in load_areas().values()),
        )
        return {AREA: None}


class ActionServiceRequest(Action):
    """Answers the request `service_form` gathered what it needs for."""

    def name(self) -> str:
        return "action_service_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done: list[EventType] = [SlotSet(REQUEST, None), SlotSet(AREA, None)]
        if tracker.get_slot("complaint_cancelled"):
            dispatcher.utter_message(response="utter_anything_else")
            return [*done, SlotSet("complaint_cancelled", None)]
        request = request_of(tracker)
        events = await answer(dispatcher, tracker, request)
        if any(e.get("name") == identity.OFFERED for e in events):
            return events  # answered after the code is confirmed: keep the request
        if request and request_has_entity(tracker, request, "complaint_cue"):
            # Said with anger or blame (bot/nlu/gate.py): the answer may not be enough.
            dispatcher.utter_message(response="utter_offer_complaint")
        return [*events, *done]


async def answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: str | None
) -> list[EventType]:
    """Answers `request` for this conversation (also after a phone was verified)."""
    try:
        phone = await identity.verified_phone(tracker)
    except FAILURES as exc:
        logger.error("verified phone unavailable: %r", exc)
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
    if request in OWN_DATA and phone is None:
        return _ask_for_proof(dispatcher, tracker, request)
    try:
        if request == "report_outage":
            return await outages.report(dispatcher, tracker, phone)
        if request == "ask_outage_info":
            return await outages.info(dispatcher, tracker, phone)
        assert phone is not None
        if request == "ask_bill":
            return await bills.answer(dispatcher, tracker, phone)
        if request == "subscribe":
            return await subscriptions.subscribe(dispatcher, tracker, phone)
        if request == "unsubscribe":
            return await subscriptions.unsubscribe(dispatcher, tracker, phone)
    except FAILURES as exc:
        logger.error("%s failed: %r", request, exc)
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
    dispatcher.utter_message(response="utter_anything_else")
    return []


def _ask_for_proof(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: str | None
) -> list[EventType]:
    """A web customer's own data: offer a code to the number they typed (the request is
    answered after it is confirmed: action_verification_done)."""
    typed = tracker.get_slot("phone")
    if isinstance(typed, str) and identity.is_web(tracker):
        return [SlotSet(REQUEST, request), *identity.offer_code(dispatcher, typed)]
    dispatcher.utter_message(response="utter_service_needs_phone")
    return []
