"""SMS settings, from bot.settings (the variables are named, typed and checked there).

Read by both processes: the Rasa channel (webhook signatures, public URL) and
the desk's sender (Twilio account, rate, quiet hours). With no Twilio account
configured, the sender delivers to the local sink and the product runs offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import settings
from bot.settings import DEFAULT_REDIS_URL, SettingsError

__all__ = ["QuietHours", "Retention", "SettingsError", "SmsSettings", "status_callback_url"]


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


@dataclass(frozen=True)
class SmsSettings:
    redis_url: str = DEFAULT_REDIS_URL
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # Where the Twilio client sends API calls instead of https://api.twilio.com (tests: Prism).
    api_base: str | None = None
    # Public base URL Twilio calls, e.g. https://kefu.example.com: the reverse proxy that
    # sends /webhooks/sms/webhook to Rasa and /webhooks/sms/status to the desk. Both
    # check signatures against it; the sender builds StatusCallback URLs from it.
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
    def auth_probe_s(self) -> float:
        """While sending is paused by a 401 (bot.sms.pause), one probe send per this many
        seconds: as often as a retried message goes (8 × SMS_RETRY_BASE_S, at least 1 s),
        never rarer than SMS_RETRY_CAP_S. Defaults: 16 s."""
        return min(self.retry_cap_s, max(1.0, self.retry_base_s * 8))

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
        return cls.from_settings(settings.get())

    @classmethod
    def from_settings(cls, config: settings.Settings) -> SmsSettings:
        return cls(
            redis_url=config.redis_url,
            account_sid=config.twilio_account_sid,
            auth_token=config.secret("twilio_auth_token"),
            from_number=config.twilio_from_number,
            messaging_service_sid=config.twilio_messaging_service_sid,
            api_base=config.twilio_api_base,
            public_url=config.sms_public_url,
            rate_per_sec=config.sms_rate_per_sec,
            quiet_hours=QuietHours.parse(config.sms_quiet_hours, config.timezone),
            max_attempts=config.sms_max_attempts,
            retry_base_s=config.sms_retry_base_s,
            retry_cap_s=config.sms_retry_cap_s,
            send_timeout_s=config.sms_send_timeout_s,
            concurrency=config.sms_sender_concurrency,
            reclaim_idle_s=config.sms_reclaim_idle_s,
            turn_timeout_s=config.sms_turn_timeout_s,
            turn_concurrency=config.sms_turn_concurrency,
            reply_window_s=config.sms_reply_window_s,
        )


@dataclass(frozen=True)
class Retention:
    """How long SMS records are kept (seconds). Read where records are written, so every
    process (Rasa, desk) applies the same values."""

    outbox_s: int = 90 * 24 * 3600  # outbox messages, their history, idempotency keys
    sink_s: int = 7 * 24 * 3600  # the local sink's "delivered" copies (offline mode)

    @classmethod
    def from_env(cls) -> Retention:
        config = settings.get()
        return cls(outbox_s=config.sms_outbox_retention_s, sink_s=config.sms_sink_retention_s)


# Inbound SMS: Rasa mounts an input channel's blueprint at /webhooks/<name>/ (name: "sms").
WEBHOOK_PATH = "/webhooks/sms/webhook"
# Delivery status callbacks: served by the desk (bot.sms.delivery_status), same public base.
STATUS_PATH = "/webhooks/sms/status"


def status_callback_url(settings: SmsSettings, outbox_id: str) -> str | None:
    """Where Twilio reports delivery of one outbox message (needs SMS_PUBLIC_URL)."""
    if not settings.public_url:
        return None
    return f"{settings.public_url}{STATUS_PATH}?id={outbox_id}"
