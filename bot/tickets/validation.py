"""Input limits and cleaning shared by the service (Rasa actions) and the HTTP API."""

from __future__ import annotations

import re

from bot.phones import InvalidPhone, to_e164
from bot.tickets.errors import InvalidField
from bot.tickets.models import LANGUAGES

MAX_DESCRIPTION = 2000
MAX_LOCATION = 200
MAX_NOTE = 2000
MAX_COMMENT = 500
MAX_PHONE_TEXT = 32
MAX_ACCOUNT = 32
MAX_LIMIT = 100
DEFAULT_LIMIT = 20

# ASCII-only classes: \d would also accept other scripts' digits.
NUMBER_PATTERN = r"^TK[0-9]{8}-[0-9]{4,9}$"
CHANNEL_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
ACTOR_PATTERN = r"^[A-Za-z0-9._@:-]{1,64}$"
ACCOUNT_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
# Rasa sender ids: `web:<hex>`, `sms:+E164`, other channels' ids; printable ASCII, bounded.
CONVERSATION_PATTERN = r"^[\x21-\x7e]{1,128}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9:._-]{1,128}$"
CURSOR_PATTERN = r"^[0-9]{1,15}$"
_NUMBER = re.compile(NUMBER_PATTERN)
_CHANNEL = re.compile(CHANNEL_PATTERN)
_ACTOR = re.compile(ACTOR_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_CONVERSATION = re.compile(CONVERSATION_PATTERN)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def is_ticket_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))


def normalise_number(text: str) -> str | None:
    """' tk20261127-0042 ' -> 'TK20261127-0042'; None when it cannot be a ticket number."""
    candidate = text.strip().upper()
    return candidate if is_ticket_number(candidate) else None


def clean_text(field: str, value: object, max_len: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidField(field, f"{field} must be text")
    value = value.strip()
    if required and not value:
        raise InvalidField(field, f"{field} must not be empty")
    if len(value) > max_len:
        raise InvalidField(field, f"{field} is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField(field, f"{field} is not valid text") from exc
    return value


def clean_phone(value: object, field: str = "phone") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PHONE_TEXT:
        raise InvalidField(field, "phone must be a phone number")
    try:
        return to_e164(value)
    except InvalidPhone as exc:
        raise InvalidField(field, "phone is not a valid phone number") from exc


def clean_choice(field: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidField(field, f"{field} must be one of: {', '.join(choices)}")
    return str(value)


def clean_language(value: object) -> str:
    return clean_choice("language", value, LANGUAGES)


def clean_pattern(field: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidField(field, f"{field} is malformed")
    return value


def clean_channel(value: object) -> str:
    return clean_pattern("channel", value, _CHANNEL)


def clean_actor(value: object) -> str:
    return clean_pattern("actor", value, _ACTOR)


def clean_account(value: object) -> str | None:
    if value is None or value == "":
        return None
    return clean_pattern("account_id", value, _ACCOUNT)


def clean_conversation(value: object) -> str:
    return clean_pattern("conversation_id", value, _CONVERSATION)


def clean_idempotency_key(value: object) -> str:
    return clean_pattern("idempotency_key", value, _IDEMPOTENCY_KEY)
