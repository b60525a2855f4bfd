from __future__ import annotations

from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionFallback
from tests.support.actions import make_tracker


def user(intent: str) -> dict:
    return {"event": "user", "text": "?", "parse_data": {"intent": {"name": intent}}}


async def run(*intents: str) -> tuple[list[dict], list[str]]:
    tracker = make_tracker("???", intent=intents[-1])
    tracker.events[:] = [user(i) for i in intents]
    dispatcher = CollectingDispatcher()
    events = await ActionFallback().run(dispatcher, tracker, {})
    return events, [m["response"] for m in dispatcher.messages]


async def test_first_miss_asks_to_rephrase() -> None:
    assert await run("greet", "nlu_fallback") == ([], ["utter_default"])


async def test_second_miss_in_a_row_hands_over() -> None:
    events, said = await run("nlu_fallback", "nlu_fallback")
    assert said == []
    assert FollowupAction("action_handoff") in events


async def test_misses_separated_by_an_understood_message_do_not_add_up() -> None:
    assert (await run("nlu_fallback", "faq", "nlu_fallback"))[1] == ["utter_default"]
