from __future__ import annotations

import re

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.cues import CUES, CueFeaturizer, cue_pattern
from bot.nlu.tokenizer import KefuJiebaTokenizer
from tests.conftest import ROOT

CONTEXT = ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalModelStorage:
    return LocalModelStorage(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def tokenizer(storage: LocalModelStorage) -> KefuJiebaTokenizer:
    config = {
        **KefuJiebaTokenizer.get_default_config(),
        "dictionary_path": str(ROOT / "data/jieba"),
    }
    return KefuJiebaTokenizer.create(config, storage, Resource("tokenizer"), CONTEXT)


@pytest.fixture(scope="module")
def featurizer(storage: LocalModelStorage) -> CueFeaturizer:
    """Trained on the project's own lexicons, then loaded back as a model would be."""
    config = {
        **CueFeaturizer.get_default_config(),
        "lookups": ["complaint_cue", "outage_mention"],
    }
    resource = Resource("cues")
    trained = CueFeaturizer.create(config, storage, resource, CONTEXT)
    trained.train(load_data(str(ROOT / "data/nlu/cues.yml")))
    return CueFeaturizer.load(config, storage, resource, CONTEXT)


def featurize(tokenizer: KefuJiebaTokenizer, featurizer: CueFeaturizer, text: str) -> Message:
    message = Message({TEXT: text})
    tokenizer.process([message])
    featurizer.process([message])
    return message


def test_chinese_cues_match_inside_words_and_english_only_as_whole_words() -> None:
    pattern = cue_pattern(["投诉", "rude", "hung up"])
    assert re.search(pattern, "我要投诉你们")
    assert re.search(pattern, "so RUDE!", re.IGNORECASE)
    assert re.search(pattern, "they hung   up on me")
    assert not re.search(pattern, "a prudent choice")
    assert not re.search(pattern, "crude oil")


def test_found_cues_are_recorded_and_become_features(
    tokenizer: KefuJiebaTokenizer, featurizer: CueFeaturizer
) -> None:
    message = featurize(tokenizer, featurizer, "停电三天了打电话一直没人接，太过分了")
    assert set(message.get(CUES)) == {"complaint_cue", "outage_mention"}
    sequence, sentence = message.get_sparse_features(TEXT, [featurizer._identifier])
    assert sentence is not None and sentence.features.sum() == 2  # both tables matched
    assert sequence is not None and sequence.features.shape[1] == 2


def test_a_neutral_question_has_no_cues(
    tokenizer: KefuJiebaTokenizer, featurizer: CueFeaturizer
) -> None:
    assert featurize(tokenizer, featurizer, "营业厅几点开门").get(CUES) == {}
    assert featurize(tokenizer, featurizer, "how do I apply for an e-invoice").get(CUES) == {}


def test_a_missing_lookup_table_is_a_clear_training_error(storage: LocalModelStorage) -> None:
    config = {**CueFeaturizer.get_default_config(), "lookups": ["no_such_table"]}
    featurizer = CueFeaturizer.create(config, storage, Resource("missing"), CONTEXT)
    with pytest.raises(ValueError, match="no_such_table"):
        featurizer.train(load_data(str(ROOT / "data/nlu/cues.yml")))
