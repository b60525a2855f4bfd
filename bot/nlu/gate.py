"""The last word on a parse: an FAQ answer only when the selector is sure, cues as entities.

Runs after the classifiers (and after `FallbackClassifier`):

- **FAQ gate.** DIET can be confident that a message is "a question" (`faq`) while the
  response selector has no answer that fits: "how do I freshen the smell in my car" is a
  question, and the nearest FAQ is meter accuracy. When the selector's top answer is below
  `faq_min_confidence`, or less than `faq_min_margin` ahead of the runner-up, the intent
  becomes `out_of_scope`: the bot says what it can help with and offers a person, and never
  gives an unrelated answer. Both thresholds are tuned on out-of-scope data
  (`scripts/tune_faq_gate.py`).
- **Cue entities.** The cues `bot.nlu.cues.CueFeaturizer` found become entities on the
  intents listed in `cue_entities`, so rules can act on them: an FAQ or outage answer to a
  message with complaint cues ends with an offer to file a complaint, and a complaint that
  mentions an outage also gets the outage answer.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.cues import CUES

FAQ = "faq"
OUT_OF_SCOPE = "out_of_scope"
# In the parse result of a message the gate turned away from the FAQ: what it measured
# (logs, and scripts/tune_faq_gate.py, which replays the gate on other thresholds).
GATED = "kefu_faq_gate"


def selector_confidences(message: Message) -> tuple[float, float]:
    """The FAQ response selector's top and runner-up confidences (0.0 when absent)."""
    selectors = message.get("response_selector") or {}
    selector = selectors.get(FAQ) or {}
    ranking = [float(r.get(PREDICTED_CONFIDENCE_KEY, 0.0)) for r in selector.get("ranking") or []]
    ranking += [0.0, 0.0]
    return ranking[0], ranking[1]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ServiceGate(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "faq_min_confidence": 0.0,
            "faq_min_margin": 0.0,
            # cue table -> intents on which a match becomes an entity of that name
            "cue_entities": {},
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._min_confidence = float(config["faq_min_confidence"])
        self._min_margin = float(config["faq_min_margin"])
        self._cue_entities: dict[str, list[str]] = dict(config["cue_entities"] or {})

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ServiceGate:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._gate_faq(message)
            self._mark_cues(message)
        return messages

    def _gate_faq(self, message: Message) -> None:
        intent = message.get(INTENT) or {}
        if intent.get(INTENT_NAME_KEY) != FAQ:
            return
        top, second = selector_confidences(message)
        if top >= self._min_confidence and top - second >= self._min_margin:
            return
        # Like FallbackClassifier: the new intent goes first and the ranking keeps what
        # the classifier thought, so logs and reports still show the FAQ underneath.
        rerouted = {INTENT_NAME_KEY: OUT_OF_SCOPE, PREDICTED_CONFIDENCE_KEY: 1.0 - top}
        message.data[INTENT] = rerouted
        message.data.setdefault(INTENT_RANKING_KEY, []).insert(0, dict(rerouted))
        message.set(GATED, {"confidence": top, "margin": top - second}, add_to_output=True)

    def _mark_cues(self, message: Message) -> None:
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        cues: dict[str, list[str]] = message.get(CUES) or {}
        text = message.get(TEXT) or ""
        entities = list(message.get(ENTITIES) or [])
        for table, intents in self._cue_entities.items():
            if intent not in intents or table not in cues:
                continue
            word = cues[table][0]
            start = text.lower().find(word.lower())
            entities.append(
                {
                    "entity": table,
                    "value": word,
                    "start": max(start, 0),
                    "end": max(start, 0) + len(word),
                    "extractor": type(self).__name__,
                }
            )
        if entities:
            message.set(ENTITIES, entities, add_to_output=True)
