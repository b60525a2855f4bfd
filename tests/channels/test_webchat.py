"""The web channel's pure parts: payload checks, metadata allow-list, its own texts."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.webchat import (
    CLIENT_METADATA,
    MAX_MESSAGE_CHARS,
    MAX_PACKET_BYTES,
    TEXT_CODES,
    _signer,
    _validate,
    client_metadata,
    load_texts,
)
from bot.settings import PROJECT_ROOT


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("just a string", "event payload must be an object"),
        (None, "event payload must be an object"),
        ({"message": 42}, "message must be a string"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "longer than"),
        ({"message": "bad \ud800 half"}, "surrogate"),
    ],
)
def test_rejects_malformed_events(data: object, reason: str) -> None:
    error = _validate(data)
    assert error is not None and reason in error


@pytest.mark.parametrize("message", ["", "你好", "😀", "x" * MAX_MESSAGE_CHARS, "\x00\x1b[31m"])
def test_accepts_any_text_within_limits(message: str) -> None:
    assert _validate({"message": message}) is None


def test_the_longest_message_fits_one_packet_however_it_is_encoded() -> None:
    worst = json.dumps(["user_uttered", {"message": "😀" * MAX_MESSAGE_CHARS}])  # \ud83d\ude00
    assert len(worst) < MAX_PACKET_BYTES
    # The widget's input field allows exactly what the server accepts.
    page = (PROJECT_ROOT / "bot" / "desk" / "templates" / "index.html").read_text()
    assert f'maxlength="{MAX_MESSAGE_CHARS}"' in page


def test_metadata_keeps_only_small_allowed_fields() -> None:
    sent = {
        "lang": "zh-CN",
        "page": "/service/outage",
        "phone": "+8613800138000",
        "ticket_id": "TK20261125-0001",
        "verified_phone": "+8613800138000",
    }
    assert client_metadata(sent) == {"lang": "zh-CN", "page": "/service/outage"}
    assert client_metadata({"lang": "x" * 100, "page": "/" + "a" * 300}) == {}
    assert client_metadata({"lang": ["zh"], "page": {"a": 1}}) == {}
    assert client_metadata({"page": "javascript:alert(1)"}) == {}
    assert client_metadata("not a dict") == {}


@given(st.dictionaries(st.text(max_size=20), st.recursive(st.none() | st.text(), st.lists)))
def test_metadata_never_grows_beyond_the_allow_list(raw: dict) -> None:
    kept = client_metadata(raw)
    assert set(kept) <= set(CLIENT_METADATA)
    assert all(isinstance(v, str) and len(v) <= 200 for v in kept.values())


def test_every_channel_text_exists_in_both_languages() -> None:
    texts = load_texts()
    assert set(texts) == set(TEXT_CODES)
    for code in TEXT_CODES:
        assert re.search(r"[\u4e00-\u9fff]", texts[code]["zh"])
        assert texts[code]["en"].isascii()


def test_without_a_secret_web_sessions_are_refused_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No default secret: the channel starts, logs why, and refuses every session_request
    (with the `unavailable` text) instead of signing with something guessable."""
    monkeypatch.delenv("KEFU_WEB_SESSION_SECRET", raising=False)
    with caplog.at_level(logging.ERROR, logger="bot.channels.webchat"):
        assert _signer() is None
    assert "KEFU_WEB_SESSION_SECRET: must be set" in caplog.text
    monkeypatch.setenv("KEFU_WEB_SESSION_SECRET", "k" * 32)
    assert _signer() is not None
