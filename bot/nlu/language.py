"""The language of each message, found in the NLU pipeline, as a `language` entity.

The `language` slot is filled from this entity (domain.yml, a `from_entity` mapping), so
keeping it current costs nothing per message: before, a custom slot mapping called the
action server on every turn. The detection is `bot.language.detect_language`, the one the
web channel uses too. A message with no words (digits, emoji) has no entity and keeps the
conversation's language; a button's payload never reaches the pipeline.

What a form's identifier answer (a Chinese street address in an English conversation)
must not do, switch the language, is undone where the form is validated
(`actions/language.py`).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language import detect_language

ENTITY = "language"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageTagger(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageTagger:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect_language(text)
            if language is None:
                continue
            entity = {
                "entity": ENTITY,
                "value": language,
                "start": 0,
                "end": len(text),
                "extractor": type(self).__name__,
            }
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages
