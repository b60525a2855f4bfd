from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionDetectLanguage
from bot.language import detect_language


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
