"""`python -m actions.server`: rasa_sdk's own action server, bound to loopback and
requiring the shared secret KEFU_ACTION_TOKEN.

The action server acts on whatever tracker it is sent (a forged `slots.phone` would list
that phone's tickets), so only Rasa may call it. Rasa sends the secret as
`Authorization: Bearer …` (endpoints.yml, `action_endpoint.headers`): a header rather
than Rasa's `token:` query parameter, because URLs end up in proxy and access logs.

Without KEFU_ACTION_TOKEN the server refuses to start: there is no unauthenticated mode,
not even on loopback, since every local process (and every browser page, via DNS
rebinding) can reach loopback. scripts/start.sh generates the token.

Everything else (the executor, /webhook, /actions, logging options) is rasa_sdk's:
we add one request middleware through rasa_sdk's plugin hook and run `rasa_sdk.endpoint.run`.
Extra arguments are passed to rasa_sdk (e.g. `--auto-reload`, `--debug`).
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from collections.abc import Mapping

import pluggy
from rasa_sdk.__main__ import main_from_args
from rasa_sdk.endpoint import create_argument_parser
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.ops import OpsPlugin
from bot.settings import ENV_NAMES, Settings, SettingsError

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")

TOKEN_ENV = ENV_NAMES["action_token"]
# Load balancers, probes and start.sh poll them; they say nothing about any customer.
# /metrics checks its own token, KEFU_METRICS_TOKEN (actions/ops.py).
OPEN_PATHS = frozenset({"/health", "/healthz", "/readyz", "/metrics"})


def token_error(authorization: str | None, token: str) -> HTTPResponse | None:
    """None when `authorization` carries `token`, else the JSON refusal to send."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return response.json(
            {"error": "missing action server token", "field": "Authorization"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Constant time: the comparison must not tell an attacker how many characters matched.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return response.json(
            {"error": "wrong action server token", "field": "Authorization"}, status=403
        )
    return None


class TokenPlugin:
    """rasa_sdk plugin: every route but OPEN_PATHS needs the shared secret."""

    def __init__(self, token: str) -> None:
        self.token = token

    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        token = self.token

        @app.middleware("request")
        async def require_token(request: Request) -> HTTPResponse | None:
            if request.path in OPEN_PATHS:
                return None
            refusal = token_error(request.headers.get("authorization"), token)
            if refusal is not None:
                logger.warning("refused %s %s from %s", request.method, request.path, request.ip)
            return refusal

        # Replaces rasa_sdk's handler, which answers every error (even a 404) with a 500
        # that echoes the request body: the whole tracker, phone numbers included.
        @app.exception(Exception)
        async def error_reply(request: Request, exception: Exception) -> HTTPResponse:
            if isinstance(exception, SanicException):
                status = int(exception.status_code)
                return response.json({"error": str(exception)}, status=status)
            logger.error("action server error on %s", request.path, exc_info=exception)
            return response.json({"error": "internal error in the action server"}, status=500)


def main(argv: list[str], env: Mapping[str, str] | None = None) -> None:
    """Runs the action server with the settings of `env` (default: this process's)."""
    try:
        settings = Settings.from_env(env)
        token = settings.require("action_token").get_secret_value()
    except SettingsError as e:
        sys.exit(f"actions.server: {e}")
    # rasa_sdk.endpoint.run binds SANIC_HOST (default 0.0.0.0, every interface): a write
    # for rasa_sdk, the one place this process sets the environment.
    os.environ["SANIC_HOST"] = settings.actions_host
    # pluggy calls the plugin registered last first: the token check's middleware then runs
    # before OpsPlugin's, which so never reads a body the token check refuses.
    plugin_manager().register(OpsPlugin(settings))  # /healthz, /readyz, /metrics, JSON logs
    plugin_manager().register(TokenPlugin(token))
    # No --cors: browsers never call the action server.
    args = create_argument_parser().parse_args(
        ["--actions", "actions", "--port", str(settings.actions_port), *argv]
    )
    main_from_args(args)


if __name__ == "__main__":
    main(sys.argv[1:])
