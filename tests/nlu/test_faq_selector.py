from __future__ import annotations

from typing import Any

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.faq_selector import BlendedResponseSelector
from tests.support.nlu import CONTEXT, featurized

# The character model drops n-grams seen once, so each answer repeats its key word.
QUESTIONS = {
    "faq/capacity_increase": ["怎么增容", "增容要多久", "增容需要什么", "申请增容", "增容费用"],
    "faq/account_transfer": ["怎么过户", "过户要多久", "过户需要什么", "电费过户", "办理过户"],
    "faq/business_hours": ["几点开门", "营业厅几点开门", "周末开门吗", "几点关门", "开门时间"],
}
ANSWERS = {f"utter_{key}": [{"text": f"answer for {key}"}] for key in QUESTIONS}


def train(tmp: Any, **config: Any) -> dict[str, Any]:
    """Tokenizer, featurizer and selector trained on a tiny set; the selector loaded back
    from storage as a model would be."""
    storage = LocalModelStorage(tmp)
    data = TrainingData(
        [
            Message({TEXT: t, INTENT: "faq", INTENT_RESPONSE_KEY: key})
            for key, texts in QUESTIONS.items()
            for t in texts
        ],
        responses=ANSWERS,
    )
    front = featurized(storage, data)
    config = {
        **BlendedResponseSelector.get_default_config(),
        "retrieval_intent": "faq",
        "epochs": 1,
        "random_seed": 1,
        **config,
    }
    resource = Resource("selector")
    BlendedResponseSelector.create(config, storage, resource, CONTEXT).train(data)
    loaded = BlendedResponseSelector.load(config, storage, resource, CONTEXT)
    return {**front, "selector": loaded, "dir": tmp}


def select(trained: dict[str, Any], text: str) -> dict[str, Any]:
    message = Message({TEXT: text})
    for step in ("tokenizer", "featurizer", "selector"):
        trained[step].process([message])
    selected: dict[str, Any] = message.get("response_selector")["faq"]
    return selected


@pytest.fixture(scope="module")
def characters_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The character model alone decides (Rasa's selector's weight is 0)."""
    return train(tmp_path_factory.mktemp("selector"), text_weight=1.0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("zengrong how long", "faq/capacity_increase"),
        ("guohu xuyao shenme", "faq/account_transfer"),
        ("yingyeting jidian kaimen", "faq/business_hours"),
    ],
)
def test_a_question_in_pinyin_gets_its_answer(
    characters_only: dict[str, Any], text: str, key: str
) -> None:
    selected = select(characters_only, text)
    response = selected["response"]
    assert response["intent_response_key"] == key
    assert response["utter_action"] == f"utter_{key}"  # what action_respond utters
    assert response["responses"] == ANSWERS[f"utter_{key}"]
    assert selected["ranking"][0]["intent_response_key"] == key
    assert response["confidence"] == selected["ranking"][0]["confidence"]


def test_the_blended_ranking_is_a_distribution_over_the_answers(
    characters_only: dict[str, Any],
) -> None:
    ranking = select(characters_only, "增容")["ranking"]
    assert {e["intent_response_key"] for e in ranking} == set(QUESTIONS)
    assert sum(e["confidence"] for e in ranking) == pytest.approx(1.0)
    confidences = [e["confidence"] for e in ranking]
    assert confidences == sorted(confidences, reverse=True)


def test_the_character_model_is_saved_with_the_selector(characters_only: dict[str, Any]) -> None:
    names = {p.name for p in characters_only["dir"].rglob("*.skops")}
    assert names == {"BlendedResponseSelector.text.skops"}


def test_weight_zero_is_rasas_selector_alone(tmp_path_factory: pytest.TempPathFactory) -> None:
    trained = train(tmp_path_factory.mktemp("plain"), text_weight=0.0)
    assert trained["selector"].text_clf is None
    assert not list(trained["dir"].rglob("*.skops"))
    assert select(trained, "增容要多久")["response"]["utter_action"].startswith("utter_faq/")


def test_a_weight_outside_zero_to_one_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="text_weight"):
        train(tmp_path, text_weight=1.5)
