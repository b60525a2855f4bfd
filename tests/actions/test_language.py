from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.complaints import ValidateComplaintForm
from actions.language import restored_language
from bot.language import detect_language
from tests.support.actions import make_tracker

DOMAIN = {"forms": {"complaint_form": {"required_slots": ["complaint_location"]}}, "slots": {}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "zh"),
        ("hello", "en"),
        ("How does tiered pricing work?", "en"),
        ("我的bill太高了", "zh"),
        ("转人工agent", "zh"),
        ("app咋交费", "zh"),
        ("TK20261103-0007 进度怎么样", "zh"),
        ("my 电费 is too high this month", "en"),
        ("what is 阶梯电价", "en"),
        ("5", None),
        ("😀😀", None),
        ("", None),
        (None, None),
        ("/greet", None),
        ("\x00\x07", None),
    ],
)
def test_detect_language(text: str | None, expected: str | None) -> None:
    assert detect_language(text) == expected


def after(text: str, *, before: str | None, now: str, **tracker_args: Any) -> Tracker:
    """The tracker a form's validation sees: the slot was `before` when the customer sent
    `text`, and the message's language entity has just set it to `now`."""
    tracker = make_tracker(text, **tracker_args)
    tracker.slots["language"] = now
    history = [{"event": "slot", "name": "language", "value": before}] if before else []
    set_now = {"event": "slot", "name": "language", "value": now}
    tracker.events[:] = [*history, *tracker.events, set_now]
    return tracker


def asked(slot: str, form: str = "complaint_form") -> dict[str, Any]:
    """Tracker arguments: a form that asks for `slot`."""
    return {"active_loop": form, "slots": {"requested_slot": slot}}


@pytest.mark.parametrize(
    ("text", "slot", "form"),
    [
        ("北京市朝阳区建国路66号", "complaint_location", "complaint_form"),
        ("It's at 北京市朝阳区建国路66号院3号楼", "complaint_location", "complaint_form"),
        ("户号 0101234567", "complaint_location", "complaint_form"),
        ("电话 138 0013 8000", "phone", "complaint_form"),
        ("电话 138 0013 8000", "phone", "ticket_lookup_form"),
        ("电话 138 0013 8000", "phone", "handoff_callback_form"),
        ("验证码 123456", "verification_code", "verification_form"),
    ],
)
def test_an_identifier_a_form_asked_for_gives_the_language_back(
    text: str, slot: str, form: str
) -> None:
    tracker = after(text, before="en", now="zh", **asked(slot, form))
    assert restored_language(tracker) == [SlotSet("language", "en")]


def test_an_english_address_in_a_chinese_conversation_keeps_chinese() -> None:
    text = "18 Zhongguancun South Street, Haidian"
    tracker = after(text, before="zh", now="en", **asked("complaint_location"))
    assert restored_language(tracker) == [SlotSet("language", "zh")]


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        # The description is prose the customer writes to us: its language counts.
        ("抄表员上门态度很差，还骂人", "complaint_description"),
        ("服务态度", "complaint_category"),
        ("是的，提交", "complaint_confirm"),
    ],
)
def test_sentences_the_form_asked_for_keep_their_language(text: str, slot: str) -> None:
    assert restored_language(after(text, before="en", now="zh", **asked(slot))) == []


def test_outside_a_form_the_customer_switches_freely() -> None:
    # requested_slot lingers after a form ends; without an active loop it means nothing.
    args = {"slots": {"requested_slot": "complaint_location"}}
    assert restored_language(after("谢谢，工单号是多少", before="en", now="zh", **args)) == []


def test_an_identifier_as_the_first_words_has_nothing_to_give_back() -> None:
    tracker = after("北京市朝阳区建国路66号", before=None, now="zh", **asked("complaint_location"))
    assert restored_language(tracker) == []


async def test_the_complaint_forms_validation_gives_the_language_back() -> None:
    """KeepsLanguage on a real form validation: rasa_sdk's run, then the language."""
    tracker = after("北京市朝阳区建国路66号", before="en", now="zh", **asked("complaint_location"))
    tracker.slots["complaint_location"] = "北京市朝阳区建国路66号"
    events = await ValidateComplaintForm().run(CollectingDispatcher(), tracker, DOMAIN)
    assert SlotSet("language", "en") in events


async def test_no_base_validation_class_is_registered_as_an_action() -> None:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    assert "validate_complaint_form" in executor.actions
    assert not any(name.startswith("action_validate_slot") for name in executor.actions)
