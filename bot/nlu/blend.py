"""Second and third opinions on the intent, blended with DIET: linear models on the same
features and on the message's characters.

DIET without transformer layers is a small network on the message's sparse n-gram
features. A regularised logistic regression on the same features (TF-IDF weighted) makes
different mistakes: it is steadier on rare phrasings and very short messages, where DIET
is often confidently wrong. Averaging the two distributions is a classic ensemble; the
weight is `diet_weight` (chosen on the blind set's development half, see
docs/architecture.md, "Understanding").

A third model reads the text itself, its characters and their pinyin
(`bot.nlu.characters`), with weight `text_weight`: it catches pinyin, mixed script and
words jieba splits differently. The features model has what weight is left.

It runs after DIETClassifier and before FallbackClassifier, so the fallback's threshold
and ambiguity check see the blended confidences. The models are persisted with skops, as
Rasa's own LogisticRegressionClassifier does (no pickle).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import vstack
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from bot.nlu.characters import CharacterScorer, fit_character_model

RANKING = "intent_ranking"
# Beyond skops' defaults, the only types the fitted pipelines hold: TF-IDF's idf diagonal
# and the character model's pinyin preprocessor. Anything else in a model file is refused.
TRUSTED = {"scipy.sparse._csr.csr_matrix", "bot.nlu.characters.romanize"}

logger = logging.getLogger(__name__)


def _import_skops() -> Any:
    """skops.io, imported without changing the root logger's level. Importing it imports
    numpy.distutils, whose log module sets the root logger to WARNING: every INFO line
    Rasa wrote after loading a model was lost."""
    root = logging.getLogger()
    level = root.level
    import skops.io

    root.setLevel(level)
    return skops.io


# At import, so the parent class's own `import skops.io` finds it loaded.
sio = _import_skops()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BlendedIntentClassifier(LogisticRegressionClassifier):
    """Logistic regressions on the pipeline's sentence features and on the text's
    characters, averaged with the ranking the classifier before it (DIET) left on the
    message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "max_iter": 1000,
            # Inverse regularisation strength: TF-IDF rows are unit length, so weak
            # regularisation (10) fits the many rare n-grams customers' wording relies on.
            "C": 10.0,
            # The weight of the earlier classifier's ranking, and of the character model;
            # 1 - diet_weight - text_weight for the features model.
            "diet_weight": 0.5,
            "text_weight": 0.0,
            # The character model's optimiser iterations (its own: it has 72,000 features).
            "text_max_iter": 1000,
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf = Pipeline(
            [
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
                (
                    "lr",
                    LogisticRegression(
                        C=float(self.config["C"]),
                        max_iter=int(self.config["max_iter"]),
                        tol=self.config["tol"],
                        random_state=self.config["random_state"],
                    ),
                ),
            ]
        )
        diet, text = float(self.config["diet_weight"]), float(self.config["text_weight"])
        if not (0.0 <= diet and 0.0 <= text and diet + text <= 1.0):
            raise ValueError(f"{name}: diet_weight and text_weight must be >= 0, sum <= 1")
        self.text_clf: Pipeline | None = None  # trained, or loaded, when text_weight > 0
        self._text_scorer: CharacterScorer | None = None

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BlendedIntentClassifier:
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                component.clf = load_trusted(model_dir / f"{resource.name}.skops")
                if float(component.config["text_weight"]) > 0:
                    component.text_clf = load_trusted(model_dir / f"{resource.name}.text.skops")
                    component._text_scorer = CharacterScorer(component.text_clf)
        except ValueError:  # Rasa's storage: nothing persisted (no intent examples)
            logger.warning("%s: no trained model, DIET's intents are used alone", cls.__name__)
        return component

    def train(self, training_data: TrainingData) -> Resource:
        if float(self.config["text_weight"]) > 0:
            examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
            if examples:
                self.text_clf = fit_character_model(
                    [e.get(TEXT) for e in examples],
                    [e.get(INTENT) for e in examples],
                    float(self.config["C"]),
                    int(self.config["text_max_iter"]),
                    self.config["random_state"],
                )
                self._text_scorer = CharacterScorer(self.text_clf)
        resource = super().train(training_data)  # fits the features model, then persists
        # _ours averages the two column by column: the same labels in the same order.
        if self.text_clf is not None and hasattr(self.clf, "classes_"):
            if list(self.text_clf.classes_) != list(self.clf.classes_):
                raise RuntimeError(f"{self._resource.name}: the two models' labels differ")
        return resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.clf, model_dir / f"{self._resource.name}.skops")
            if self.text_clf is not None:
                sio.dump(self.text_clf, model_dir / f"{self._resource.name}.text.skops")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Rasa's LogisticRegressionClassifier predicts over its own training data here,
        # writing predictions over the labels the response selector trains on next.
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if not hasattr(self.clf, "classes_"):
            return messages  # untrained (no intent examples): leave DIET's answer
        # A message without words (empty, spaces) lacks some featurizers' sentence
        # features, so its row is narrower: DIET's answer stands (the fallback's, then).
        rows = [(m, self._create_X([m])) for m in messages]
        usable = [(m, x) for m, x in rows if x.shape[1] == self.clf.n_features_in_]
        if not usable:
            return messages
        probabilities = self._ours([m for m, _ in usable], vstack([x for _, x in usable]))
        weight = float(self.config["diet_weight"])
        for (message, _), ours in zip(usable, probabilities, strict=True):
            blended = blend(message.get(RANKING) or [], self.clf.classes_, ours, weight)
            if not blended:
                continue
            message.set(INTENT, blended[0], add_to_output=True)
            message.set(RANKING, blended[: self.config["ranking_length"]], add_to_output=True)
        return messages

    def _ours(self, messages: list[Message], features: Any) -> np.ndarray[Any, Any]:
        """The features model's probabilities, averaged with the character model's by their
        shares of what DIET leaves (both are trained on the same labels, so the same
        classes in the same order)."""
        probabilities: np.ndarray[Any, Any] = self.clf.predict_proba(features)
        left = 1.0 - float(self.config["diet_weight"])
        text = float(self.config["text_weight"])
        if self._text_scorer is None or left <= 0.0:
            return probabilities
        by_text = self._text_scorer.predict_proba([m.get(TEXT) or "" for m in messages])
        mixed: np.ndarray[Any, Any] = (left - text) / left * probabilities + text / left * by_text
        return mixed


def load_trusted(path: Any) -> Any:
    """A skops file, refused if it holds a type beyond skops' defaults and TRUSTED."""
    untrusted = set(sio.get_untrusted_types(file=path))
    if untrusted - TRUSTED:
        raise TypeError(f"{path}: unexpected types {sorted(untrusted - TRUSTED)}")
    return sio.load(path, trusted=sorted(untrusted))


def blend(
    ranking: list[dict[str, Any]],
    classes: Any,
    probabilities: np.ndarray[Any, Any],
    diet_weight: float,
    key: str = "name",
) -> list[dict[str, Any]]:
    """`diet_weight` x the earlier ranking + (1 - diet_weight) x ours, best first.
    Labels the earlier ranking left out count as 0 there. `key` names the label in the
    ranking's entries (a response selector's are "intent_response_key")."""
    pairs = zip(classes, probabilities, strict=True)
    scores = {str(name): (1.0 - diet_weight) * float(p) for name, p in pairs}
    for entry in ranking:
        name = str(entry[key])
        scores[name] = scores.get(name, 0.0) + diet_weight * float(entry["confidence"])
    return [
        {key: name, "confidence": confidence}
        for name, confidence in sorted(scores.items(), key=lambda item: -item[1])
    ]
