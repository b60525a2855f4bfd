from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.sms.webhook import WebhookError, parse_form, public_url, signature_valid
from tests.support.sms import TOKEN, sign


def test_parse_keeps_blank_values_order_and_repeats() -> None:
    params = parse_form(b"Body=&From=%2B86138&MediaUrl0=a&Body=second&Plus=a+b")
    assert params == {
        "Body": ["", "second"],
        "From": ["+86138"],
        "MediaUrl0": ["a"],
        "Plus": ["a b"],
    }
    assert params.first("Body") == ""


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"Body=%FF", 400, "Body"),
        (b"%FF=1", 400, "\ufffd"),
        (b"=value", 400, "body"),
        (b"a=" + b"x" * 300_000, 413, "body"),
    ],
    ids=["bad-value", "bad-name", "no-name", "oversized"],
)
def test_parse_errors_name_the_field(body: bytes, status: int, field: str) -> None:
    with pytest.raises(WebhookError) as error:
        parse_form(body)
    assert (error.value.status, error.value.field) == (status, field)


def test_public_url() -> None:
    seen = "http://127.0.0.1:5005/webhooks/sms/webhook?x=1"
    assert public_url(None, seen, "/webhooks/sms/webhook", "x=1") == seen
    assert (
        public_url("https://kefu.example.com/", seen, "/webhooks/sms/webhook", "x=1")
        == "https://kefu.example.com/webhooks/sms/webhook?x=1"
    )


def test_signature_covers_repeated_and_blank_values() -> None:
    # Twilio's algorithm: URL, then each name (sorted) followed by each of its values (sorted).
    url = "https://kefu.example.com/webhooks/sms/webhook"
    params = parse_form(b"B=&A=2&A=1")
    digest = hmac.new(TOKEN.encode(), (url + "A1A2B").encode(), hashlib.sha1).digest()
    assert signature_valid(TOKEN, url, params, base64.b64encode(digest).decode())
    assert not signature_valid(
        TOKEN, url, parse_form(b"A=2&A=1"), base64.b64encode(digest).decode()
    )
    assert not signature_valid(TOKEN, url, params, sign(url, {"A": "1", "B": ""}))
