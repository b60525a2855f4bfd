"""The SMS sender's phone number, found in the NLU pipeline, as an `sms_sender` entity.

The `phone` slot follows this entity (domain.yml, a `from_entity` mapping). Only the SMS
channel vouches for a number: it puts the E.164 sender Twilio signed for into the
message's metadata with `"channel": "sms"` (bot/sms/turns.py). The web channel passes on
no metadata but its allow-list (`lang`, `page`: bot/channels/webchat.py), so a browser
cannot claim one. Before, a custom slot mapping called the action server on every turn
of every channel to do this (a tracker sent and parsed per message).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, METADATA
from rasa.shared.nlu.training_data.message import Message

ENTITY = "sms_sender"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # fullmatch


def sender_of(metadata: Any) -> str | None:
    """The phone the SMS channel vouched for in a message's metadata, if any."""
    if not isinstance(metadata, dict) or metadata.get("channel") != "sms":
        return None
    phone = metadata.get("phone")
    return phone if isinstance(phone, str) and E164.fullmatch(phone) else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class SmsSenderTagger(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SmsSenderTagger:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            phone = sender_of(message.get(METADATA))
            if phone is None:
                continue
            entity = {"entity": ENTITY, "value": phone, "extractor": type(self).__name__}
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages
