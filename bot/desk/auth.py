"""Authentication for the desk's HTTP APIs (bearer token from DESK_API_TOKEN).

Public: the demo website and its assets, and the health check. Everything
under /api/ needs the token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.config import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, field: str | None, message: str) -> web.Response:
    """The one shape of every desk error: {"error": ..., "field": ...}."""
    body: dict[str, str] = {"error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def api_token_middleware(settings: Settings) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if (
            not settings.api_token
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.encode(), settings.api_token.encode())
        ):
            response = json_error(401, "Authorization", "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="kefu"'
            return response
        return await handler(request)

    return middleware
