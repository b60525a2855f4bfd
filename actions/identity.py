"""THE identity check: which phone this conversation has proven it holds.

Every action that discloses a customer's own data (tickets, bills, the outages at their
own address; return visits later) asks `await verified_phone(tracker)` and discloses only
what belongs to that phone. A phone the customer merely typed (the `phone` slot on the
web) is a contact number, never proof.

- SMS (conversation id "sms:+E164"): the carrier verified the sender's number. The web can
  never reach an sms: id (web ids are minted by the server as "web:<hex>").
- Web ("web:<hex>"): the phone recorded after the customer typed the one-time code sent to
  it (actions/verification.py, bot/identity/verification.py), for KEFU_VERIFIED_PHONE_TTL_S.
- Anything else: None.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from bot.identity import verification
from bot.sms.conversation import phone_of
from bot.tickets.models import Ticket
from bot.tickets.validation import normalise_number

SMS_PREFIX = "sms:"
WEB_PREFIX = "web:"


def is_web(tracker: Tracker) -> bool:
    """A web conversation: its phone must be verified with a code before disclosure."""
    return (tracker.sender_id or "").startswith(WEB_PREFIX)


async def verified_phone(tracker: Tracker) -> str | None:
    """The E.164 phone this conversation is proven to hold, or None. Coroutine: await it."""
    sender = tracker.sender_id or ""
    if sender.startswith(SMS_PREFIX):
        return phone_of(sender)
    if sender.startswith(WEB_PREFIX):
        return await verification.verified_phone(services.redis(), sender)
    return None


# Slots of the verification dialogue (domain.yml; rules in data/rules/verification.yml).
OFFERED = "verification_offered"  # the bot offered to text a code; "yes" sends it
SENT = "verification_sent"  # a code went out: the verification form asks for it


def offer_code(dispatcher: CollectingDispatcher, phone: str) -> list[EventType]:
    """Offers to text a one-time code to `phone` (buttons "yes" / "no"); a "yes" runs
    action_send_verification_code. The customer asking is what allows the code to reach a
    number that opted out of SMS."""
    dispatcher.utter_message(response="utter_verification_offer", phone=phone)
    return [SlotSet(OFFERED, True)]


async def owned_ticket(tracker: Tracker, number: object) -> Ticket | None:
    """Ticket `number` if it belongs to this conversation: filed in it, or disclosable to
    its verified phone. Every read of the `ticket_id` slot goes through this."""
    normalised = normalise_number(number) if isinstance(number, str) else None
    if normalised is None:
        return None
    svc = services.tickets()
    ticket = await svc.store.get(normalised)
    if ticket is None:
        return None
    if ticket.conversation_id and ticket.conversation_id == tracker.sender_id:
        return ticket
    phone = await verified_phone(tracker)
    return ticket if phone and ticket.disclosable_to(phone, tracker.sender_id) else None
