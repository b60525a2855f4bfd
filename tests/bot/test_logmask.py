"""bot.logmask: every phone number in every log record is masked, nothing else is touched."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import logmask
from bot.logmask import mask_text
from tests.conftest import ROOT

PHONE = "+8613800138000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sms:+8613800138000", "sms:+86138****8000"),
        ("to +86 138 0013 8000.", "to +86138****8000."),
        ("+1 650-253-0000", "+165****0000"),
        ("+44 20 7946 0958", "+4420****0958"),
        ("/c/sms%3A%2B8613800138000/tracker", "/c/sms%3A+86138****8000/tracker"),
        ("电话13800138000谢谢", "电话138****8000谢谢"),
        ("phone=13800138000&x=1", "phone=138****8000&x=1"),
        ("138 0013 8000", "138****8000"),
        ("8613800138000", "86138****8000"),
        ("sms%3A8613800138000", "sms%3A86138****8000"),
    ],
)
def test_phone_numbers_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert mask_text(expected) == expected  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "SM1380013800013800138000abcdef12",  # a MessageSid that happens to hold the digits
        "web:4f13800138000aa0123456789abcdef0",
        "stream id 1733065000000-0",
        "ticket TK20261201-0001",
        "id 12345678901234",
        "2026-12-01T14:56:46+08:00",
        "sent 3 of 10 segments in 1.5 s",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"), st.sampled_from(["", "+86", "sms:+86", "86"]))
def test_no_mainland_mobile_survives(number: str, prefix: str) -> None:
    masked = mask_text(f"from {prefix}{number} at 10:00")
    assert number not in masked
    assert number[-4:] in masked  # enough left to correlate log lines


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logmask.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(request)s"))
    logger = logging.getLogger("tests.logmask")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)


def test_message_arguments_extras_and_tracebacks_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("turn of %s", f"sms:{PHONE}", extra={"request": f"GET /c/sms:{PHONE}"})
    try:
        raise ValueError(f"no tracker for sms:{PHONE}")
    except ValueError:
        logger.exception("failed for %s", "13900139000", extra={"request": "-"})
    logger.warning("stack of %s", PHONE, stack_info=True, extra={"request": "-"})
    text = stream.getvalue()
    assert PHONE not in text and "8613800138000" not in text and "13900139000" not in text
    assert "sms:+86138****8000" in text and "139****9000" in text
    assert "ValueError: no tracker for sms:+86138****8000" in text


def test_records_without_numbers_keep_their_arguments(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, _ = captured
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.info("%d tickets", 3, extra={"request": "-"})
    finally:
        logger.removeHandler(keep)
    assert records[0].msg == "%d tickets" and records[0].args == (3,)


def test_install_is_idempotent_and_covers_existing_loggers() -> None:
    # A fresh interpreter: a logger created before install() is masked too, installing
    # twice masks once, and structlog's stdlib loggers (Rasa's) are covered.
    code = f"""
import logging, sys
import structlog
early = logging.getLogger("early")
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
structlog.configure(logger_factory=structlog.stdlib.LoggerFactory(),
                    processors=[structlog.processors.JSONRenderer()])
from bot import logmask
logmask.install(); logmask.install()
assert logmask.installed()
early.info("early %s", "{PHONE}")
structlog.get_logger("rasa").info("event", sender_id="sms:{PHONE}")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert PHONE not in out.stdout
    assert out.stdout.count("+86138****8000") == 2, out.stdout
