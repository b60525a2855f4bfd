from __future__ import annotations

import pytest
import redis
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.ticket_status import ActionCheckTicket
from bot.identity import otp
from bot.identity.verification import verified_key
from tests.support.actions import make_tracker

pytestmark = pytest.mark.usefixtures("tickets_redis")

OWNER_PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"
WEB = "web:" + "1" * 32


async def file_complaint(phone: str = OWNER_PHONE) -> str:
    ticket = await services.tickets().create_complaint(
        category="billing",
        description="这个月电费多扣了两百",
        location="朝阳区",
        phone=phone,
        language="zh",
        channel="sms",
        phone_verified=True,
        conversation_id=f"sms:{phone}",
    )
    return ticket.number


def verify(url: str, conversation: str, phone: str) -> None:
    """What a typed-in code leaves behind (actions/verification.py)."""
    redis.Redis.from_url(url).set(verified_key(conversation), phone, ex=60)


async def check(
    phone: str | None, number: str | None, sender: str = WEB, channel: str = "socketio"
) -> tuple[list[dict], list]:
    entities = [{"entity": "ticket_id", "value": number}] if number else []
    tracker = make_tracker(
        f"查工单 {number or ''}",
        intent="check_ticket",
        slots={"phone": phone},
        entities=entities,
        sender_id=sender,
        channel=channel,
    )
    dispatcher = CollectingDispatcher()
    events = await ActionCheckTicket().run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def test_verified_owner_sees_status_and_owner(tickets_redis: str) -> None:
    number = await file_complaint()
    verify(tickets_redis, WEB, OWNER_PHONE)
    [message], events = await check(OWNER_PHONE, number.lower())  # case does not matter
    assert message["response"] == "utter_ticket_status"
    assert message["ticket"] == number and message["status"] in ("已受理", "已派单")
    assert message["owner"] and message["due"]
    assert events == []


async def test_sms_sender_is_verified_by_the_carrier() -> None:
    number = await file_complaint()
    [message], _ = await check(None, number, sender=f"sms:{OWNER_PHONE}", channel="sms")
    assert message["response"] == "utter_ticket_status"


async def test_the_verified_phone_counts_not_the_typed_one(tickets_redis: str) -> None:
    number = await file_complaint()
    verify(tickets_redis, WEB, OTHER_PHONE)
    messages, _ = await check(OWNER_PHONE, number)  # typed the owner's number
    assert [m["response"] for m in messages] == ["utter_ticket_not_found"]


async def test_other_phone_gets_the_same_answer_as_an_unknown_number(tickets_redis: str) -> None:
    number = await file_complaint()
    verify(tickets_redis, WEB, OTHER_PHONE)
    not_mine, _ = await check(OTHER_PHONE, number)
    unknown, _ = await check(OTHER_PHONE, "TK20000101-9999")
    assert [m["response"] for m in not_mine] == ["utter_ticket_not_found"]
    assert [m["response"] for m in unknown] == ["utter_ticket_not_found"]
    assert not_mine[0].keys() == unknown[0].keys()


async def test_without_number_lists_open_tickets_of_own_phone_only(tickets_redis: str) -> None:
    number = await file_complaint()
    verify(tickets_redis, WEB, OWNER_PHONE)
    assert [m["ticket"] for m in (await check(None, None))[0]] == [number]
    other = "web:" + "2" * 32
    verify(tickets_redis, other, OTHER_PHONE)
    messages, _ = await check(None, None, sender=other)
    assert [m["response"] for m in messages] == ["utter_no_open_tickets"]


async def test_unverified_web_with_number_and_phone_gets_the_status_only() -> None:
    number = await file_complaint()
    messages, events = await check(OWNER_PHONE, number)
    status, offer = messages
    assert status["response"] == "utter_ticket_status_only"
    assert {k for k in status if status[k] is not None and k != "response"} >= {"ticket", "status"}
    assert "owner" not in status and "due" not in status
    assert offer["response"] == "utter_verification_offer" and offer["phone"] == OWNER_PHONE
    assert events == [SlotSet("verification_offered", True)]


async def test_unverified_web_without_number_is_only_offered_a_code() -> None:
    await file_complaint()
    messages, events = await check(OWNER_PHONE, None)
    assert [m["response"] for m in messages] == ["utter_verification_offer"]
    assert events == [SlotSet("verification_offered", True)]


async def test_unverified_web_with_a_wrong_phone_learns_nothing() -> None:
    number = await file_complaint()
    messages, _ = await check(OTHER_PHONE, number)
    assert [m["response"] for m in messages] == [
        "utter_ticket_not_found",
        "utter_verification_offer",
    ]


async def test_unverified_lookups_are_rate_limited_per_conversation() -> None:
    number = await file_complaint()
    allowed = otp.load_policy().unverified_lookup_per_conversation.count
    answers = [(await check(OTHER_PHONE, number))[0][0]["response"] for _ in range(allowed)]
    assert answers == ["utter_ticket_not_found"] * allowed
    # Even the right phone now gets no status, only the wait.
    [limited, _offer], _ = await check(OWNER_PHONE, number)
    assert limited["response"] == "utter_ticket_lookup_limited" and limited["minutes"] >= 1
    # Another conversation has its own allowance.
    [status, _], _ = await check(OWNER_PHONE, number, sender="web:" + "3" * 32)
    assert status["response"] == "utter_ticket_status_only"


async def test_number_comes_from_the_asking_message_when_the_phone_was_asked_after(
    tickets_redis: str,
) -> None:
    number = await file_complaint()
    verify(tickets_redis, WEB, OTHER_PHONE)
    tracker = make_tracker(
        "13900139000", intent="rate", slots={"phone": OTHER_PHONE}, sender_id=WEB
    )
    asking = {
        "intent": {"name": "check_ticket"},
        "entities": [{"entity": "ticket_id", "value": number}],
    }
    tracker.events.insert(0, {"event": "user", "text": f"查 {number}", "parse_data": asking})
    dispatcher = CollectingDispatcher()
    await ActionCheckTicket().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_found"]
    assert dispatcher.messages[0]["ticket"] == number


async def test_due_date_is_told_in_the_configured_time_zone(
    tickets_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KEFU_TIMEZONE, not the default zone, is the zone of the due date customers are told."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("KEFU_TIMEZONE", "America/New_York")
    number = await file_complaint()
    verify(tickets_redis, WEB, OWNER_PHONE)
    [message], _ = await check(OWNER_PHONE, number)
    ticket = await services.tickets().store.get(number)
    told = datetime.strptime(message["due"], "%Y-%m-%d %H:%M")
    new_york = ticket.resolve_due.astimezone(ZoneInfo("America/New_York"))
    assert told == new_york.replace(second=0, microsecond=0, tzinfo=None)
    # Shanghai is 12 or 13 hours ahead: the old code's answer would differ.
    shanghai = ticket.resolve_due.astimezone(ZoneInfo("Asia/Shanghai"))
    assert told != shanghai.replace(second=0, microsecond=0, tzinfo=None)
