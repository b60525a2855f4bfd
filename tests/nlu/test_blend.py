from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.blend import BlendedIntentClassifier, blend
from bot.nlu.characters import CharacterScorer, fit_character_model, romanize
from tests.conftest import ROOT
from tests.support.nlu import CONTEXT, featurized

EXAMPLES = {
    "report_outage": ["停电了", "家里没电了", "my power is out", "no electricity at home"],
    "ask_bill": ["电费多少", "这个月账单", "how much is my bill", "why is my bill so high"],
    "greet": ["你好", "在吗", "hello", "hi there"],
}


def test_blend_weights_both_rankings_and_sorts() -> None:
    diet = [{"name": "greet", "confidence": 0.9}, {"name": "ask_bill", "confidence": 0.1}]
    ours = np.array([0.2, 0.8])  # ask_bill, report_outage
    out = blend(diet, np.array(["ask_bill", "report_outage"]), ours, diet_weight=0.5)
    assert [e["name"] for e in out] == ["greet", "report_outage", "ask_bill"]
    assert out[0]["confidence"] == pytest.approx(0.45)
    assert out[1]["confidence"] == pytest.approx(0.4)
    assert out[2]["confidence"] == pytest.approx(0.15)
    assert sum(e["confidence"] for e in out) == pytest.approx(1.0)


def test_weight_one_is_diet_alone_and_zero_ours_alone() -> None:
    diet = [{"name": "greet", "confidence": 1.0}]
    classes = np.array(["greet", "ask_bill"])
    assert blend(diet, classes, np.array([0.0, 1.0]), 1.0)[0]["name"] == "greet"
    assert blend(diet, classes, np.array([0.0, 1.0]), 0.0)[0]["name"] == "ask_bill"


def train_blend(tmp: Any, examples: dict[str, list[str]], **config: Any) -> dict[str, Any]:
    """Tokenizer, featurizer and blend trained on a tiny set, the blend loaded back from
    storage as a model would be."""
    storage = LocalModelStorage(tmp)
    data = TrainingData(
        [Message({TEXT: t, INTENT: i}) for i, texts in examples.items() for t in texts]
    )
    front = featurized(storage, data)
    config = {**BlendedIntentClassifier.get_default_config(), **config}
    resource = Resource("blend")
    BlendedIntentClassifier.create(config, storage, resource, CONTEXT).train(data)
    loaded = BlendedIntentClassifier.load(config, storage, resource, CONTEXT)
    return {
        **front,
        "blend": loaded,
        "data": data,
        "storage": tmp,
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return train_blend(tmp_path_factory.mktemp("model"), EXAMPLES, diet_weight=0.0)


def parse(trained: dict[str, Any], text: str, diet: list[dict[str, Any]]) -> Message:
    message = Message({TEXT: text, "intent_ranking": diet})
    trained["tokenizer"].process([message])
    trained["featurizer"].process([message])
    trained["blend"].process([message])
    return message


def test_a_saved_blend_loads_and_classifies(trained: dict[str, Any]) -> None:
    message = parse(trained, "我家停电了", [])
    assert message.get(INTENT)["name"] == "report_outage"
    message = parse(trained, "my bill is so high", [])
    assert message.get(INTENT)["name"] == "ask_bill"
    ranking = message.get("intent_ranking")
    assert {e["name"] for e in ranking} == set(EXAMPLES)
    assert sum(e["confidence"] for e in ranking) == pytest.approx(1.0)


def test_diet_weight_lets_the_earlier_ranking_decide(trained: dict[str, Any]) -> None:
    component = trained["blend"]
    component.config["diet_weight"] = 1.0
    try:
        diet = [{"name": "greet", "confidence": 1.0}]
        assert parse(trained, "我家停电了", diet).get(INTENT)["name"] == "greet"
    finally:
        component.config["diet_weight"] = 0.0


def test_training_data_keeps_its_labels(trained: dict[str, Any]) -> None:
    # The response selector trains after the blend on the same data: its labels must stay.
    data = trained["blend"].process_training_data(trained["data"])
    assert {m.get(INTENT) for m in data.training_examples} == set(EXAMPLES)


def test_a_message_narrower_than_the_training_rows_keeps_diets_answer(
    trained: dict[str, Any],
) -> None:
    # Without words, some featurizers add no sentence feature (seen with "" in the bot).
    diet = {"name": "nlu_fallback", "confidence": 1.0}
    message = Message({TEXT: "", INTENT: diet, "intent_ranking": [diet]})
    message.add_features(
        Features(scipy.sparse.coo_matrix(np.ones((1, 3))), FEATURE_TYPE_SENTENCE, TEXT, "x")
    )
    trained["blend"].process([message])
    assert message.get(INTENT) == diet


@pytest.mark.parametrize("text", ["", "   ", "😀😀"])
def test_messages_without_words_do_not_break_it(trained: dict[str, Any], text: str) -> None:
    ranking = parse(trained, text, []).get("intent_ranking")
    assert sum(e["confidence"] for e in ranking) == pytest.approx(1.0)


# The character model drops n-grams seen once, so each intent repeats its key word.
SPELT = {
    "report_outage": ["停电了", "又停电了", "家里停电", "我家停电", "my power is out"],
    "ask_bill": ["电费多少", "电费太贵", "查电费", "这个月电费", "how much is my bill"],
    "greet": ["你好", "你好呀", "您好", "你好啊", "hello"],
}


def test_romanize_spells_chinese_in_pinyin_without_spaces_or_case() -> None:
    assert romanize("停 电") == romanize("TingDian") == "tingdian"
    assert romanize("电费多少 Bill??") == "dianfeiduoshaobill??"


@pytest.fixture(scope="module")
def spelt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Only the character model decides (DIET and the features model weigh 0)."""
    return train_blend(tmp_path_factory.mktemp("spelt"), SPELT, diet_weight=0.0, text_weight=1.0)


@pytest.mark.parametrize(
    ("text", "intent"),
    [("tingdian le", "report_outage"), ("dianfei duoshao", "ask_bill"), ("nihao", "greet")],
)
def test_the_character_model_reads_pinyin(spelt: dict[str, Any], text: str, intent: str) -> None:
    # None of these letters is in the training data: they match its Chinese through pinyin.
    assert parse(spelt, text, []).get(INTENT)["name"] == intent


def test_the_character_model_is_saved_beside_the_features_model(spelt: dict[str, Any]) -> None:
    names = {p.name for p in spelt["storage"].rglob("*.skops")}
    assert names == {"blend.skops", "blend.text.skops"}


def test_a_blend_with_both_linear_models_sums_to_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    both = train_blend(tmp_path_factory.mktemp("both"), SPELT, diet_weight=0.3, text_weight=0.5)
    diet = [{"name": "greet", "confidence": 1.0}]
    ranking = parse(both, "我家又停电了", diet).get("intent_ranking")
    assert ranking[0]["name"] == "report_outage"
    assert sum(e["confidence"] for e in ranking) == pytest.approx(1.0)


def test_the_fast_scorer_equals_the_pipeline(spelt: dict[str, Any]) -> None:
    model = spelt["blend"].text_clf
    texts = [t for ts in SPELT.values() for t in ts]
    texts += ["tingdian", "我家又停电了 bill", "", "   ", "😀", "zzzz", "电费电费电费 多少"]
    expected = model.predict_proba(texts)
    got = CharacterScorer(model).predict_proba(texts)
    assert list(CharacterScorer(model).classes_) == list(model.classes_)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_the_fast_scorer_equals_the_pipeline_with_two_intents() -> None:
    texts = ["停电 outage", "停电了 outage", "电费 bill", "电费多少 bill"]
    model = fit_character_model(texts, list("aabb"), 10.0, 100, None)
    probe = [*texts, "tingdian", "", "bill bill 电费"]
    expected = model.predict_proba(probe)
    np.testing.assert_allclose(CharacterScorer(model).predict_proba(probe), expected, atol=1e-12)


def test_chinese_only_training_data_still_trains() -> None:
    # No "word" (a run of Chinese, to scikit-learn) is seen twice: that view keeps all.
    texts = ["停电了", "又停电了", "家里停电", "电费多少", "电费太贵", "查电费", "你好", "你好呀"]
    model = fit_character_model(texts, [*"aaa", *"bbb", *"cc"], 10.0, 100, None)
    union = model.named_steps["features"]
    assert [name for name, _ in union.transformer_list] == ["chars", "pinyin", "words"]
    assert union.transformer_list[2][1].min_df == 1
    assert model.predict(["tingdian"])[0] == "a"


@pytest.mark.parametrize(("diet", "text"), [(0.6, 0.6), (-0.1, 0.5), (0.5, -0.1)])
def test_weights_outside_the_simplex_are_refused(diet: float, text: float) -> None:
    config = {**BlendedIntentClassifier.get_default_config(), "diet_weight": diet}
    with pytest.raises(ValueError, match="text_weight"):
        BlendedIntentClassifier({**config, "text_weight": text}, "blend", None, Resource("b"))


def test_importing_it_keeps_the_root_loggers_level() -> None:
    # skops imports numpy.distutils, which set the root logger to WARNING: Rasa's INFO
    # lines stopped once a model was loaded.
    code = (
        "import logging; logging.basicConfig(level=logging.INFO); import bot.nlu.blend; "
        "assert logging.getLogger().level == logging.INFO, logging.getLogger().level"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
