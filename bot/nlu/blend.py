"""A second opinion on the intent: a linear model on the same features, blended with DIET.

DIET without transformer layers is a small network on the message's sparse n-gram
features. A regularised logistic regression on the same features (TF-IDF weighted) makes
different mistakes: it is steadier on rare phrasings and very short messages, where DIET
is often confidently wrong. Averaging the two distributions is a classic ensemble; the
weight is `diet_weight` (chosen on the blind set's development half, see
docs/architecture.md, "Understanding").

It runs after DIETClassifier and before FallbackClassifier, so the fallback's threshold
and ambiguity check see the blended confidences. The model is persisted with skops, as
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
from rasa.shared.nlu.constants import INTENT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import vstack
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

RANKING = "intent_ranking"
# Beyond skops' defaults, the only type the fitted pipeline holds: TfidfTransformer's idf
# diagonal. Anything else in a model file is refused.
TRUSTED = {"scipy.sparse._csr.csr_matrix"}

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
    """Logistic regression on the pipeline's sentence features, averaged with the ranking
    the classifier before it (DIET) left on the message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "max_iter": 1000,
            # Inverse regularisation strength: TF-IDF rows are unit length, so weak
            # regularisation (10) fits the many rare n-grams customers' wording relies on.
            "C": 10.0,
            # The weight of the earlier classifier's ranking; 1 - diet_weight for ours.
            "diet_weight": 0.5,
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
                path = model_dir / f"{resource.name}.skops"
                untrusted = set(sio.get_untrusted_types(file=path))
                if untrusted - TRUSTED:
                    raise TypeError(f"{path}: unexpected types {sorted(untrusted - TRUSTED)}")
                component.clf = sio.load(path, trusted=sorted(untrusted))
        except ValueError:  # Rasa's storage: nothing persisted (no intent examples)
            logger.warning("%s: no trained model, DIET's intents are used alone", cls.__name__)
        return component

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
        probabilities = self.clf.predict_proba(vstack([x for _, x in usable]))
        weight = float(self.config["diet_weight"])
        for (message, _), ours in zip(usable, probabilities, strict=True):
            blended = blend(message.get(RANKING) or [], self.clf.classes_, ours, weight)
            if not blended:
                continue
            message.set(INTENT, blended[0], add_to_output=True)
            message.set(RANKING, blended[: self.config["ranking_length"]], add_to_output=True)
        return messages


def blend(
    ranking: list[dict[str, Any]],
    classes: Any,
    probabilities: np.ndarray[Any, Any],
    diet_weight: float,
) -> list[dict[str, Any]]:
    """`diet_weight` x the earlier ranking + (1 - diet_weight) x ours, best first.
    Intents the earlier ranking left out count as 0 there."""
    pairs = zip(classes, probabilities, strict=True)
    scores = {str(name): (1.0 - diet_weight) * float(p) for name, p in pairs}
    for entry in ranking:
        name = str(entry["name"])
        scores[name] = scores.get(name, 0.0) + diet_weight * float(entry["confidence"])
    return [
        {"name": name, "confidence": confidence}
        for name, confidence in sorted(scores.items(), key=lambda item: -item[1])
    ]
