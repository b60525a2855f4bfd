from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.ticket_status import ActionCheckTicket
from tests.actions.conftest import make_tracker

pytestmark = pytest.mark.usefixtures("tickets_redis")

OWNER_PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"


async def file_complaint() -> str:
    ticket = await services.tickets().create_complaint(
        category="billing",
        description="这个月电费多扣了两百",
        location="朝阳区",
        phone=OWNER_PHONE,
        language="zh",
        channel="web",
    )
    return ticket.number


async def check(phone: str, number: str | None) -> list[dict]:
    entities = [{"entity": "ticket_id", "value": number}] if number else []
    tracker = make_tracker(
        f"查工单 {number or ''}", intent="check_ticket", slots={"phone": phone}, entities=entities
    )
    dispatcher = CollectingDispatcher()
    await ActionCheckTicket().run(dispatcher, tracker, {})
    return dispatcher.messages


async def test_owner_sees_status_and_owner() -> None:
    number = await file_complaint()
    [message] = await check(OWNER_PHONE, number.lower())  # case does not matter
    assert message["response"] == "utter_ticket_status"
    assert message["ticket"] == number and message["status"] in ("已受理", "已派单")


async def test_other_phone_gets_the_same_answer_as_an_unknown_number() -> None:
    number = await file_complaint()
    not_mine = await check(OTHER_PHONE, number)
    unknown = await check(OTHER_PHONE, "TK20000101-9999")
    assert [m["response"] for m in not_mine] == ["utter_ticket_not_found"]
    assert [m["response"] for m in unknown] == ["utter_ticket_not_found"]
    assert not_mine[0].keys() == unknown[0].keys()


async def test_without_number_lists_open_tickets_of_own_phone_only() -> None:
    number = await file_complaint()
    assert [m["ticket"] for m in await check(OWNER_PHONE, None)] == [number]
    assert [m["response"] for m in await check(OTHER_PHONE, None)] == ["utter_no_open_tickets"]


async def test_number_comes_from_the_asking_message_when_the_phone_was_asked_after() -> None:
    number = await file_complaint()
    tracker = make_tracker("13900139000", intent="rate", slots={"phone": OTHER_PHONE})
    asking = {
        "intent": {"name": "check_ticket"},
        "entities": [{"entity": "ticket_id", "value": number}],
    }
    tracker.events.insert(0, {"event": "user", "text": f"查 {number}", "parse_data": asking})
    dispatcher = CollectingDispatcher()
    await ActionCheckTicket().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_found"]
    assert dispatcher.messages[0]["ticket"] == number
