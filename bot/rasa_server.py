"""`python -m bot.rasa_server`: `rasa run` in this process, configured from the environment.

Why not `rasa run --auth-token …` directly: a process's arguments are world-readable
(`ps`, /proc/<pid>/cmdline), so the API token would be visible to every local user.
Here the token is read from RASA_TOKEN and handed to Rasa's argument parser in memory;
the kernel's copy of our command line stays `python -m bot.rasa_server`.

Defaults are the safe ones: loopback only (RASA_HOST), the HTTP API behind the token,
CORS for the desk's origins only (KEFU_CORS_ORIGINS), request bodies up to
KEFU_MAX_REQUEST_BYTES (Sanic's own default is 100 MB), tracker retention
KEFU_TRACKER_RETENTION_S (endpoints.yml `record_exp`). Extra arguments are passed to
`rasa run` (e.g. `--model other.tar.gz`, `--debug`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bot import logmask
from bot.config import PROJECT_ROOT
from bot.serving import ConfigError, int_setting, required_secret

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_TRACKER_RETENTION_S = 30 * 24 * 3600  # as long as a web session token lives


def cors_origins(env: Mapping[str, str]) -> list[str]:
    """The origins whose pages may call Rasa from a browser: the desk's, by default."""
    configured = env.get("KEFU_CORS_ORIGINS", "").split()
    if configured:
        if "*" in configured:
            raise ConfigError("KEFU_CORS_ORIGINS: list the desk's origins, not '*'")
        return configured
    desk_port = int_setting(env, "DESK_PORT", 8000, lo=1, hi=65535)
    return [f"http://localhost:{desk_port}", f"http://127.0.0.1:{desk_port}"]


def rasa_argv(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """Rasa's CLI arguments and the environment settings Rasa reads, both from `env`."""
    if any(a.startswith("--auth-token") for a in argv):
        raise ConfigError("pass the API token in RASA_TOKEN, never on the command line")
    token = required_secret(env, "RASA_TOKEN")
    # endpoints.yml reads it for the action server; fail here with a clear message
    # rather than deep inside Rasa's YAML loader.
    required_secret(env, "KEFU_ACTION_TOKEN")
    port = int_setting(env, "RASA_PORT", 5005, lo=1, hi=65535)
    max_bytes = int_setting(
        env, "KEFU_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, lo=16 * 1024, hi=100 * 1024**2
    )
    retention = int_setting(
        env, "KEFU_TRACKER_RETENTION_S", DEFAULT_TRACKER_RETENTION_S, lo=60, hi=10 * 365 * 86400
    )
    extra_env = {
        # Sanic loads SANIC_* variables into its config when Rasa creates the app.
        "SANIC_REQUEST_MAX_SIZE": str(max_bytes),
        # endpoints.yml: tracker_store.record_exp (a string there; Redis takes it as-is).
        "KEFU_TRACKER_RETENTION_S": str(retention),
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
        env.get("RASA_HOST") or "127.0.0.1",
        "--port",
        str(port),
        "--enable-api",
        # The `=` form: a token starting with "-" would otherwise parse as an option.
        f"--auth-token={token}",
        "--cors",
        *cors_origins(env),
        *argv,
    ]
    return args, extra_env


def main() -> None:
    # Before Rasa logs anything (our channel modules install it too, but only once loaded).
    logmask.install()
    try:
        args, extra_env = rasa_argv(sys.argv[1:], os.environ)
    except ConfigError as e:
        sys.exit(f"bot.rasa_server: {e}")
    os.environ.update(extra_env)
    # Rewriting sys.argv changes what Rasa's parser reads, not /proc/<pid>/cmdline.
    sys.argv = args
    import rasa.__main__  # noqa: PLC0415 - heavy (TensorFlow); only once the settings are valid

    rasa.__main__.main()


if __name__ == "__main__":
    main()
