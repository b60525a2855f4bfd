from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionAskAffirmation, ActionDefaultFallback, suggestions
from tests.conftest import ROOT
from tests.support.actions import make_tracker
from tests.support.contracts import CONTRACT_INTENTS, FAQ_KEYS


def unsure(ranking: list[tuple[str, float]], *, language: str = "zh", faq_key: str = "") -> Any:
    tracker = make_tracker("嗯那个电", intent="nlu_fallback", slots={"language": language})
    tracker.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        *({"name": n, "confidence": c} for n, c in ranking),
    ]
    if faq_key:
        tracker.latest_message["response_selector"] = {
            "faq": {"response": {"intent_response_key": f"faq/{faq_key}", "confidence": 0.6}}
        }
    return tracker


async def ask(tracker: Any) -> dict[str, Any]:
    dispatcher = CollectingDispatcher()
    assert await ActionAskAffirmation().run(dispatcher, tracker, {}) == []
    [message] = dispatcher.messages
    return message


async def test_did_you_mean_offers_the_two_likeliest_intents_then_none_of_these() -> None:
    message = await ask(unsure([("report_outage", 0.35), ("out_of_scope", 0.2), ("ask_bill", 0.1)]))
    assert message["text"] == suggestions().prompt["zh"]
    assert [b["payload"] for b in message["buttons"]] == [
        "/report_outage",
        "/ask_bill",
        "/out_of_scope",
    ]
    assert [b["title"] for b in message["buttons"]][-1] == "都不是"


async def test_an_faq_meaning_is_offered_as_a_question_the_model_knows() -> None:
    tracker = unsure([("faq", 0.3), ("pay_bill", 0.2)], language="en", faq_key="hotline")
    message = await ask(tracker)
    question = suggestions().faq["hotline"]["en"]
    assert message["buttons"][0] == {"title": question, "payload": question}
    assert message["buttons"][1]["payload"] == "/pay_bill"
    assert message["text"].startswith("Sorry")


async def test_the_second_unclear_message_records_why_a_person_takes_over() -> None:
    # The handoff itself is the rule after the loop gives up (data/rules/fallback.yml).
    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(dispatcher, make_tracker("??"), {})
    assert dispatcher.messages == []
    assert events == [SlotSet("handoff_reason", "fallback")]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_intent_and_faq_key_has_a_suggestion_in_both_languages(language: str) -> None:
    content = suggestions()
    assert set(content.intents) == CONTRACT_INTENTS - {"out_of_scope"}
    assert set(content.faq) == FAQ_KEYS
    for labels in [*content.intents.values(), *content.faq.values()]:
        assert labels[language].strip()
    assert (ROOT / "content" / "fallback" / "suggestions.yml").is_file()
