"""Rasa's /metrics, /healthz and /readyz, as an input channel (credentials.yml:
`bot.ops.channel.OpsInput:`) because that is how Rasa lets us add routes to its server.
Rasa mounts them under /webhooks/ops/:

- GET healthz: 200 while the process serves HTTP;
- GET readyz: 200 when Redis answers and the model is loaded (`agent.is_ready()`), else 503;
- GET metrics: Prometheus text, bearer KEFU_METRICS_TOKEN (bot.ops.health).

It receives no messages. Building its blueprint also switches the process's logs to JSON
when KEFU_LOG_FORMAT=json: by then Rasa has configured its logging (coloredlogs, Sanic).
deploy/nginx.conf forwards none of these paths.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db, settings
from bot.ops import gauges, health, logs, metrics
from bot.ops.turns import OnNewMessage


class OpsInput(InputChannel):
    """Health, readiness and metrics routes on Rasa's server."""

    @classmethod
    def name(cls) -> str:
        return "ops"

    def __init__(self) -> None:
        self._redis: aioredis.Redis | None = None

    def redis(self) -> aioredis.Redis:
        # Made on first use, inside the server's event loop.
        if self._redis is None:
            self._redis = db.connect(settings.get().redis_url)
        return self._redis

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        metrics.prime("rasa")
        logs.apply(settings.get().log_format)
        bp = Blueprint("kefu_ops", __name__)

        @bp.route("/healthz", methods=["GET"])
        async def healthz(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/readyz", methods=["GET"])
        async def readyz(request: Request) -> HTTPResponse:
            failed = [] if await health.redis_ready(self.redis()) else ["redis"]
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                failed.append("model")
            status, body = health.readiness(failed)
            return response.json(body, status=status)

        @bp.route("/metrics", methods=["GET"])
        async def metrics_page(request: Request) -> HTTPResponse:
            token = settings.get().secret("metrics_token")
            if not health.scrape_allowed(request.headers.get("authorization"), token):
                return response.json(
                    {"error": "a valid metrics bearer token is required", "field": "Authorization"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="kefu-metrics"'},
                )
            families = await gauges.redis_up(self.redis())
            return response.raw(health.exposition(families), content_type=health.CONTENT_TYPE)

        # Again once the server runs: Sanic and the model's libraries (Jieba) add handlers.
        @bp.listener("before_server_start")
        async def json_logs(_app: Any, _loop: Any) -> None:
            logs.apply(settings.get().log_format)

        @bp.listener("after_server_start")
        async def json_logs_again(_app: Any, _loop: Any) -> None:
            logs.apply(settings.get().log_format)

        @bp.listener("after_server_stop")
        async def close(_app: Any, _loop: Any) -> None:
            if self._redis is not None:
                await self._redis.close()
                self._redis = None

        return bp
