"""Web session tokens: the only way a browser gets back to a conversation.

The server mints every web conversation id (`web:` + 32 hex) and hands the widget a
token that names it, signed with HMAC-SHA256 and carrying when it was issued and when
it expires. A browser that shows a valid token resumes that conversation; anything
else (no token, a bad signature, an expired token, a raw id such as `sms:+86…`) gets
a new id. So a visitor can only ever reach a conversation the server gave them, and
never another channel's.

Format: `v1.<payload>.<signature>`, both base64url without padding; the payload is
`<conversation id>|<issued at>|<expires at>` (Unix seconds, ASCII digits).

Secrets: `KEFU_WEB_SESSION_SECRET` signs (required, at least 32 characters: there is
no default, since a default secret would let anyone forge tokens);
`KEFU_WEB_SESSION_SECRET_PREVIOUS` (optional) still verifies, so a secret can be
rotated without logging every visitor out: their next session_request returns a token
signed with the new secret. `KEFU_WEB_SESSION_TTL_S` (default 30 days) bounds a
token's life, also for tokens minted under a longer setting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot import settings
from bot.settings import ENV_NAMES, MIN_SECRET_CHARS, Settings, SettingsError
from bot.text import ascii_int

SECRET_ENV = ENV_NAMES["web_session_secret"]
PREVIOUS_SECRET_ENV = ENV_NAMES["web_session_secret_previous"]
TTL_ENV = ENV_NAMES["web_session_ttl_s"]
DEFAULT_TTL_S: int = Settings.__fields__["web_session_ttl_s"].default
# A v1 token is about 150 characters; anything much longer is not one of ours.
MAX_TOKEN_CHARS = 256
WEB_PREFIX = "web:"
# Issued-at may be a little ahead of this host's clock when another host minted it.
CLOCK_SKEW_S = 60

_VERSION = "v1"
# Binds the signature to this use, so the secret cannot sign anything else by accident.
_CONTEXT = b"kefu.web.session.v1\n"
_WEB_ID = re.compile(r"web:[0-9a-f]{32}")
_B64 = re.compile(r"[A-Za-z0-9_-]+")


class TokenConfigError(RuntimeError):
    """The web session secret or lifetime is missing or unusable."""


def new_web_id() -> str:
    """A fresh web conversation id: 128 random bits, so nobody can guess another's."""
    return WEB_PREFIX + secrets.token_hex(16)


def is_web_id(value: object) -> bool:
    return isinstance(value, str) and _WEB_ID.fullmatch(value) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not _B64.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Signer:
    """Mints and verifies tokens; the first secret signs, every secret verifies."""

    secrets: tuple[bytes, ...]
    ttl_s: int = DEFAULT_TTL_S
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if not self.secrets or any(len(s) < MIN_SECRET_CHARS for s in self.secrets):
            raise TokenConfigError(f"web session secrets need at least {MIN_SECRET_CHARS} chars")
        if self.ttl_s <= 0:
            raise TokenConfigError("the web session lifetime must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Signer:
        """From the settings (or `environ`'s); raises TokenConfigError naming the variable
        when it is missing or unusable."""
        try:
            config = settings.get() if environ is None else Settings.from_env(environ)
            secret = config.require("web_session_secret").get_secret_value()
        except SettingsError as exc:
            raise TokenConfigError(str(exc)) from None
        previous = config.secret("web_session_secret_previous")
        keys = (secret, previous) if previous else (secret,)
        return cls(tuple(k.encode() for k in keys), config.web_session_ttl_s)

    def _sign(self, key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())

    def mint(self, conversation_id: str) -> str:
        if not is_web_id(conversation_id):
            raise ValueError("only web conversation ids get web session tokens")
        issued = int(self.clock())
        payload = _b64(f"{conversation_id}|{issued}|{issued + self.ttl_s}".encode("ascii"))
        return f"{_VERSION}.{payload}.{self._sign(self.secrets[0], payload)}"

    def verify(self, token: object) -> str | None:
        """The web conversation id a genuine, unexpired token names; None for anything else."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return None
        _, payload, signature = parts
        # Every key is tried, with a constant-time compare, so timing tells nothing.
        genuine = False
        for key in self.secrets:
            genuine |= hmac.compare_digest(self._sign(key, payload), signature)
        if not genuine:
            return None
        raw = _unb64(payload)
        fields = raw.decode("ascii", "replace").split("|") if raw else []
        if len(fields) != 3 or not is_web_id(fields[0]):
            return None
        issued, expires = ascii_int(fields[1]), ascii_int(fields[2])
        now = self.clock()
        if issued is None or expires is None or issued > now + CLOCK_SKEW_S:
            return None
        if now >= min(expires, issued + self.ttl_s):
            return None
        return fields[0]


def mint(conversation_id: str) -> str:
    """A token for a web conversation id, signed with the configured secret."""
    return Signer.from_env().mint(conversation_id)


def verify(token: object) -> str | None:
    """The conversation id of a valid token, else None (see Signer.verify)."""
    return Signer.from_env().verify(token)
