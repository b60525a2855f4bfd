"""Every environment variable Kefu reads, named once: type, default, meaning, validation.

One way to get settings: `bot.settings.get()` (the process's environment, re-read only when
one of these variables changed) or `Settings.from_env(mapping)` (tests, entry points handed
an environment). Nothing else in bot/ or actions/ reads `os.environ`
(tests/test_configuration_table.py checks). Code that needs a variable only sometimes (a
secret one process requires) asks `settings.require("field")`, which names the variable.

Variables read by Rasa (`${VAR}` in endpoints.yml) or only by the shell scripts are fields
too, marked `read_by`, so the README's table (`python -m bot.settings --markdown`) is
generated from one source.

A bad value raises one SettingsError listing every bad variable by name, e.g.
`KEFU_SLA_CHECK_INTERVAL_S: must be a number of seconds > 0, got "abc"`. Secrets are
SecretStr: their values never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseSettings, Field, SecretStr, ValidationError, validator

from bot.text import ascii_int

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The defaults other modules need as plain values (a dataclass default, a helper's argument).
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_TIMEZONE = "Asia/Shanghai"
# start.sh makes 64 hex characters (secrets.token_hex(32)); anything much shorter is a
# placeholder someone forgot to replace.
MIN_SECRET_CHARS = 32
DAY_S = 24 * 3600


class SettingsError(ValueError):
    """One or more variables have unusable values; the message names each variable."""


# ---------------------------------------------------------------- parsers
# Each takes the variable's text and returns the value or raises ValueError with what the
# variable must be; SettingsError adds the variable's name and the text it got.
Parser = Callable[[str], Any]


def _int(lo: int, hi: int | None = None, unit: str = "a whole number") -> Parser:
    # ASCII digits only: int() would also accept "①" or "١٢" and underscores.
    expect = f"must be {unit} from {lo} to {hi}" if hi is not None else f"must be {unit} >= {lo}"

    def parse(text: str) -> int:
        value = ascii_int(text.strip(), lo=lo, hi=hi)
        if value is None:
            raise ValueError(expect)
        return value

    return parse


def _seconds(minimum: float = 0.0, inclusive: bool = False) -> Parser:
    expect = f"must be a number of seconds {'>=' if inclusive else '>'} {minimum:g}"

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError(expect) from None
        if value != value or value in (float("inf"), float("-inf")):  # nan, inf
            raise ValueError(expect)
        if value < minimum or (value == minimum and not inclusive):
            raise ValueError(expect)
        return value

    return parse


def _number(minimum: float) -> Parser:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError(f"must be a number >= {minimum:g}") from None
        if not value >= minimum or value == float("inf"):
            raise ValueError(f"must be a number >= {minimum:g}")
        return value

    return parse


_PORT = _int(1, 65535, "a port number")


def _url(*schemes: str) -> Parser:
    expect = f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"

    def parse(text: str) -> str:
        value = text.strip().rstrip("/") if schemes != ("redis", "rediss") else text.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in schemes or not rest or any(c.isspace() for c in value):
            raise ValueError(expect)
        return value

    return parse


def _host(text: str) -> str:
    value = text.strip()
    if not value or any(c.isspace() or c in "/@" for c in value):
        raise ValueError("must be a host name or IP address")
    return value


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone such as {DEFAULT_TIMEZONE}") from None
    return text.strip()


def _region(text: str) -> str:
    value = text.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("must be a two-letter region code such as CN or US")
    return value


def _secret(text: str) -> str:
    if len(text) < MIN_SECRET_CHARS:
        raise ValueError(
            f"must be a secret of at least {MIN_SECRET_CHARS} characters (scripts/start.sh "
            f"generates one into .run/; e.g. python3 -c 'import secrets; "
            f"print(secrets.token_hex(32))')"
        )
    return text


def _proxies(text: str) -> tuple[str, ...]:
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"must be comma-separated IPs or CIDRs; {item!r} is neither") from None
    return items


def _origins(text: str) -> tuple[str, ...]:
    items = tuple(text.split())
    if "*" in items:
        raise ValueError("list the desk's origins, not '*'")
    parse = _url("http", "https")
    return tuple(parse(item) for item in items)


def _choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


_QUIET = re.compile(r"^\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*$")


def _quiet_hours(text: str) -> str:
    if text.strip().lower() in ("", "off", "none"):
        return "off"
    if not _QUIET.match(text):
        raise ValueError("must be HH:MM-HH:MM (or off)")
    try:
        for part in text.split("-"):
            time.fromisoformat(part.strip())
    except ValueError:
        raise ValueError("must be HH:MM-HH:MM (or off)") from None
    return text.strip()


def _text(text: str) -> str:
    return text.strip()


def _path(text: str) -> Path:
    return Path(text.strip())


# ---------------------------------------------------------------- the variables
def _var(
    default: Any,
    env: str,
    group: str,
    meaning: str,
    parse: Parser = _text,
    shown: str | None = None,
    read_by: str = "python",
) -> Any:
    """A field: `env` the variable, `shown` its default as the README tells it,
    `read_by` "python" (through this module), "rasa" (endpoints.yml) or "scripts"."""
    return Field(
        default,
        env=env,
        description=meaning,
        group=group,
        parse=parse,
        shown=shown,
        read_by=read_by,
    )


_SECRET_HINT = "at least 32 characters; `start.sh` generates one into `.run/`"


class Settings(BaseSettings):
    # ---- redis
    redis_url: str = _var(
        DEFAULT_REDIS_URL,
        "REDIS_URL",
        "redis",
        "Redis for trackers, tickets, handoff, outbox and locks, "
        "`redis://[:password@]host:port/db`. `start.sh`, when it is unset, starts a local "
        "Redis with the password in `.run/redis_password`; the web chat's rate limit is "
        "off without it",
        _url("redis", "rediss"),
    )
    local_redis_port: int = _var(
        6379,
        "KEFU_LOCAL_REDIS_PORT",
        "redis",
        "port of the local Redis `start.sh` starts when `REDIS_URL` is unset (it refuses "
        "to use a Redis it did not start there)",
        _PORT,
        read_by="scripts",
    )
    redis_maxmemory: str | None = _var(
        None,
        "KEFU_REDIS_MAXMEMORY",
        "redis",
        "`maxmemory` of the local Redis (e.g. `4gb`); when full it refuses writes (`noeviction`)",
        shown="*(unset: `redis.conf`'s 1gb)*",
        read_by="scripts",
    )
    redis_watch_interval_s: int = _var(
        30,
        "KEFU_REDIS_WATCH_INTERVAL_S",
        "redis",
        "how often each desk checks Redis memory and refused writes (logs, `/healthz`)",
        _int(1, 3600, "a whole number of seconds"),
    )
    redis_host: str | None = _var(
        None,
        "REDIS_HOST",
        "redis",
        "Rasa's Redis tracker and lock stores (`endpoints.yml`); derived from `REDIS_URL` "
        "by `scripts/env.sh`; set them yourself only when starting Rasa without the scripts",
        shown="*(from `REDIS_URL`)*",
        read_by="rasa",
    )
    redis_port: int | None = _var(
        None, "REDIS_PORT", "redis", "as `REDIS_HOST`", _PORT, "*(from `REDIS_URL`)*", "rasa"
    )
    redis_db: int | None = _var(
        None, "REDIS_DB", "redis", "as `REDIS_HOST`", _int(0), "*(from `REDIS_URL`)*", "rasa"
    )
    redis_password: SecretStr | None = _var(
        None, "REDIS_PASSWORD", "redis", "as `REDIS_HOST`", _text, "*(from `REDIS_URL`)*", "rasa"
    )

    # ---- rasa
    rasa_host: str = _var(
        "127.0.0.1",
        "RASA_HOST",
        "rasa",
        "interface Rasa listens on; another only for a multi-host deployment behind a firewall",
        _host,
    )
    rasa_port: int = _var(5005, "RASA_PORT", "rasa", "Rasa's port", _PORT)
    rasa_token: SecretStr | None = _var(
        None,
        "RASA_TOKEN",
        "rasa",
        "token of Rasa's HTTP API (read from the environment by `bot.rasa_server`, never "
        f"on a command line; the desk uses it), {_SECRET_HINT}",
        _secret,
        "*(unset: Rasa refuses to start)*",
    )
    rasa_url: str = _var(
        "http://127.0.0.1:5005",
        "RASA_URL",
        "rasa",
        "Rasa's HTTP API as the desk reaches it",
        _url("http", "https"),
    )
    rasa_public_url: str = _var(
        "http://localhost:5005",
        "RASA_PUBLIC_URL",
        "rasa",
        "where browsers reach Rasa's socket.io (set it behind a proxy)",
        _url("http", "https"),
    )
    cors_origins: tuple[str, ...] = _var(
        (),
        "KEFU_CORS_ORIGINS",
        "rasa",
        "space-separated origins whose pages may call Rasa from a browser (the desk's "
        "website); `*` is refused",
        _origins,
        "`http://localhost:$DESK_PORT http://127.0.0.1:$DESK_PORT`",
    )
    max_request_bytes: int = _var(
        1024 * 1024,
        "KEFU_MAX_REQUEST_BYTES",
        "rasa",
        "largest request body Rasa accepts (413 above; Sanic's own default is 100 MB)",
        _int(16 * 1024, 100 * 1024**2),
        "1048576 (1 MiB)",
    )
    tracker_retention_s: int = _var(
        30 * DAY_S,
        "KEFU_TRACKER_RETENTION_S",
        "rasa",
        "a conversation's tracker expires this long after its last event (`record_exp` in "
        "`endpoints.yml`, set by `bot.rasa_server`)",
        _int(60, 10 * 365 * DAY_S, "a whole number of seconds"),
        "2592000 (30 days)",
    )
    ticket_lock_lifetime_s: int = _var(
        30,
        "TICKET_LOCK_LIFETIME",
        "rasa",
        "seconds a turn holds its conversation's lock in Redis (Rasa's own variable, set by "
        "`bot.rasa_server`; Rasa's default is 60). A Rasa killed mid-turn leaves its lock "
        "until then, delaying that conversation's next reply; it must outlast the slowest "
        "turn (actions wait at most 10 s for a dependency), or two turns of one "
        "conversation could overlap",
        _int(5, 3600, "a whole number of seconds"),
    )

    # ---- actions
    actions_host: str = _var(
        "127.0.0.1",
        "ACTIONS_HOST",
        "actions",
        "interface the action server listens on; another only for a multi-host deployment",
        _host,
    )
    actions_port: int = _var(5055, "ACTIONS_PORT", "actions", "the action server's port", _PORT)
    action_endpoint_url: str = _var(
        "http://127.0.0.1:5055/webhook",
        "ACTION_ENDPOINT_URL",
        "actions",
        "the action server as Rasa calls it (`endpoints.yml`; `scripts/env.sh` sets it)",
        _url("http", "https"),
        "`http://127.0.0.1:$ACTIONS_PORT/webhook`",
        read_by="rasa",
    )
    action_token: SecretStr | None = _var(
        None,
        "KEFU_ACTION_TOKEN",
        "actions",
        "shared secret Rasa sends the action server (`Authorization: Bearer`, constant-time "
        f"check), {_SECRET_HINT}",
        _secret,
        "*(unset: the action server and Rasa refuse to start)*",
    )
    fault_sleep_after_ticket_s: int | None = _var(
        None,
        "KEFU_TEST_FAULT_SLEEP_AFTER_TICKET_S",
        "actions",
        "**test-only fault injection, never set in production**: the action server waits "
        "this many seconds (1-600) after writing a new complaint ticket, once per ticket, so "
        "`tests/integration/test_sms_crash.py` can kill Rasa between the ticket write and the "
        "SMS inbox's `done`",
        _int(1, 600, "a whole number of seconds"),
        "*(unset: off)*",
    )

    # ---- desk
    desk_host: str = _var(
        "127.0.0.1",
        "DESK_HOST",
        "desk",
        "interface the desk (website, console, APIs) listens on; `0.0.0.0` only behind a "
        "reverse proxy",
        _host,
    )
    desk_port: int = _var(8000, "DESK_PORT", "desk", "the desk's port", _PORT)
    api_token: SecretStr | None = _var(
        None,
        "DESK_API_TOKEN",
        "desk",
        "bearer token of the desk's HTTP APIs; with none set every API call is refused",
        shown="*(unset: `start.sh` generates one into `.run/desk_api_token`)*",
    )
    cookie_secure: str = _var(
        "auto",
        "DESK_COOKIE_SECURE",
        "desk",
        "console cookie `Secure` flag: `true`, `false`, or `auto` (when the request came "
        "over https, directly or per `X-Forwarded-Proto` from a trusted proxy)",
        _choice("auto", "true", "false", "1", "0", "yes", "no"),
    )
    trusted_proxies: tuple[str, ...] = _var(
        (),
        "KEFU_TRUSTED_PROXIES",
        "desk",
        "comma-separated IPs or CIDRs of the reverse proxies in front of the desk; only from "
        "these are `X-Forwarded-For` (the client address for login throttling) and "
        "`X-Forwarded-Proto` believed",
        _proxies,
        "*(unset: trust no proxy)*",
    )
    desk_password: SecretStr | None = _var(
        None,
        "KEFU_DESK_PASSWORD",
        "desk",
        "password for `python -m bot.desk.users create`/`passwd` when not run in a terminal "
        "(scripts, tests)",
        shown="*(unset: prompt)*",
    )

    # ---- tickets
    timezone: str = _var(
        DEFAULT_TIMEZONE,
        "KEFU_TIMEZONE",
        "tickets",
        "company time zone: ticket numbers and the due dates customers are told, SMS quiet "
        "hours, business hours without their own",
        _timezone,
    )
    policy_dir: Path = _var(
        PROJECT_ROOT / "content" / "policy",
        "KEFU_POLICY_DIR",
        "tickets",
        "grading, SLA and roster YAML",
        _path,
        "`content/policy`",
    )
    sla_check_interval_s: float = _var(
        15.0,
        "KEFU_SLA_CHECK_INTERVAL_S",
        "tickets",
        "how often each desk looks for missed deadlines",
        _seconds(),
    )

    # ---- accounts (bot/accounts: customer account data, readings, bills)
    accounts_backend: str = _var(
        "demo",
        "KEFU_ACCOUNTS_BACKEND",
        "accounts",
        "where customer accounts, readings and bills come from: `demo` (the synthetic "
        "customers in `KEFU_ACCOUNTS_FILE`, payments in Redis) or `http` (the customer-data "
        "API at `KEFU_ACCOUNTS_URL`)",
        _choice("demo", "http"),
    )
    accounts_url: str | None = _var(
        None,
        "KEFU_ACCOUNTS_URL",
        "accounts",
        "base URL of the customer-data API (`KEFU_ACCOUNTS_BACKEND=http`; the paths it "
        "must serve are in `bot/accounts/http.py`)",
        _url("http", "https"),
        "*(unset: required with `http`)*",
    )
    accounts_timeout_s: float = _var(
        3.0,
        "KEFU_ACCOUNTS_TIMEOUT_S",
        "accounts",
        "total time one request to the customer-data API may take (each retry gets it anew)",
        _seconds(),
    )
    accounts_retries: int = _var(
        2,
        "KEFU_ACCOUNTS_RETRIES",
        "accounts",
        "retries of a customer-data request after a timeout, connection error or 5xx "
        "(backoff 0.2 s, 0.4 s, ...; never after a 4xx); then the customer gets an apology "
        "and the hotline",
        _int(0, 5),
    )
    accounts_file: Path = _var(
        PROJECT_ROOT / "content" / "accounts" / "demo_accounts.json",
        "KEFU_ACCOUNTS_FILE",
        "accounts",
        "the demo backend's data file (`scripts/make_demo_accounts.py` writes it)",
        _path,
        "`content/accounts/demo_accounts.json`",
    )

    # ---- return visits (bot/surveys)
    return_visit_delay_s: float = _var(
        7200.0,
        "KEFU_RETURN_VISIT_DELAY_S",
        "surveys",
        "seconds after a ticket is resolved before its return visit is asked (then moved out "
        "of `SMS_QUIET_HOURS`)",
        _seconds(0, True),
    )
    return_visit_reminder_s: float = _var(
        172800.0,
        "KEFU_RETURN_VISIT_REMINDER_S",
        "surveys",
        "seconds without an answer before the one reminder; as long again after it, the visit "
        "is marked no_response",
        _seconds(0, True),
    )
    survey_window_s: float = _var(
        1209600.0,
        "KEFU_SURVEY_WINDOW_S",
        "surveys",
        "seconds a return visit's survey stays open after it is asked (a later rating is refused)",
        _seconds(0),
    )

    # ---- outages (bot/outages)
    probable_outage_reports: int = _var(
        3,
        "KEFU_PROBABLE_OUTAGE_REPORTS",
        "outages",
        "distinct phones reporting a power cut in one area within the window that raise a "
        "probable-outage alert on the supervisor console (when no outage is known there)",
        _int(2),
    )
    probable_outage_window_s: float = _var(
        600.0,
        "KEFU_PROBABLE_OUTAGE_WINDOW_S",
        "outages",
        "the window of those reports, in seconds; an area's alert is raised at most once per "
        "window",
        _seconds(1, True),
    )

    # ---- reports (bot/reports: satisfaction reports, complaint pre-warning)
    prewarning_min_count: int = _var(
        5,
        "KEFU_PREWARNING_MIN_COUNT",
        "reports",
        "fewest complaints of one area and category in a day that can raise a complaint-spike "
        "alert, however quiet its history (EARS C2 alone would alarm on 2 after a silent week)",
        _int(1),
    )
    prewarning_interval_s: float = _var(
        3600.0,
        "KEFU_PREWARNING_INTERVAL_S",
        "reports",
        "how often each desk checks the current day's complaint counts for spikes",
        _seconds(1, True),
    )

    # ---- handoff
    handoff_dir: Path = _var(
        PROJECT_ROOT / "content" / "handoff",
        "KEFU_HANDOFF_DIR",
        "handoff",
        "queue policy, business hours and the desk's handoff messages",
        _path,
        "`content/handoff`",
    )
    business_hours_file: Path | None = _var(
        None,
        "KEFU_BUSINESS_HOURS_FILE",
        "handoff",
        "another business hours file (e.g. for tests)",
        _path,
        "`$KEFU_HANDOFF_DIR/business_hours.yml`",
    )

    # ---- identity and web chat
    phone_region: str = _var(
        "CN",
        "KEFU_PHONE_REGION",
        "identity",
        "region for phone numbers written without a country code",
        _region,
    )
    verified_phone_ttl_s: int = _var(
        30 * DAY_S,
        "KEFU_VERIFIED_PHONE_TTL_S",
        "identity",
        "how long a phone proven with an SMS code stays verified on a web conversation; "
        "code lifetime, tries and resend limits are data in `content/identity/verification.yml`",
        _int(1, unit="a whole number of seconds"),
        "2592000 (30 days)",
    )
    web_session_secret: SecretStr | None = _var(
        None,
        "KEFU_WEB_SESSION_SECRET",
        "web",
        "signs web session tokens (HMAC-SHA256); whoever has it can resume any web "
        f"conversation; {_SECRET_HINT}",
        _secret,
        "*(unset: the web chat refuses every session)*",
    )
    web_session_secret_previous: SecretStr | None = _var(
        None,
        "KEFU_WEB_SESSION_SECRET_PREVIOUS",
        "web",
        "the secret before a rotation: its tokens still resume (and are re-signed) until you "
        "unset it",
        _secret,
        "*(unset)*",
    )
    web_session_ttl_s: int = _var(
        30 * DAY_S,
        "KEFU_WEB_SESSION_TTL_S",
        "web",
        "lifetime of a web session token; each visit refreshes it",
        _int(1, unit="a whole number of seconds"),
        "2592000 (30 days)",
    )
    web_conversation_turns_per_min: int = _var(
        20,
        "KEFU_WEB_CONVERSATION_TURNS_PER_MIN",
        "web",
        "web chat messages accepted per minute per conversation (all its tabs); more get a "
        'polite "too fast"',
        _int(1, 10_000),
    )
    web_socket_turns_per_min: int = _var(
        30,
        "KEFU_WEB_SOCKET_TURNS_PER_MIN",
        "web",
        "web chat messages accepted per minute per socket",
        _int(1, 10_000),
    )

    # ---- sms
    twilio_account_sid: str | None = _var(
        None,
        "TWILIO_ACCOUNT_SID",
        "sms",
        "Twilio account for live sending (with `TWILIO_AUTH_TOKEN` and a sender)",
        shown="*(unset: local sink)*",
    )
    twilio_auth_token: SecretStr | None = _var(
        None,
        "TWILIO_AUTH_TOKEN",
        "sms",
        "Twilio webhook signature checks and live sending. Without `TWILIO_ACCOUNT_SID`, "
        "`start.sh` generates a local one into `.run/sms_local_token`: the desk's SMS "
        "simulator (`/console/simulator`) signs with it",
        shown="*(unset: every SMS webhook is refused)*",
    )
    twilio_from_number: str | None = _var(
        None,
        "TWILIO_FROM_NUMBER",
        "sms",
        "the number SMS are sent from (or `TWILIO_MESSAGING_SERVICE_SID`)",
        shown="*(unset: local sink)*",
    )
    twilio_messaging_service_sid: str | None = _var(
        None,
        "TWILIO_MESSAGING_SERVICE_SID",
        "sms",
        "the messaging service SMS are sent through (or `TWILIO_FROM_NUMBER`)",
        shown="*(unset: local sink)*",
    )
    twilio_api_base: str | None = _var(
        None,
        "TWILIO_API_BASE",
        "sms",
        "another base URL for Twilio's REST API (a mock such as Prism in tests)",
        _url("http", "https"),
        "*(unset: `https://api.twilio.com`)*",
    )
    sms_public_url: str | None = _var(
        None,
        "SMS_PUBLIC_URL",
        "sms",
        "public base URL of the proxy in front of Rasa (inbound webhooks) and the desk "
        "(status callbacks), as Twilio sees it: signatures are checked over it",
        _url("http", "https"),
        "*(unset: the request URL)*",
    )
    sms_rate_per_sec: float = _var(
        1.0, "SMS_RATE_PER_SEC", "sms", "outbox pacing: messages per second", _number(0.01)
    )
    sms_quiet_hours: str = _var(
        "21:00-08:00",
        "SMS_QUIET_HOURS",
        "sms",
        "outbox quiet hours in `KEFU_TIMEZONE` (`off` for none): non-urgent messages wait",
        _quiet_hours,
    )
    sms_max_attempts: int = _var(8, "SMS_MAX_ATTEMPTS", "sms", "send attempts per message", _int(1))
    sms_retry_base_s: float = _var(
        2.0, "SMS_RETRY_BASE_S", "sms", "first retry delay (doubles)", _seconds(0, True)
    )
    sms_retry_cap_s: float = _var(
        300.0, "SMS_RETRY_CAP_S", "sms", "longest retry delay", _seconds(0, True)
    )
    sms_send_timeout_s: float = _var(
        15.0, "SMS_SEND_TIMEOUT_S", "sms", "one call to Twilio's API", _seconds(0.1, True)
    )
    sms_sender_concurrency: int = _var(
        2, "SMS_SENDER_CONCURRENCY", "sms", "outbox sender workers in each desk process", _int(1)
    )
    sms_reclaim_idle_s: float = _var(
        120.0,
        "SMS_RECLAIM_IDLE_S",
        "sms",
        "an outbox entry or inbound SMS turn left pending by a crashed process is taken over "
        "after this many seconds",
        _seconds(0, True),
    )
    sms_turn_timeout_s: float = _var(
        120.0,
        "SMS_TURN_TIMEOUT_S",
        "sms",
        "an SMS bot turn gets this long before the customer gets the error text",
        _seconds(1, True),
    )
    sms_turn_concurrency: int = _var(
        2,
        "SMS_TURN_CONCURRENCY",
        "sms",
        "SMS turns one Rasa process runs at once (the rest wait in the durable inbox)",
        _int(1),
    )
    sms_reply_window_s: float = _var(
        600.0,
        "SMS_REPLY_WINDOW_S",
        "sms",
        "an answer (bot reply, agent message) still reaches a number that opted out only if "
        "it answers a message sent after the opt-out, or goes out within this many seconds of "
        "the message it answers; otherwise it is `skipped` with reason `opted_out`",
        _seconds(0, True),
    )
    sms_outbox_retention_s: int = _var(
        90 * DAY_S,
        "SMS_OUTBOX_RETENTION_S",
        "sms",
        "how long outbox messages, their delivery history and idempotency keys are kept",
        _int(60, unit="a whole number of seconds"),
        "7776000 (90 days)",
    )
    sms_sink_retention_s: int = _var(
        7 * DAY_S,
        "SMS_SINK_RETENTION_S",
        "sms",
        'how long the local sink keeps what it "delivered" (offline mode; also capped at '
        "10,000 messages)",
        _int(60, unit="a whole number of seconds"),
        "604800 (7 days)",
    )

    # ---- notices (bot/notices: outage broadcasts, subscriptions, bill reminders)
    notice_validity_s: int = _var(
        4 * 3600,
        "KEFU_NOTICE_VALIDITY_S",
        "notices",
        "an outage notice (fault, ETA change, restoration) not sent within this many seconds "
        "expires instead (a planned-outage warning is valid until the outage starts); also "
        "passed to Twilio as ValidityPeriod (at most 14400)",
        _int(60, unit="a whole number of seconds"),
        "14400 (4 hours)",
    )
    notice_eta_merge_s: int = _var(
        300,
        "KEFU_NOTICE_ETA_MERGE_S",
        "notices",
        "another ETA change within this many seconds of an ETA notice replaces that notice "
        "if it is still unsent, instead of sending a second one",
        _int(0, unit="a whole number of seconds"),
    )
    bill_reminder_days: int = _var(
        3,
        "KEFU_BILL_REMINDER_DAYS",
        "notices",
        "bill subscribers get a reminder this many days before the due date (and an overdue "
        "notice after it)",
        _int(0, 60),
    )
    bill_reminder_scan_s: float = _var(
        900.0,
        "KEFU_BILL_REMINDER_SCAN_S",
        "notices",
        "how often the desk looks for bill reminders due",
        _seconds(1, True),
    )

    # ---- observability (bot/ops: /metrics, /healthz, /readyz, log format)
    metrics_token: SecretStr | None = _var(
        None,
        "KEFU_METRICS_TOKEN",
        "observability",
        "bearer token Prometheus sends for `/metrics` (desk, action server) and "
        "`/webhooks/ops/metrics` (Rasa), and opens nothing else; with none set every scrape "
        f"is refused; {_SECRET_HINT}",
        _secret,
        "*(unset: `start.sh` generates one into `.run/metrics_token`)*",
    )
    log_format: str = _var(
        "text",
        "KEFU_LOG_FORMAT",
        "observability",
        "`text`, or `json`: one JSON object a line (time, level, logger, message, masked "
        "conversation id) from the desk, Rasa and the action server",
        _choice("text", "json"),
    )

    # ---- scripts
    run_dir: str = _var(
        ".run/",
        "KEFU_RUN",
        "scripts",
        "where the scripts keep secrets, pids, logs and local Redis data",
        shown="`.run/`",
        read_by="scripts",
    )
    venv_dir: str = _var(
        ".venv/",
        "KEFU_VENV",
        "scripts",
        "the Python environment the scripts use",
        shown="`.venv/`",
        read_by="scripts",
    )
    fleet_port: int = _var(
        8080,
        "FLEET_PORT",
        "scripts",
        "`fleet.sh`: nginx's public port, the fleet's one entry (website, console, socket.io, "
        "SMS webhooks); the Rasa replicas take `RASA_PORT` and up, and Rasa calls the action "
        "servers through nginx on `ACTIONS_PORT`",
        _PORT,
        read_by="scripts",
    )
    fleet_actions_port: int = _var(
        5155,
        "FLEET_ACTIONS_PORT",
        "scripts",
        "`fleet.sh`: the first action server's port (one port per replica, upwards)",
        _PORT,
        read_by="scripts",
    )
    fleet_desk_port: int = _var(
        8100,
        "FLEET_DESK_PORT",
        "scripts",
        "`fleet.sh`: the first desk's port (one port per replica, upwards)",
        _PORT,
        read_by="scripts",
    )

    class Config:
        frozen = True  # one value per process; tests build another with from_env
        extra = "forbid"  # a misspelt field in a test is an error, not a silent default

        @classmethod
        def customise_sources(
            cls, init_settings: Any, env_settings: Any, file_secret_settings: Any
        ) -> tuple[Any, ...]:
            # from_env is the one reader of the environment (so tests can pass a mapping);
            # pydantic's own os.environ source would read it a second way.
            return (init_settings,)

    @validator("*", pre=True)
    def _parse(cls, value: Any, field: Any) -> Any:  # noqa: N805 - pydantic's signature
        parse = field.field_info.extra.get("parse")
        if isinstance(value, str) and parse is not None:
            return parse(value)
        return value

    # ---------------------------------------------------------------- building
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: this process's environment); an empty value counts
        as unset. Raises SettingsError naming every bad variable."""
        source = os.environ if env is None else env
        given = {
            name: source[var]
            for name, var in ENV_NAMES.items()
            if source.get(var, "").strip() != ""
        }
        try:
            return cls.parse_obj(given)  # cls(**given), typed: the values are strings to parse
        except ValidationError as exc:
            raise SettingsError(_explain(exc, given)) from None

    def is_set(self, name: str) -> bool:
        """Whether the field's variable was given, not left to its default."""
        return name in self.__fields_set__

    def require(self, name: str) -> Any:
        """The value of a field a process cannot run without; SettingsError when unset."""
        value = getattr(self, name)
        if value is None:
            field = self.__fields__[name]
            raise SettingsError(
                f"{ENV_NAMES[name]}: must be set"
                + (
                    f" to a secret of at least {MIN_SECRET_CHARS} characters (scripts/start.sh "
                    "generates one into .run/)"
                    if field.outer_type_ is SecretStr
                    else ""
                )
            )
        return value

    def secret(self, name: str) -> str | None:
        """A secret's value, for the one place that uses it (never for a log line)."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    @property
    def cors(self) -> list[str]:
        """The origins whose pages may call Rasa from a browser: the desk's, by default."""
        if self.cors_origins:
            return list(self.cors_origins)
        return [f"http://localhost:{self.desk_port}", f"http://127.0.0.1:{self.desk_port}"]


ENV_NAMES: dict[str, str] = {
    name: field.field_info.extra["env"] for name, field in Settings.__fields__.items()
}
_SECRETS = {name for name, field in Settings.__fields__.items() if field.type_ is SecretStr}


def _explain(exc: ValidationError, given: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0])
        var = ENV_NAMES.get(name, name)
        got = given.get(name)
        if name in _SECRETS:
            shown = f"got {len(got or '')} characters"  # never the secret itself
        else:
            shown = f'got "{got}"'
        lines.append(f"{var}: {error['msg']}, {shown}")
    return "; ".join(lines)


# ---------------------------------------------------------------- the process's settings
@lru_cache(maxsize=4)
def _cached(values: tuple[str | None, ...]) -> Settings:
    return Settings.from_env(dict(zip(ENV_NAMES.values(), (v or "" for v in values), strict=True)))


def get() -> Settings:
    """This process's settings. Re-read when one of the variables changed (tests set them
    with monkeypatch), otherwise cached: cheap enough to call per request."""
    return _cached(tuple(os.environ.get(var) for var in ENV_NAMES.values()))


# ---------------------------------------------------------------- the README's table
def _shown_default(field: Any) -> str:
    extra = field.field_info.extra
    if extra.get("shown"):
        return str(extra["shown"])
    if field.default is None:
        return "*(unset)*"
    if isinstance(field.default, Path):
        return f"`{field.default.relative_to(PROJECT_ROOT)}`"
    if isinstance(field.default, str):
        return f"`{field.default}`"
    if isinstance(field.default, float) and field.default.is_integer():
        return str(int(field.default))
    return str(field.default)


READ_BY = {
    "python": "",
    "rasa": " (read by Rasa: `endpoints.yml`)",
    "scripts": " (read by `scripts/`)",
}


def markdown() -> str:
    """The README's Configuration table, one row per variable, grouped by concern."""
    rows = ["| Variable | Concern | Default | Meaning |", "|---|---|---|---|"]
    for field in Settings.__fields__.values():
        extra = field.field_info.extra
        meaning = str(field.field_info.description) + READ_BY[extra["read_by"]]
        rows.append(
            f"| `{extra['env']}` | {extra['group']} | {_shown_default(field)} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if argv == ["--check"]:
        try:
            Settings.from_env()
        except SettingsError as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        return 0
    sys.stderr.write("usage: python -m bot.settings --markdown | --check\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
