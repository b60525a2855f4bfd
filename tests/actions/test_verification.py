"""Phone verification actions on the web, and the ownership check of the ticket_id slot."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.handoff import linked_ticket
from actions.identity import verified_phone
from actions.verification import (
    ActionSendVerificationCode,
    ActionVerificationDone,
    ValidateVerificationForm,
)
from bot.identity import otp
from bot.sms import outbox
from tests.support.actions import make_tracker

pytestmark = pytest.mark.usefixtures("tickets_redis")

PHONE = "+8613800138000"
OTHER = "+8613900139000"
WEB = "web:" + "5" * 32


def sent_codes(url: str, conversation: str = WEB) -> list[dict[str, str]]:
    """The OTP SMS the outbox holds for `conversation`, oldest first."""
    client = redis.Redis.from_url(url, decode_responses=True)
    records = [client.hgetall(outbox.msg_key(i)) for i in client.zrange(outbox.RECENT, 0, -1)]
    return [r for r in records if r["kind"] == "otp" and r["conversation_id"] == conversation]


def code_in(record: dict[str, str]) -> str:
    return "".join(c for c in record["body"] if c.isascii() and c.isdigit())[:6]


async def answer_offer(intent: str, slots: dict[str, Any] | None = None) -> tuple[list, list]:
    tracker = make_tracker(
        "/" + intent,
        intent=intent,
        slots={"phone": PHONE, "verification_offered": True, **(slots or {})},
        sender_id=WEB,
    )
    dispatcher = CollectingDispatcher()
    events = await ActionSendVerificationCode().run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def type_code(text: str, language: str = "zh") -> tuple[list, dict[str, Any]]:
    tracker = make_tracker(
        text,
        intent="rate",
        slots={"phone": PHONE, "language": language},
        sender_id=WEB,
        active_loop="verification_form",
    )
    dispatcher = CollectingDispatcher()
    result = await ValidateVerificationForm().validate_verification_code(
        text, dispatcher, tracker, {}
    )
    return dispatcher.messages, result


async def test_yes_sends_a_code_the_customer_asked_for(tickets_redis: str) -> None:
    messages, events = await answer_offer("affirm")
    assert [m["response"] for m in messages] == ["utter_verification_code_sent"]
    assert messages[0]["phone"] == PHONE and messages[0]["minutes"] == 5
    assert SlotSet("verification_sent", True) in events
    assert SlotSet("verification_offered", False) in events
    [sms] = sent_codes(tickets_redis)
    assert sms["to"] == PHONE and sms["customer_requested"] == "1"
    assert len(code_in(sms)) == 6


async def test_no_sends_nothing(tickets_redis: str) -> None:
    messages, events = await answer_offer("deny")
    assert [m["response"] for m in messages] == ["utter_anything_else"]
    assert SlotSet("verification_sent", False) in events
    assert sent_codes(tickets_redis) == []


async def test_too_many_codes_are_refused_politely(tickets_redis: str) -> None:
    allowed = otp.load_policy().resend_per_conversation.count
    for _ in range(allowed):
        await answer_offer("affirm")
    messages, events = await answer_offer("affirm")
    assert [m["response"] for m in messages] == ["utter_verification_limited"]
    assert messages[0]["minutes"] >= 1
    assert SlotSet("verification_sent", False) in events
    assert len(sent_codes(tickets_redis)) == allowed


async def test_the_right_code_verifies_the_phone_and_its_tickets(tickets_redis: str) -> None:
    svc = services.tickets()
    filed_here = await svc.create_complaint(
        category="billing",
        description="电费多扣了两百元",
        phone=PHONE,
        language="zh",
        channel="web",
        conversation_id=WEB,
    )
    assert not filed_here.phone_verified
    await answer_offer("affirm")
    code = code_in(sent_codes(tickets_redis)[-1])

    messages, result = await type_code(f" {code[:3]} {code[3:]} ")  # spaces are fine
    assert messages == []
    assert result == {"verification_code": "verified", "phone": PHONE}
    tracker = make_tracker("", sender_id=WEB)
    assert await verified_phone(tracker) == PHONE
    assert (await svc.store.get(filed_here.number)).phone_verified  # type: ignore[union-attr]

    # Then action_verification_done says so and answers the ticket question.
    done = make_tracker(
        "",
        intent="rate",
        slots={"verification_code": "verified", "phone": PHONE},
        sender_id=WEB,
    )
    dispatcher = CollectingDispatcher()
    events = await ActionVerificationDone().run(dispatcher, done, {})
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == ["utter_phone_verified", "utter_ticket_status"]
    assert dispatcher.messages[1]["ticket"] == filed_here.number
    assert SlotSet("verification_code", None) in events


async def test_wrong_codes_count_down_then_lock(tickets_redis: str) -> None:
    await answer_offer("affirm")
    code = code_in(sent_codes(tickets_redis)[-1])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        messages, result = await type_code(wrong, "en")
        assert [(m["response"], m["tries"]) for m in messages] == [
            ("utter_verification_code_wrong", left)
        ]
        assert result == {"verification_code": None}
    messages, result = await type_code(wrong)
    assert [m["response"] for m in messages] == ["utter_verification_code_locked"]
    assert result == {"verification_code": "locked"}
    messages, _ = await type_code(code)  # too late
    assert [m["response"] for m in messages] == ["utter_verification_code_locked"]
    assert await verified_phone(make_tracker("", sender_id=WEB)) is None


async def test_expired_code_resend_and_stop(tickets_redis: str) -> None:
    messages, result = await type_code("123456")  # no code was ever sent
    assert [m["response"] for m in messages] == ["utter_verification_code_expired"]
    assert result == {"verification_code": None}

    messages, result = await type_code("重发")
    assert [m["response"] for m in messages] == ["utter_verification_code_sent"]
    assert result == {"verification_code": None}
    assert len(sent_codes(tickets_redis)) == 1

    messages, result = await type_code("１２ab")
    assert [m["response"] for m in messages] == ["utter_verification_code_format"]

    messages, result = await type_code("算了")
    assert [m["response"] for m in messages] == ["utter_verification_stopped"]
    assert result == {"verification_code": "stopped"}


async def test_handoff_links_only_a_ticket_of_this_conversation(tickets_redis: str) -> None:
    svc = services.tickets()
    theirs = await svc.create_complaint(
        category="billing",
        description="别人的工单内容",
        phone=OTHER,
        language="zh",
        channel="sms",
        phone_verified=True,
        conversation_id=f"sms:{OTHER}",
    )
    mine = await svc.create_complaint(
        category="billing",
        description="我自己的工单内容",
        phone=PHONE,
        language="zh",
        channel="web",
        conversation_id=WEB,
    )

    def tracker(number: str, sender: str = WEB) -> Any:
        return make_tracker(
            "转人工", intent="human_handoff", slots={"ticket_id": number}, sender_id=sender
        )

    assert await linked_ticket(tracker(theirs.number)) is None
    assert (await linked_ticket(tracker(mine.number))).number == mine.number  # type: ignore[union-attr]
    # The SMS owner of the other ticket is carrier-verified: theirs is linked for them.
    owner = tracker(theirs.number, sender=f"sms:{OTHER}")
    assert (await linked_ticket(owner)).number == theirs.number  # type: ignore[union-attr]
    assert await linked_ticket(tracker("not a ticket")) is None
