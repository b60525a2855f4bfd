"""SMS settings from environment variables (secrets only from the environment).

Read by both processes: the Rasa channel (webhook signatures, public URL) and
the desk's sender (Twilio account, rate, quiet hours). With no Twilio account
configured, the sender delivers to the local sink and the product runs offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """An SMS environment variable has an unusable value."""


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> QuietHours | None:
        """'21:00-08:00' in `zone`; '' or 'off' disables quiet hours."""
        if spec.strip().lower() in ("", "off", "none"):
            return None
        try:
            start_text, end_text = spec.split("-")
            start, end = (
                time.fromisoformat(start_text.strip()),
                time.fromisoformat(end_text.strip()),
            )
        except ValueError as exc:
            raise SettingsError(f"SMS_QUIET_HOURS: expected HH:MM-HH:MM, got {spec!r}") from exc
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"KEFU_TIMEZONE: unknown time zone {zone!r}") from exc
        return cls(start, end, tz)


def _float(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw.strip() else default
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value


def _int(name: str, default: int, minimum: int) -> int:
    return int(_float(name, default, minimum))


@dataclass(frozen=True)
class SmsSettings:
    redis_url: str = "redis://localhost:6379/0"
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # Where the Twilio client sends API calls instead of https://api.twilio.com (tests: Prism).
    api_base: str | None = None
    # Public base URL of the Rasa server as Twilio sees it (behind a proxy), e.g.
    # https://kefu.example.com; webhook signatures are checked against it.
    public_url: str | None = None
    rate_per_sec: float = 1.0
    quiet_hours: QuietHours | None = None
    max_attempts: int = 8
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0
    send_timeout_s: float = 15.0
    concurrency: int = 2
    # An entry a crashed consumer left pending is reclaimed after this long.
    reclaim_idle_s: float = 120.0
    # Bot turns for SMS have this long; then the customer gets the error text.
    turn_timeout_s: float = 120.0
    # Bot turns one Rasa process runs at once for SMS (the rest wait, durably queued).
    turn_concurrency: int = 2
    # A reply (or agent message, or code) still reaches a number that opted out only if it
    # answers a message sent after the opt-out, or goes out this soon after the customer's
    # message (e.g. the STOP confirmation itself).
    reply_window_s: float = 600.0

    @property
    def live(self) -> bool:
        """True when there is a Twilio account to send through; else the local sink."""
        return bool(
            self.account_sid
            and self.auth_token
            and (self.from_number or self.messaging_service_sid)
        )

    @classmethod
    def from_env(cls) -> SmsSettings:
        env = os.environ
        public_url = (env.get("SMS_PUBLIC_URL") or "").strip().rstrip("/") or None
        if public_url and not public_url.startswith(("http://", "https://")):
            raise SettingsError("SMS_PUBLIC_URL: must start with http:// or https://")
        return cls(
            redis_url=env.get("REDIS_URL", "redis://localhost:6379/0"),
            account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            from_number=env.get("TWILIO_FROM_NUMBER") or None,
            messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            api_base=(env.get("TWILIO_API_BASE") or "").rstrip("/") or None,
            public_url=public_url,
            rate_per_sec=_float("SMS_RATE_PER_SEC", 1.0, 0.01),
            quiet_hours=QuietHours.parse(
                env.get("SMS_QUIET_HOURS", "21:00-08:00"),
                env.get("KEFU_TIMEZONE", "Asia/Shanghai"),
            ),
            max_attempts=_int("SMS_MAX_ATTEMPTS", 8, 1),
            retry_base_s=_float("SMS_RETRY_BASE_S", 2.0, 0.0),
            retry_cap_s=_float("SMS_RETRY_CAP_S", 300.0, 0.0),
            send_timeout_s=_float("SMS_SEND_TIMEOUT_S", 15.0, 0.1),
            concurrency=_int("SMS_SENDER_CONCURRENCY", 2, 1),
            reclaim_idle_s=_float("SMS_RECLAIM_IDLE_S", 120.0, 0.0),
            turn_timeout_s=_float("SMS_TURN_TIMEOUT_S", 120.0, 1.0),
            turn_concurrency=_int("SMS_TURN_CONCURRENCY", 2, 1),
            reply_window_s=_float("SMS_REPLY_WINDOW_S", 600.0, 0.0),
        )


@dataclass(frozen=True)
class Retention:
    """How long SMS records are kept (seconds). Read where records are written, so every
    process (Rasa, desk) applies the same values."""

    outbox_s: int = 90 * 24 * 3600  # outbox messages, their history, idempotency keys
    sink_s: int = 7 * 24 * 3600  # the local sink's "delivered" copies (offline mode)

    @classmethod
    def from_env(cls) -> Retention:
        return cls(
            outbox_s=_int("SMS_OUTBOX_RETENTION_S", cls.outbox_s, 60),
            sink_s=_int("SMS_SINK_RETENTION_S", cls.sink_s, 60),
        )


# Rasa mounts an input channel's blueprint at /webhooks/<name>/ (name: "sms").
WEBHOOK_PATH = "/webhooks/sms/webhook"
STATUS_PATH = "/webhooks/sms/status"


def status_callback_url(settings: SmsSettings, outbox_id: str) -> str | None:
    """Where Twilio reports delivery of one outbox message (needs SMS_PUBLIC_URL)."""
    if not settings.public_url:
        return None
    return f"{settings.public_url}{STATUS_PATH}?id={outbox_id}"
