"""Phone numbers: E.164 normalisation and masking for logs."""

from __future__ import annotations

import phonenumbers

from bot import settings


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


def to_e164(text: str, region: str | None = None) -> str:
    """'138 0013 8000' -> '+8613800138000'; raises InvalidPhone. Numbers written without a
    country code are read as local to the company (KEFU_PHONE_REGION)."""
    try:
        number = phonenumbers.parse(text.strip(), region or settings.get().phone_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid phone number: {mask(text)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(phone: str | None) -> str:
    """'+8613800138000' -> '+86138****8000': enough to correlate logs, not to call."""
    if not phone:
        return "-"
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:-8] + "****" + digits[-4:] if len(digits) > 8 else "****" + digits[-4:]
