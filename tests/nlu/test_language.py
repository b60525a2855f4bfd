from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.language import LanguageTagger


def tag(text: str, entities: list | None = None) -> list[dict]:
    message = Message({TEXT: text, ENTITIES: entities or []})
    LanguageTagger().process([message])
    return [e for e in message.get(ENTITIES) if e["entity"] == "language"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你好", "zh"),
        ("how can I pay my bill", "en"),
        ("我的bill太高了", "zh"),
        ("what is 阶梯电价", "en"),
    ],
)
def test_each_message_with_words_is_tagged_with_its_language(text: str, language: str) -> None:
    [entity] = tag(text)
    assert entity["value"] == language
    assert entity["extractor"] == "LanguageTagger"


@pytest.mark.parametrize("text", ["5", "😀", "", "138 0013 8000"])
def test_no_words_no_tag_so_the_conversation_keeps_its_language(text: str) -> None:
    assert tag(text) == []


def test_other_entities_are_kept() -> None:
    ticket = {"entity": "ticket_id", "value": "TK20261201-0001", "start": 0, "end": 15}
    message = Message({TEXT: "TK20261201-0001 进度", ENTITIES: [ticket]})
    LanguageTagger().process([message])
    assert [e["entity"] for e in message.get(ENTITIES)] == ["ticket_id", "language"]
