from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.complaints import (
    ActionAskComplaintCategory,
    ActionAskComplaintConfirm,
    ActionSubmitComplaint,
    ValidateComplaintForm,
    complaint_details,
)
from tests.actions.conftest import make_tracker

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


@pytest.mark.parametrize("text", ["算了", "cancel", "Never mind"])
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
