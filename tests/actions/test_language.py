from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionDetectLanguage
from bot.language import detect_language
from tests.support.actions import make_tracker


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


def tracker(text: str, language: str | None) -> Tracker:
    return Tracker(
        sender_id="test",
        slots={"language": language},
        latest_message={"text": text, "intent": {"name": "greet"}, "entities": []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(text: str, language: str | None) -> list[dict]:
    return await ActionDetectLanguage().run(CollectingDispatcher(), tracker(text, language), {})


async def test_sets_language_when_it_changes() -> None:
    assert await run("hello there", "zh") == [SlotSet("language", "en")]
    assert await run("你好", "en") == [SlotSet("language", "zh")]


async def test_keeps_language_when_unchanged_or_unknown() -> None:
    assert await run("hello", "en") == []
    assert await run("5", "en") == []  # a bare survey score says nothing about language
    assert await run("👍", None) == []


async def detect(text: str, **tracker_args: Any) -> list[dict]:
    """Runs the language mapping on a tracker like the one Rasa sends mid-form."""
    tracker = make_tracker(text, **tracker_args)
    return await ActionDetectLanguage().run(CollectingDispatcher(), tracker, {})


def asked(slot: str, form: str = "complaint_form") -> dict[str, Any]:
    """Tracker arguments: an English conversation whose form asks for `slot`."""
    return {"active_loop": form, "slots": {"language": "en", "requested_slot": slot}}


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
async def test_an_identifier_a_form_asked_for_keeps_the_language(
    text: str, slot: str, form: str
) -> None:
    assert await detect(text, **asked(slot, form)) == []


async def test_an_english_address_in_a_chinese_conversation_keeps_chinese() -> None:
    args = {
        "active_loop": "complaint_form",
        "slots": {"language": "zh", "requested_slot": "complaint_location"},
    }
    assert await detect("18 Zhongguancun South Street, Haidian", **args) == []


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        # The description is prose the customer writes to us: its language counts.
        ("抄表员上门态度很差，还骂人", "complaint_description"),
        ("服务态度", "complaint_category"),
        ("是的，提交", "complaint_confirm"),
    ],
)
async def test_sentences_the_form_asked_for_still_set_the_language(text: str, slot: str) -> None:
    assert await detect(text, **asked(slot)) == [SlotSet("language", "zh")]


async def test_after_the_form_the_customer_switches_again() -> None:
    # requested_slot lingers after a form ends; without an active loop it means nothing.
    args = {"slots": {"language": "en", "requested_slot": "complaint_location"}}
    assert await detect("谢谢，工单号是多少", **args) == [SlotSet("language", "zh")]


async def test_a_first_button_click_follows_the_browsers_language() -> None:
    """A payload has no words; the widget's `lang` hint decides until the customer writes."""
    first = make_tracker("/complain", slots={"language": None}, metadata={"lang": "en-US"})
    assert await ActionDetectLanguage().run(CollectingDispatcher(), first, {}) == [
        SlotSet("language", "en")
    ]
    # Once the conversation has a language, the hint never overrides it.
    later = make_tracker("/complain", slots={"language": "zh"}, metadata={"lang": "en-US"})
    assert await ActionDetectLanguage().run(CollectingDispatcher(), later, {}) == []
    unknown = make_tracker("/complain", slots={"language": None}, metadata={"lang": "fr-FR"})
    assert await ActionDetectLanguage().run(CollectingDispatcher(), unknown, {}) == []
