"""Rasa's FAQ response selector with a second opinion from the message's characters.

The selector, like DIET, reads jieba's words and n-grams inside them. Customers also ask
FAQ questions in pinyin ("zengrong how long does it take", "guohu for electricity") or in
words the training data splits differently. A logistic regression on the text's
characters, pinyin and word pairs (`bot.nlu.characters`), trained on the retrieval
intent's examples, is averaged into the selector's ranking with weight `text_weight`
(chosen on the blind set's development half, config.yml).

The blended ranking is what every reader of the parse sees: the answer the bot gives
(`response.utter_action`), the FAQ gate's confidence and margin (`bot/nlu/gate.py`), and
the two-stage fallback's buttons.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_DEFAULT_INTENT,
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.nlu.training_data.util import intent_response_key_to_template_key
from sklearn.pipeline import Pipeline

from bot.nlu.blend import blend, load_trusted, sio
from bot.nlu.characters import CharacterScorer, fit_character_model

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BlendedResponseSelector(ResponseSelector):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # The character model's weight; 0 is Rasa's selector alone.
        return {**ResponseSelector.get_default_config(), "text_weight": 0.0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        weight = float(self.component_config["text_weight"])
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"{type(self).__name__}: text_weight must be within [0, 1]")
        self.text_clf: Pipeline | None = None
        self._text_scorer: CharacterScorer | None = None

    def train(self, training_data: TrainingData) -> Resource:
        if float(self.component_config["text_weight"]) > 0:
            self._train_text_model(training_data)
        return super().train(training_data)  # persists, the character model too

    def _train_text_model(self, training_data: TrainingData) -> None:
        examples = [
            e
            for e in training_data.intent_examples
            if e.get(INTENT_RESPONSE_KEY)
            and e.get(TEXT)
            and (not self.retrieval_intent or e.get(INTENT) == self.retrieval_intent)
        ]
        if len({e.get(INTENT_RESPONSE_KEY) for e in examples}) < 3:
            logger.warning("%s: fewer than 3 answers, no character model", type(self).__name__)
            return
        # The intent blend's regularisation (C 10): short texts, many rare n-grams.
        self.text_clf = fit_character_model(
            [e.get(TEXT) for e in examples],
            [e.get(INTENT_RESPONSE_KEY) for e in examples],
            10.0,
            1000,
            self.component_config.get("random_seed"),
        )
        self._text_scorer = CharacterScorer(self.text_clf)

    def persist(self) -> None:
        super().persist()
        if self.text_clf is not None and self._text_scorer is not None:
            with self._model_storage.write_to(self._resource) as model_dir:
                sio.dump(self.text_clf, model_dir / f"{type(self).__name__}.text.skops")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BlendedResponseSelector:
        selector = super().load(config, model_storage, resource, execution_context, **kwargs)
        assert isinstance(selector, BlendedResponseSelector)
        if float(selector.component_config["text_weight"]) <= 0:
            return selector
        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / f"{cls.__name__}.text.skops"
                if path.exists():
                    selector.text_clf = load_trusted(path)
                    selector._text_scorer = CharacterScorer(selector.text_clf)
        except ValueError:  # nothing persisted: the selector was not trained either
            pass
        return selector

    def process(self, messages: list[Message]) -> list[Message]:
        messages = super().process(messages)
        if self._text_scorer is None:
            return messages
        probabilities = self._text_scorer.predict_proba([m.get(TEXT) or "" for m in messages])
        for message, ours in zip(messages, probabilities, strict=True):
            self._blend_into(message, self._text_scorer.classes_, ours)
        return messages

    def _blend_into(self, message: Message, classes: Any, ours: Any) -> None:
        selectors = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
        selected = selectors.get(self.retrieval_intent or RESPONSE_SELECTOR_DEFAULT_INTENT)
        if not selected or not selected.get(RESPONSE_SELECTOR_RANKING_KEY):
            return
        old = selected[RESPONSE_SELECTOR_RANKING_KEY]
        ids = {entry[INTENT_RESPONSE_KEY]: entry.get("id") for entry in old}
        weight = 1.0 - float(self.component_config["text_weight"])
        ranking = blend(old, classes, ours, weight, key=INTENT_RESPONSE_KEY)
        for entry in ranking:
            entry["id"] = ids.get(entry[INTENT_RESPONSE_KEY])
        length = int(self.component_config["ranking_length"])
        selected[RESPONSE_SELECTOR_RANKING_KEY] = ranking[:length] if length > 0 else ranking
        top = ranking[0]
        key = top[INTENT_RESPONSE_KEY]
        template = intent_response_key_to_template_key(key)
        selected[RESPONSE_SELECTOR_PREDICTION_KEY] = {
            # Rasa's selector falls back to the key itself when the domain lacks the answer.
            RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(template) or [{TEXT: key}],
            PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY],
            INTENT_RESPONSE_KEY: key,
            RESPONSE_SELECTOR_UTTER_ACTION_KEY: template,
        }
