from __future__ import annotations

from typing import Any

from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.cues import CUES
from bot.nlu.gate import GATED, ServiceGate

CONFIG = {
    "faq_min_confidence": 0.7,
    "faq_min_margin": 0.1,
    "cue_entities": {"complaint_cue": ["faq"], "outage_mention": ["complain"]},
}


def parsed(
    intent: str, selector: list[float], cues: dict[str, list[str]] | None = None, text: str = "?"
) -> Message:
    ranking = [
        {"intent_response_key": f"faq/k{i}", "confidence": c} for i, c in enumerate(selector)
    ]
    return Message(
        {
            TEXT: text,
            "intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [{"name": intent, "confidence": 0.9}],
            "response_selector": {"faq": {"ranking": ranking}},
            CUES: cues or {},
        }
    )


def run(message: Message) -> dict[str, Any]:
    ServiceGate(CONFIG).process([message])
    return message.data


def test_a_sure_faq_answer_passes() -> None:
    data = run(parsed("faq", [0.9, 0.05]))
    assert data["intent"]["name"] == "faq"
    assert GATED not in data


def test_an_unsure_faq_answer_becomes_out_of_scope_and_says_why() -> None:
    data = run(parsed("faq", [0.5, 0.3]))
    assert data["intent"]["name"] == "out_of_scope"
    assert data["intent_ranking"][0]["name"] == "out_of_scope"
    assert data["intent_ranking"][1]["name"] == "faq"  # what the classifier thought
    assert data[GATED] == {"confidence": 0.5, "margin": 0.2}


def test_two_close_faq_answers_are_unsure_too() -> None:
    assert run(parsed("faq", [0.75, 0.7]))["intent"]["name"] == "out_of_scope"


def test_other_intents_are_never_gated() -> None:
    assert run(parsed("complain", [0.1, 0.05]))["intent"]["name"] == "complain"


def test_cues_become_entities_only_on_their_intents() -> None:
    text = "热线太过分了"
    data = run(parsed("faq", [0.9, 0.0], {"complaint_cue": ["太过分"]}, text))
    [entity] = data["entities"]
    assert entity["entity"] == "complaint_cue"
    assert text[entity["start"] : entity["end"]] == "太过分"
    data = run(parsed("greet", [0.9, 0.0], {"complaint_cue": ["太过分"]}, text))
    assert "entities" not in data
    data = run(parsed("complain", [0.1, 0.0], {"outage_mention": ["停电"]}, "停电了"))
    assert [e["entity"] for e in data["entities"]] == ["outage_mention"]
