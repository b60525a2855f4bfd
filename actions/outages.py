"""Outage reports and outage questions, answered from the outage registry (bot/outages/).

- report_outage: a known outage covering the customer's area gets its cause, the expected
  restore time and an apology, with an offer to text them when power is back. With none
  known, a fault ticket is filed (graded like any complaint: a fallen line is P1), the
  report counts towards a "probable outage" alert for the supervisors, and a verified
  phone is subscribed to the area's outage notices.
- ask_outage_info: outages under way or planned in the next days for the area.
- A reply to an outage notice ("什么时候来电" after a fault notice) is about that outage:
  its current state, whatever the customer's area.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import identity, services, subscriptions
from actions.channel_context import request_text, ticket_channel
from actions.language import language_of
from bot.accounts.areas import area as known_area
from bot.notices import context as notice_context
from bot.notices import subscriptions as notice_subscriptions
from bot.outages import reports
from bot.outages.models import Outage
from bot.outages.registry import OutageRegistry
from bot.settings import get as settings
from bot.tickets.models import Ticket

TIMEOUT_S = 5.0
INFO_DAYS = 7
# A notice is "the one the customer is answering" for this long after it was sent.
NOTICE_CONTEXT_S = 24 * 3600
FINAL = frozenset({"restored", "cancelled"})


def registry() -> OutageRegistry:
    # Cheap: a view of the shared Redis client (actions.services), not a connection.
    return OutageRegistry(services.redis(), timezone_name=settings().timezone)


def _local(moment: datetime | None, language: str) -> str:
    if moment is None:
        return "待定" if language == "zh" else "not yet known"
    return moment.astimezone(ZoneInfo(settings().timezone)).strftime("%m-%d %H:%M")


def _area_name(area_id: str, language: str) -> str:
    found = known_area(area_id)
    return found.name(language) if found else area_id


def describe(outage: Outage, language: str) -> dict[str, str]:
    """The fields the outage responses fill in (domain.yml utter_outage_*)."""
    return {
        "outage": outage.id,
        "areas": ("、" if language == "zh" else ", ").join(
            _area_name(a, language) for a in outage.areas
        ),
        # Not "text": utter_message(text=...) would replace the response.
        "details": outage.text.get(language) or outage.text.get("zh", ""),
        "cause": outage.cause,
        "start": _local(outage.starts_at, language),
        "eta": _local(outage.eta, language),
    }


async def noticed_outage(tracker: Tracker, phone: str | None) -> Outage | None:
    """The outage of the notice this SMS customer got lately, while it is not over."""
    if phone is None or identity.is_web(tracker):
        return None
    last = await asyncio.wait_for(notice_context.last_notice(services.redis(), phone), TIMEOUT_S)
    at = last.get("at") if last else None
    if not last or not isinstance(at, float) or time.time() - at > NOTICE_CONTEXT_S:
        return None
    outage = await asyncio.wait_for(registry().get(str(last["outage_id"])), TIMEOUT_S)
    return outage if outage is not None and outage.status not in FINAL else None


async def answers_notice(tracker: Tracker, phone: str | None) -> bool:
    """Whether the customer's outage message is a reply to a notice they just got."""
    try:
        return await noticed_outage(tracker, phone) is not None
    except (OSError, asyncio.TimeoutError):
        return False


async def _answered_notice(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str | None, language: str
) -> bool:
    """A reply to an outage notice is about that outage: its state now, whatever the area."""
    noticed = await noticed_outage(tracker, phone)
    if noticed is not None:
        dispatcher.utter_message(response="utter_outage_noticed", **describe(noticed, language))
    return noticed is not None


async def report(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str | None
) -> list[EventType]:
    language = language_of(tracker)
    if await _answered_notice(dispatcher, tracker, phone, language):
        return []
    area = str(tracker.get_slot("area") or "")
    now = datetime.now(timezone.utc)
    known = await asyncio.wait_for(registry().active_for_area(area, now), TIMEOUT_S)
    if known:
        dispatcher.utter_message(response="utter_outage_known", **describe(known[0], language))
        if phone is not None:
            dispatcher.utter_message(
                response="utter_offer_restore_text",
                buttons=subscriptions.restore_offer_buttons(area, language),
            )
        return []
    redis = services.redis()
    reporter = phone or tracker.sender_id or ""
    await asyncio.wait_for(reports.record_report(redis, area, reporter, time.time()), TIMEOUT_S)
    ticket = await _fault_ticket(tracker, area, phone, language)
    owner = services.tickets().owner_name(ticket, language)
    due = ticket.resolve_due.astimezone(ZoneInfo(settings().timezone)).strftime("%m-%d %H:%M")
    dispatcher.utter_message(
        response="utter_outage_reported",
        ticket=ticket.number,
        owner=owner or ("待分派" if language == "zh" else "not yet assigned"),
        due=due,
        area=_area_name(area, language),
    )
    if phone is not None:
        await asyncio.wait_for(
            notice_subscriptions.subscribe(
                redis, phone, topic="outage", area=area, language=language
            ),
            TIMEOUT_S,
        )
        dispatcher.utter_message(
            response="utter_outage_updates_subscribed", area=_area_name(area, language)
        )
    return []


async def _fault_ticket(tracker: Tracker, area: str, phone: str | None, language: str) -> Ticket:
    said = request_text(tracker, "report_outage") or str(tracker.latest_message.get("text") or "")
    where = _area_name(area, "zh")
    if language == "zh":
        description = f"{where}停电报修：{said}"
    else:
        description = f"Power outage reported in {_area_name(area, 'en')}: {said}"
    contact = phone or tracker.get_slot("phone")
    # One ticket per report message, however often the turn is retried.
    key = hashlib.sha256(f"{tracker.sender_id}|{said}|{area}".encode()).hexdigest()[:32]
    return await asyncio.wait_for(
        services.tickets().create_complaint(
            category="outage",
            description=description,
            phone=contact,
            language=language,
            channel=ticket_channel(tracker),
            location=where,
            phone_verified=phone is not None,
            conversation_id=tracker.sender_id,
            idempotency_key=f"outage:{key}",
        ),
        TIMEOUT_S * 2,
    )


async def info(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str | None
) -> list[EventType]:
    language = language_of(tracker)
    if await _answered_notice(dispatcher, tracker, phone, language):
        return []
    area = str(tracker.get_slot("area") or "")
    now = datetime.now(timezone.utc)
    current = await asyncio.wait_for(registry().active_for_area(area, now), TIMEOUT_S)
    planned = await asyncio.wait_for(
        registry().planned_for_area(area, now, days=INFO_DAYS), TIMEOUT_S
    )
    listed = {o.id: o for o in [*current, *planned]}
    if not listed:
        dispatcher.utter_message(
            response="utter_no_outages", area=_area_name(area, language), days=INFO_DAYS
        )
        return []
    under_way = {o.id for o in current}
    for outage in listed.values():
        response = "utter_outage_known" if outage.id in under_way else "utter_outage_planned"
        dispatcher.utter_message(response=response, **describe(outage, language))
    return []
