"""The JSON log format: one object a line, phones masked, the conversation of the turn
(tests/ops/test_desk.py reads a real desk's JSON log)."""

from __future__ import annotations

import json
import logging
import sys

from bot.ops import context
from bot.ops.logs import JsonFormatter


def line(message: str, *args: object, exc_info: object = None) -> dict:
    record = logging.getLogger("kefu.test").makeRecord(
        "kefu.test",
        logging.WARNING,
        __file__,
        1,
        message,
        args,
        exc_info,
    )
    text = JsonFormatter().format(record)
    assert "\n" not in text
    return json.loads(text)


def test_a_line_names_time_level_logger_and_message() -> None:
    found = line("ticket %s filed", "TK1")
    assert found["level"] == "WARNING" and found["logger"] == "kefu.test"
    assert found["message"] == "ticket TK1 filed"
    assert found["time"].endswith("Z")
    assert "conversation_id" not in found


def test_the_turns_conversation_is_named_masked() -> None:
    with context.conversation("sms:+8613800000001"):
        found = line("reply to %s queued", "13800000001")
    assert found["conversation_id"] == "sms:+86138****0001"
    assert "13800000001" not in json.dumps(found)
    assert "conversation_id" not in line("after the turn")


def test_exceptions_are_one_masked_field() -> None:
    try:
        raise ValueError("no such number +8613800000001")
    except ValueError:
        found = line("lookup failed", exc_info=sys.exc_info())
    assert "ValueError" in found["exception"]
    assert "+86138****0001" in found["exception"] and "8613800000001" not in found["exception"]
