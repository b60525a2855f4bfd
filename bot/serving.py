"""Settings shared by the process entry points (`actions.server`, `bot.rasa_server`).

Both read their secrets and limits from the environment and refuse to start on a
missing secret or a malformed number, with a message naming the variable, rather than
serving without authentication or with a silently different limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.text import ascii_int

# start.sh makes 64 hex characters (secrets.token_hex(32)); anything much shorter is
# a placeholder someone forgot to replace.
MIN_SECRET_CHARS = 32


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def required_secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{name} must be set to a secret of at least {MIN_SECRET_CHARS} characters "
            f"(scripts/start.sh generates one into .run/; e.g. "
            f"python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return value


def int_setting(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    value = ascii_int(raw, lo=lo, hi=hi)
    if value is None:
        raise ConfigError(f"{name} must be a whole number from {lo} to {hi}, got {raw!r}")
    return value
