"""The action server's /healthz, /readyz and /metrics, its action metrics, and the
conversation id in its log lines: a rasa_sdk plugin (actions/server.py registers it).

- GET /healthz: 200 while the process serves HTTP; GET /readyz: 200 when Redis answers a
  PING (bot.ops.health), else 503. Both open, like rasa_sdk's /health.
- GET /metrics: Prometheus text, bearer KEFU_METRICS_TOKEN (not the action token: the
  scraper must not be able to run actions).
- Each POST /webhook that passed the token check is counted and timed per action
  (`kefu_action_calls_total`, `kefu_action_duration_seconds`); an action name this server
  does not have counts as "unknown", so a caller cannot mint label values.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from typing import Any

import pluggy
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from actions import services
from bot.ops import context, gauges, health, logs, metrics
from bot.ops.metrics import ACTION_CALLS, ACTION_SECONDS
from bot.settings import Settings

hookimpl = pluggy.HookimplMarker("rasa_sdk")

ACTIONS_PACKAGE = "actions"
WEBHOOK = "/webhook"
# rasa_sdk's answers on /webhook: 400 ActionExecutionRejection, 404 ActionNotFoundException.
OUTCOMES = {200: "ok", 400: "rejected", 404: "not_found"}
REFUSED = frozenset({401, 403})  # the token check's: not an action call


def known_actions(package: str = ACTIONS_PACKAGE) -> frozenset[str]:
    """The names of the actions this server runs (rasa_sdk's registry of `package`)."""
    executor = ActionExecutor()
    registry_log = logging.getLogger("rasa_sdk.executor")
    level = registry_log.level
    registry_log.setLevel(logging.WARNING)  # rasa_sdk's own executor logged each one already
    try:
        executor.register_package(package)
    finally:
        registry_log.setLevel(level)
    return frozenset(executor.actions)


def action_call(request: Request) -> dict[str, Any]:
    """The action call Rasa posted ({} if unreadable: rasa_sdk answers that itself)."""
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            call = json.loads(zlib.decompress(request.body))
        else:
            call = request.json  # parsed once; rasa_sdk's handler reuses it
    except Exception:  # noqa: BLE001 - bad JSON, bad deflate, Sanic's InvalidUsage
        return {}
    return call if isinstance(call, dict) else {}


class OpsPlugin:
    """rasa_sdk plugin: health, readiness, metrics and per-action figures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        # rasa_sdk has configured its logging (coloredlogs) by now.
        logs.apply(self.settings.log_format)
        metrics.prime("actions")
        names = known_actions()
        token = self.settings.secret("metrics_token")

        @app.get("/healthz")
        async def healthz(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @app.get("/readyz")
        async def readyz(_: Request) -> HTTPResponse:
            ready = await health.redis_ready(services.redis())
            status, body = health.readiness([] if ready else ["redis"])
            return response.json(body, status=status)

        @app.get("/metrics")
        async def metrics_page(request: Request) -> HTTPResponse:
            if not health.scrape_allowed(request.headers.get("authorization"), token):
                return response.json(
                    {"error": "a valid metrics bearer token is required", "field": "Authorization"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="kefu-metrics"'},
                )
            families = await gauges.redis_up(services.redis())
            return response.raw(health.exposition(families), content_type=health.CONTENT_TYPE)

        @app.middleware("request")
        async def start_call(request: Request) -> None:
            if request.path != WEBHOOK or request.method != "POST":
                context.set_current(None)
                return
            call = action_call(request)
            name = call.get("next_action")
            request.ctx.kefu_action = name if isinstance(name, str) and name in names else "unknown"
            request.ctx.kefu_started = time.perf_counter()
            sender = call.get("sender_id")
            # Every log line of this call names the conversation (masked by bot.ops.logs).
            context.set_current(sender if isinstance(sender, str) else None)

        @app.middleware("response")
        async def end_call(request: Request, reply: BaseHTTPResponse) -> None:
            started = getattr(request.ctx, "kefu_started", None)
            if started is None or reply.status in REFUSED:
                return
            action = request.ctx.kefu_action
            ACTION_CALLS.labels(action, OUTCOMES.get(reply.status, "error")).inc()
            ACTION_SECONDS.labels(action).observe(time.perf_counter() - started)

        async def json_logs(_app: Any, _loop: Any) -> None:
            logs.apply(self.settings.log_format)  # handlers Sanic added since

        app.register_listener(json_logs, "before_server_start")
