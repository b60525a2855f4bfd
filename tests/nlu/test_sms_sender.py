"""bot/nlu/sms_sender.py: only the SMS channel's metadata yields the sender's phone."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.sms_sender import SmsSenderTagger


def entities(metadata: Any, text: str = "电费怎么交") -> list[dict[str, Any]]:
    message = Message(data={"text": text, "metadata": metadata})
    SmsSenderTagger().process([message])
    return [e for e in message.get("entities") or [] if e["entity"] == "sms_sender"]


def test_the_sms_channels_sender_becomes_the_entity() -> None:
    [entity] = entities({"channel": "sms", "phone": "+8613800138000", "MessageSid": "SM1"})
    assert entity["value"] == "+8613800138000"
    assert entity["extractor"] == "SmsSenderTagger"


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"lang": "zh-CN", "page": "/"},  # the web widget's allow-listed metadata
        {"phone": "+8613800138000"},  # no channel: nobody vouched for it
        {"channel": "socketio", "phone": "+8613800138000"},
        {"channel": "sms", "phone": "13800138000"},  # not E.164
        {"channel": "sms", "phone": "+86138001380001234567"},
        {"channel": "sms", "phone": ["+8613800138000"]},
        "sms",
    ],
)
def test_nothing_else_yields_a_phone(metadata: Any) -> None:
    assert entities(metadata) == []


def test_other_entities_are_kept() -> None:
    message = Message(
        data={
            "text": "hi",
            "metadata": {"channel": "sms", "phone": "+14155550123"},
            "entities": [{"entity": "language", "value": "en"}],
        }
    )
    SmsSenderTagger().process([message])
    assert [e["entity"] for e in message.get("entities")] == ["language", "sms_sender"]
