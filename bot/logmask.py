"""One logging filter that masks phone numbers in every log record of a process.

Phone numbers reach logs from many places we do not control (Rasa's and Sanic's own
messages, access logs with conversation ids in the URL, exception texts, structlog's
JSON lines), so masking at each call site cannot be complete. `install()` masks every
record when it is created, whichever library logs it and whichever handler writes it:

- E.164 numbers (`+8613800138000`, also written with spaces or dashes, and URL-encoded
  as `%2B8613800138000`), and therefore `sms:+…` conversation ids;
- bare Chinese mobile numbers (`13800138000`, `8613800138000`, `138 0013 8000`).

Each is replaced by `bot.phones.mask` (the one masking function): `+86138****8000`, enough
to correlate log lines, not enough to call. The message with its arguments, the exception
and stack text, and string attributes passed with `extra=` are masked.

Call `install()` at the top of every entry point (it is idempotent); Rasa and the action
server get it when our channel modules and the `actions` package are imported.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.phones import mask

# "+", or "%2B" in URLs, then 7-15 digits, single spaces or dashes allowed between them.
_E164 = r"(?:\+|%2[Bb])\d(?:[ \-]?\d){6,14}(?!\d)"
# 11-digit mainland mobiles, optionally with the country code 86 in front, standing alone:
# not inside a longer number, word or hex id (MessageSids, digests, web: ids); a URL-encoded
# ":" (%3A) in front counts as standing alone.
_CN_MOBILE = (
    r"(?:(?<=%3[Aa])|(?<![0-9A-Za-z_]))"
    r"(?:86)?1[3-9]\d(?:[ \-]?\d{4}){2}"
    r"(?![0-9A-Za-z_])"
)
PHONE_PATTERN = re.compile(f"{_E164}|{_CN_MOBILE}")

_SEPARATORS = re.compile(r"[ \-]")


def _masked(match: re.Match[str]) -> str:
    number = _SEPARATORS.sub("", match.group(0))
    if number[:3] in ("%2B", "%2b"):
        number = "+" + number[3:]
    return mask(number)


def mask_text(text: str) -> str:
    """Every phone number in `text` masked; text without one comes back unchanged."""
    return PHONE_PATTERN.sub(_masked, text)


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class PhoneMaskFilter(logging.Filter):
    """Masks phone numbers in a record in place; never drops a record.

    `install()` applies it to every record; it can also be named in a logging config.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's to report
            message = None
        if message is not None:
            masked = mask_text(message)
            # Records without a number keep their msg and args (handlers may use them).
            if masked != message:
                record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the traceback is masked once, here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = mask_text(value)
        return True


_FILTER = PhoneMaskFilter()
_MARK = "_kefu_phone_mask"


def install() -> None:
    """Masks every log record this process creates from now on. Safe to call again.

    It wraps `logging.Logger.makeRecord` rather than setting a record factory because
    makeRecord adds the `extra=` attributes after the factory has run (Sanic's access log
    puts the request URL, with its conversation id, there). Patching the class reaches
    loggers that already exist, including structlog's stdlib loggers and Rasa's.
    """
    original = logging.Logger.makeRecord
    if getattr(original, _MARK, False):
        return

    def make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(self, *args, **kwargs)
        _FILTER.filter(record)
        return record

    setattr(make_record, _MARK, True)
    logging.Logger.makeRecord = make_record  # type: ignore[method-assign]


def installed() -> bool:
    """Whether `install()` has run in this process."""
    return bool(getattr(logging.Logger.makeRecord, _MARK, False))
