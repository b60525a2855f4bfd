from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.complaints import (
    ActionAskComplaintCategory,
    ActionAskComplaintConfirm,
    ActionSubmitComplaint,
    ValidateComplaintForm,
    complaint_details,
    complaint_key,
)
from tests.support.actions import make_tracker

pytestmark = pytest.mark.usefixtures("tickets_redis")

FORM_SLOTS = [
    "complaint_category",
    "complaint_description",
    "complaint_location",
    "phone",
    "complaint_confirm",
]


async def validate(slot: str, text: str, **tracker_args: Any) -> tuple[dict, list[str]]:
    """Runs validate_<slot> like the form does; returns the slots and responses uttered."""
    dispatcher = CollectingDispatcher()
    form = ValidateComplaintForm()
    tracker = make_tracker(text, **tracker_args)
    result = await getattr(form, f"validate_{slot}")(text, dispatcher, tracker, {})
    return result, [m["response"] for m in dispatcher.messages]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我要投诉", None),
        ("I want to file a complaint", None),
        ("我要投诉，抄表员上门骂人", "我要投诉，抄表员上门骂人"),
        ("I want to complain about a rude engineer", "I want to complain about a rude engineer"),
    ],
)
def test_opening_details_prefill_the_description(text: str, expected: str | None) -> None:
    assert complaint_details(text) == expected


@pytest.mark.parametrize(
    ("reply", "category"),
    [
        ("服务态度", "staff_conduct"),  # a button label
        ("Billing", "billing"),
        ("电表走得太快", "metering"),
        ("the roadworks outside", "construction"),
        ("其他", "other"),
    ],
)
async def test_category_from_buttons_or_words(reply: str, category: str) -> None:
    result, said = await validate("complaint_category", reply)
    assert result["complaint_category"] == category
    assert said == []


async def test_unclear_category_is_reasked_and_a_human_offered_after_two_failures() -> None:
    result, said = await validate("complaint_category", "嗯嗯")
    assert result["complaint_category"] is None
    assert said == ["utter_invalid_complaint_category"]
    result, said = await validate(
        "complaint_category", "嗯嗯", slots={"complaint_failures": result["complaint_failures"]}
    )
    assert said == ["utter_invalid_complaint_category", "utter_complaint_offer_human"]


@pytest.mark.parametrize(
    ("text", "e164"),
    [("138 0013 8000", "+8613800138000"), ("+1 (415) 555-2671", "+14155552671")],
)
async def test_phone_is_normalised_to_e164(text: str, e164: str) -> None:
    result, _ = await validate("phone", text)
    assert result["phone"] == e164


async def test_invalid_phone_twice_offers_a_human() -> None:
    first, said = await validate("phone", "12345")
    assert first["phone"] is None and said == ["utter_invalid_phone"]
    second, said = await validate(
        "phone", "1380013", slots={"complaint_failures": first["complaint_failures"]}
    )
    assert second["phone"] is None
    assert said == ["utter_invalid_phone", "utter_complaint_offer_human"]
    third, _ = await validate(
        "phone", "13800138000", slots={"complaint_failures": second["complaint_failures"]}
    )
    assert third["phone"] == "+8613800138000"
    assert "phone" not in third["complaint_failures"]


async def test_why_explains_and_reasks() -> None:
    result, said = await validate("phone", "为什么要电话")
    assert result == {"phone": None}
    assert said == ["utter_why_phone"]


@pytest.mark.parametrize("text", ["算了", "Never mind", "forget it"])
async def test_cancel_at_any_question_ends_the_form(text: str) -> None:
    result, _ = await validate("complaint_location", text)
    assert result["complaint_cancelled"] is True
    form = ValidateComplaintForm()
    tracker = make_tracker(text, slots={"complaint_cancelled": True})
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == []


async def test_confirm_yes_no_and_correction() -> None:
    result, _ = await validate("complaint_confirm", "是", intent="affirm")
    assert result == {"complaint_confirm": True}
    result, _ = await validate("complaint_confirm", "不对", intent="deny")
    assert result == {"complaint_confirm": None, "complaint_correcting": True}
    result, _ = await validate(
        "complaint_confirm", "电话", intent="deny", slots={"complaint_correcting": True}
    )
    assert result == {"phone": None, "complaint_confirm": None, "complaint_correcting": False}
    # Naming the item straight away skips the question.
    result, _ = await validate("complaint_confirm", "地址错了", intent="deny")
    assert result == {"complaint_location": None, "complaint_confirm": None}


async def test_category_question_has_one_button_per_roster_category() -> None:
    dispatcher = CollectingDispatcher()
    await ActionAskComplaintCategory().run(dispatcher, make_tracker(slots={"language": "en"}), {})
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert "Billing" in titles and "Staff conduct" in titles and len(titles) == 7


async def test_summary_reads_back_the_answers_in_the_customer_language() -> None:
    dispatcher = CollectingDispatcher()
    slots = {
        "language": "en",
        "complaint_category": "metering",
        "complaint_description": "meter runs fast",
        "complaint_location": "Haidian",
        "phone": "+8613800138000",
    }
    await ActionAskComplaintConfirm().run(dispatcher, make_tracker(slots=slots), {})
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ask_complaint_confirm"
    assert message["category_label"] == "Metering"
    assert message["phone"] == "+8613800138000"


def complete(**overrides: Any) -> dict[str, Any]:
    return {
        "language": "zh",
        "complaint_category": "staff_conduct",
        "complaint_description": "抄表员上门态度很差",
        "complaint_location": "朝阳区建国路66号",
        "phone": "+8613800138000",
        "complaint_confirm": True,
        **overrides,
    }


async def test_submit_creates_a_ticket_with_number_and_named_owner() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitComplaint().run(dispatcher, make_tracker(slots=complete()), {})
    message = dispatcher.messages[0]
    assert message["response"] == "utter_complaint_created"
    assert message["ticket"].startswith("TK") and message["owner"]
    assert "小时内" in message["promise"]
    assert {"event": "slot", "name": "ticket_id", "value": message["ticket"]} in [
        {k: e[k] for k in ("event", "name", "value")} for e in events
    ]
    from actions import services

    stored = await services.tickets().store.get(message["ticket"])
    assert stored is not None and stored.phone == "+8613800138000" and stored.channel == "web"


async def test_safety_complaint_adds_emergency_advice() -> None:
    dispatcher = CollectingDispatcher()
    slots = complete(
        complaint_description="楼下电线掉落在地上还冒火花", complaint_category="outage"
    )
    events = await ActionSubmitComplaint().run(dispatcher, make_tracker(slots=slots), {})
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_complaint_created",
        "utter_complaint_safety",
    ]
    assert FollowupAction("action_handoff") in events  # a person, first in line


async def test_cancelled_form_creates_nothing() -> None:
    dispatcher = CollectingDispatcher()
    slots = complete(complaint_cancelled=True, complaint_confirm=None)
    await ActionSubmitComplaint().run(dispatcher, make_tracker(slots=slots), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_complaint_cancelled"]
    from actions import services

    assert await services.tickets().open_tickets_for_phone("+8613800138000") == []


async def test_opening_message_prefills_description_only_on_activation() -> None:
    form = ValidateComplaintForm()
    opening = make_tracker("我要投诉，抄表员上门骂人", intent="complain")
    result = await form.extract_complaint_description(CollectingDispatcher(), opening, {})
    assert result == {"complaint_description": "我要投诉，抄表员上门骂人"}
    later = make_tracker("我要投诉，抄表员上门骂人", slots={"requested_slot": "complaint_location"})
    assert await form.extract_complaint_description(CollectingDispatcher(), later, {}) == {}


async def test_faq_question_at_a_free_text_question_is_answered_and_reasked() -> None:
    faq = {"faq": {"response": {"utter_action": "utter_faq/business_hours"}}}
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("你们营业厅周日开门吗", intent="faq")
    tracker.latest_message["response_selector"] = faq
    form = ValidateComplaintForm()
    result = await form.validate_complaint_location("你们营业厅周日开门吗", dispatcher, tracker, {})
    assert result == {"complaint_location": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/business_hours"]
    # An address the NLU also reads as an FAQ is still an address.
    address = make_tracker("朝阳区建国路66号", intent="faq")
    address.latest_message["response_selector"] = faq
    result = await form.validate_complaint_location(
        "朝阳区建国路66号", CollectingDispatcher(), address, {}
    )
    assert result["complaint_location"] == "朝阳区建国路66号"


# ---------------------------------------------------------------- verified phone, idempotency
WEB_ID = "web:" + "e" * 32
SMS_ID = "sms:+8613800138000"


def form_tracker(
    sender_id: str = WEB_ID, channel: str = "socketio", opener: str = "1", **slots: Any
) -> Any:
    """The tracker at submission: the message that opened the form, the activation, "是"."""
    tracker = make_tracker("是", intent="affirm", slots=complete(**slots), channel=channel)
    tracker.sender_id = sender_id
    confirm = tracker.events[0]
    tracker.events = [
        {"event": "user", "text": "我要投诉", "message_id": "SM" + opener * 32, "timestamp": 1.0},
        {"event": "active_loop", "name": "complaint_form", "timestamp": 2.0},
        {**confirm, "message_id": "SM" + "2" * 32, "timestamp": 3.0},
    ]
    return tracker


async def submit(tracker: Any) -> tuple[str, Any]:
    """Runs the submit action; returns the ticket number the customer was told, and the ticket."""
    from actions import services

    dispatcher = CollectingDispatcher()
    await ActionSubmitComplaint().run(dispatcher, tracker, {})
    number = dispatcher.messages[0]["ticket"]
    return number, await services.tickets().store.get(number)


async def test_web_complaint_with_a_typed_phone_is_filed_unverified() -> None:
    number, ticket = await submit(form_tracker())
    assert number.startswith("TK")  # still accepted, and the customer hears the number
    assert ticket.phone_verified is False and ticket.conversation_id == WEB_ID


async def test_web_complaint_with_the_verified_phone_is_verified() -> None:
    from actions import services
    from bot.identity.verification import record_verified

    await record_verified(services.redis(), WEB_ID, "+8613800138000")
    _, ticket = await submit(form_tracker())
    assert ticket.phone_verified is True
    # A different contact phone than the one verified is only typed.
    _, other = await submit(form_tracker(opener="5", phone="+8613900139000"))
    assert other.phone_verified is False


async def test_sms_complaint_is_verified_only_for_the_senders_phone() -> None:
    _, ticket = await submit(form_tracker(SMS_ID, channel="sms"))
    assert ticket.phone_verified is True and ticket.channel == "sms"
    typed_phone = form_tracker(SMS_ID, channel="sms", opener="5", phone="+8613900139000")
    _, typed = await submit(typed_phone)
    assert typed.phone_verified is False


async def test_a_rerun_turn_gets_the_same_ticket_and_a_new_complaint_a_new_one() -> None:
    from actions import services

    first, _ = await submit(form_tracker(SMS_ID, channel="sms"))
    # The inbox re-runs the crashed turn: the tracker saved before it, the same message
    # again (same MessageSid, a new timestamp).
    rerun = form_tracker(SMS_ID, channel="sms")
    rerun.events[-1]["timestamp"] = 99.0
    again, _ = await submit(rerun)
    assert again == first
    page = await services.tickets().store.list(limit=10)
    assert [t.number for t in page.items] == [first]
    # The customer files another complaint later: another activation, another ticket.
    later = form_tracker(SMS_ID, channel="sms")
    later.events += [
        {"event": "active_loop", "name": None, "timestamp": 4.0},
        {"event": "user", "text": "我还要投诉", "message_id": "SM" + "3" * 32, "timestamp": 5.0},
        {"event": "active_loop", "name": "complaint_form", "timestamp": 6.0},
        {**later.events[-1], "message_id": "SM" + "4" * 32, "timestamp": 7.0},
    ]
    second, _ = await submit(later)
    assert second != first


def test_complaint_key_is_per_conversation_and_form_and_carries_no_phone() -> None:
    sms = complaint_key(form_tracker(SMS_ID, channel="sms"))
    web = complaint_key(form_tracker(WEB_ID))
    assert sms and web and sms != web
    assert "8613800138000" not in sms and sms.startswith("complaint:")
    # A form opened and completed in one turn is still keyed by the message that opened it.
    tracker = form_tracker()
    tracker.events = tracker.events[:2]
    assert complaint_key(tracker) == complaint_key(form_tracker())


async def test_fault_injection_holds_only_the_first_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from actions.complaints import FAULT_SLEEP_ENV

    monkeypatch.setenv(FAULT_SLEEP_ENV, "1")
    started = time.monotonic()
    first, _ = await submit(form_tracker(SMS_ID, channel="sms"))
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    again, _ = await submit(form_tracker(SMS_ID, channel="sms"))
    assert again == first and time.monotonic() - started < 1.0


# ---------------------------------------------------------------- a submit that failed (issue 13)
def reopened(tracker: Any, again: str = "7") -> Any:
    """The tracker after a failed submit re-opened the form and the customer said "是" again."""
    confirm = tracker.events[-1]
    tracker.events = [
        *tracker.events,
        {"event": "action", "name": "action_submit_complaint", "timestamp": 4.0},
        {"event": "slot", "name": "complaint_confirm", "value": None, "timestamp": 4.1},
        {"event": "action", "name": "complaint_form", "timestamp": 4.2},
        {"event": "active_loop", "name": "complaint_form", "timestamp": 4.3},
        {**confirm, "message_id": "SM" + again * 32, "timestamp": 5.0},
    ]
    return tracker


async def test_a_failed_submit_keeps_the_answers_and_offers_the_summary_again(
    monkeypatch: pytest.MonkeyPatch, tickets_redis: str
) -> None:
    from actions import services
    from tests.conftest import free_port

    # Redis unreachable: the write fails like it did after a restart.
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    services.tickets.cache_clear()
    services.redis.cache_clear()
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitComplaint().run(dispatcher, form_tracker(SMS_ID, "sms"), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_complaint_not_stored"]
    # Only the confirmation is asked again: the form re-opens at the summary, so the "是"
    # the apology asks for reaches the form and submits the same answers.
    assert events == [SlotSet("complaint_confirm", None), FollowupAction("complaint_form")]

    # The re-opened form validates what it holds again: every answer stands.
    form = ValidateComplaintForm()
    for slot, value in complete().items():
        if slot in FORM_SLOTS[:4]:
            result = await getattr(form, f"validate_{slot}")(
                value, CollectingDispatcher(), make_tracker("是", intent="affirm"), {}
            )
            assert result[slot] == value, slot


async def test_yes_after_a_failed_submit_files_the_complaint_once() -> None:
    from actions import services

    first = form_tracker(SMS_ID, "sms")
    retry = reopened(form_tracker(SMS_ID, "sms"))
    # The re-opened form is the same complaint: the same idempotency key.
    assert complaint_key(retry) == complaint_key(first)
    # Suppose the failed write did land (its answer was lost): the retry finds that ticket.
    landed, _ = await submit(first)
    number, ticket = await submit(retry)
    assert number == landed and ticket.phone == "+8613800138000"
    page = await services.tickets().store.list(limit=10)
    assert [t.number for t in page.items] == [landed]
