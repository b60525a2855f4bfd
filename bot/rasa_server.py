"""`python -m bot.rasa_server`: `rasa run` in this process, configured from the environment.

Why not `rasa run --auth-token …` directly: a process's arguments are world-readable
(`ps`, /proc/<pid>/cmdline), so the API token would be visible to every local user.
Here the token is read from RASA_TOKEN and handed to Rasa's argument parser in memory;
the kernel's copy of our command line stays `python -m bot.rasa_server`.

Defaults are the safe ones: loopback only (RASA_HOST), the HTTP API behind the token,
CORS for the desk's origins only (KEFU_CORS_ORIGINS), request bodies up to
KEFU_MAX_REQUEST_BYTES (Sanic's own default is 100 MB), tracker retention
KEFU_TRACKER_RETENTION_S (endpoints.yml `record_exp`), conversation lock lifetime
TICKET_LOCK_LIFETIME (30 s; Rasa's 60 s default delayed a conversation a minute after
its Rasa was killed mid-turn). Extra arguments are passed to
`rasa run` (e.g. `--model other.tar.gz`, `--debug`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bot import logmask
from bot.ops import logs
from bot.settings import PROJECT_ROOT, Settings, SettingsError


def rasa_argv(
    argv: list[str], env: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Rasa's CLI arguments and the environment settings Rasa reads, both from the
    settings (of `env`, default this process's environment)."""
    if any(a.startswith("--auth-token") for a in argv):
        raise SettingsError(
            "RASA_TOKEN: pass the API token in RASA_TOKEN, never on the command line"
        )
    settings = Settings.from_env(env)
    token = settings.require("rasa_token").get_secret_value()
    # endpoints.yml reads it for the action server; fail here with a clear message
    # rather than deep inside Rasa's YAML loader.
    settings.require("action_token")
    extra_env = {
        # Sanic loads SANIC_* variables into its config when Rasa creates the app.
        "SANIC_REQUEST_MAX_SIZE": str(settings.max_request_bytes),
        # endpoints.yml: tracker_store.record_exp (a string there; Redis takes it as-is).
        "KEFU_TRACKER_RETENTION_S": str(settings.tracker_retention_s),
        # Read by rasa.core.lock_store when Rasa imports it (below, after this is set).
        "TICKET_LOCK_LIFETIME": str(settings.ticket_lock_lifetime_s),
    }
    args = [
        "rasa",
        "run",
        "--model",
        str(PROJECT_ROOT / "models" / "latest.tar.gz"),
        "--endpoints",
        str(PROJECT_ROOT / "endpoints.yml"),
        "--credentials",
        str(PROJECT_ROOT / "credentials.yml"),
        "--interface",
        settings.rasa_host,
        "--port",
        str(settings.rasa_port),
        "--enable-api",
        # The `=` form: a token starting with "-" would otherwise parse as an option.
        f"--auth-token={token}",
        "--cors",
        *settings.cors,
        *argv,
    ]
    return args, extra_env


def main() -> None:
    # Before Rasa logs anything (our channel modules install it too, but only once loaded).
    logmask.install()
    try:
        args, extra_env = rasa_argv(sys.argv[1:])
    except SettingsError as e:
        sys.exit(f"bot.rasa_server: {e}")
    # KEFU_LOG_FORMAT=json from the first line; bot.ops.channel applies it again once Rasa
    # has installed its own handlers (credentials.yml loads it).
    logs.apply(Settings.from_env().log_format)
    # Settings Rasa and Sanic read themselves (endpoints.yml's ${...}, SANIC_*): the one
    # place we write the environment, for the `rasa run` below in this same process.
    os.environ.update(extra_env)
    # Rewriting sys.argv changes what Rasa's parser reads, not /proc/<pid>/cmdline.
    sys.argv = args
    import rasa.__main__  # noqa: PLC0415 - heavy (TensorFlow); only once the settings are valid

    from bot import speedups  # noqa: PLC0415 - imports Rasa

    speedups.install()
    rasa.__main__.main()


if __name__ == "__main__":
    main()
