"""Small trained NLU front ends for component tests: Kefu's tokenizer and a character
n-gram featurizer, fitted on a tiny training set."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.tokenizer import KefuJiebaTokenizer
from tests.conftest import ROOT

CONTEXT = ExecutionContext(GraphSchema({}), "test")


def featurized(storage: LocalModelStorage, data: TrainingData) -> dict[str, Any]:
    """Tokenizer and featurizer trained on `data`, which they tokenize and featurize."""
    tokenizer = KefuJiebaTokenizer.create(
        {**KefuJiebaTokenizer.get_default_config(), "dictionary_path": str(ROOT / "data/jieba")},
        storage,
        Resource("tokenizer"),
        CONTEXT,
    )
    featurizer = CountVectorsFeaturizer.create(
        {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "max_ngram": 3},
        storage,
        Resource("cv"),
        CONTEXT,
    )
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)
    return {"tokenizer": tokenizer, "featurizer": featurizer}
