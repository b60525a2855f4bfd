from __future__ import annotations

import pytest

from bot.channels.webchat import MAX_MESSAGE_CHARS, _validate


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("just a string", "event payload must be an object"),
        (None, "event payload must be an object"),
        ({"message": 42, "session_id": "abcdef123456"}, "message must be a string"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1), "session_id": "abcdef123456"}, "longer than"),
        ({"message": "hi"}, "session_id is required"),
    ],
)
def test_rejects_malformed_events(data: object, reason: str) -> None:
    error = _validate(data, session_persistence=True)
    assert error is not None and reason in error


@pytest.mark.parametrize("message", ["", "你好", "😀", "x" * MAX_MESSAGE_CHARS, "\x00\x1b[31m"])
def test_accepts_any_text_within_limits(message: str) -> None:
    assert _validate({"message": message, "session_id": "abcdef123456"}, True) is None
