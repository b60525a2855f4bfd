"""The desk's /metrics and /readyz (`setup(app)`), and the console's conversation id in its
log lines.

/metrics is served on the desk's own port behind KEFU_METRICS_TOKEN rather than on a second,
loopback-only port: a fleet then needs no extra port per desk, Prometheus sends the token
like any bearer token, and a reverse proxy that forwards more than it should still leaks
nothing. (deploy/nginx.conf does not forward /metrics or /readyz at all.)
"""

from __future__ import annotations

from aiohttp import web

from bot.http import REDIS, SETTINGS, Handler, json_error
from bot.ops import context, gauges, health, metrics


async def metrics_page(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].secret("metrics_token")
    if not health.scrape_allowed(request.headers.get("Authorization"), token):
        response = json_error(401, "Authorization", "a valid metrics bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="kefu-metrics"'
        return response
    families = await gauges.queue_gauges(request.app[REDIS])
    return web.Response(
        body=health.exposition(families), headers={"Content-Type": health.CONTENT_TYPE}
    )


async def readyz(request: web.Request) -> web.Response:
    ready = await health.redis_ready(request.app[REDIS])
    status, body = health.readiness([] if ready else ["redis"])
    return web.json_response(body, status=status)


@web.middleware
async def conversation_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Console routes about one conversation (`/conversations/{id}/…`) log its id."""
    conversation_id = request.match_info.get("id")
    if conversation_id and "/conversations/" in request.path:
        with context.conversation(conversation_id):
            return await handler(request)
    return await handler(request)


def setup(app: web.Application) -> None:
    metrics.prime("desk")
    app.middlewares.append(conversation_context)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/readyz", readyz)
