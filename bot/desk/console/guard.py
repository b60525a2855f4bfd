"""The console's front door: a session on every route but login and static files, CSRF on
every state-changing request, same-origin websockets, and strict security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web

from bot.desk.console.context import CONSOLE, SESSION, USER
from bot.desk.console.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, tokens_equal
from bot.http import json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROOT = "/console"
LOGIN = "/console/login"
STATIC = "/console/static/"
WS = "/console/ws"
API = "/console/api/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_console(path: str) -> bool:
    return path == ROOT or path.startswith(ROOT + "/")


def wants_json(request: web.Request) -> bool:
    """API calls, the websocket and XHR get 401 JSON; page loads get a redirect."""
    if request.path.startswith(API) or request.path == WS:
        return True
    if request.headers.get("X-Requested-With"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def redirect(location: str, status: int = 302) -> web.Response:
    """303 after a POST (the browser then GETs), 302 otherwise."""
    return web.Response(status=status, headers={"Location": location})


def to_login(request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else ROOT + "/"
    return redirect(f"{LOGIN}?next={quote(target, safe='/')}")


def safe_next(value: str | None) -> str:
    """Only a console path on this site (no //evil.example, no scheme)."""
    if not value:
        return ROOT + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not is_console(parts.path) or value.startswith("//"):
        return ROOT + "/"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return ROOT + "/"
    return value


def content_security_policy(request: web.Request) -> str:
    host = request.host
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' ws://{host} wss://{host}; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


async def _csrf_token_sent(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in FORM_TYPES:
        form = await request.post()  # cached by aiohttp: the handler can read it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser; the session cookie is still required
    return urlsplit(origin).netloc == request.host


def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_console(request.path):
        return await handler(request)
    if request.path == LOGIN or request.path.startswith(STATIC):
        response = await handler(request)  # login checks its own (pre-session) CSRF token
        _secure_headers(request, response)
        return response

    console = request.app[CONSOLE]
    session = await console.sessions.get(request.cookies.get(COOKIE))
    user = await console.users.get(session.username) if session else None
    if session is None or user is None or not console.sessions.valid_for(session, user):
        if wants_json(request):
            return json_error(401, "session", "log in to the console first")
        return to_login(request)
    if request.method not in SAFE_METHODS:
        if not tokens_equal(await _csrf_token_sent(request), session.csrf):
            return json_error(403, CSRF_FIELD, "missing or wrong CSRF token")
    if request.path == WS and not _same_origin(request):
        return json_error(403, "Origin", "cross-site websocket refused")
    request[SESSION] = session
    request[USER] = user
    response = await handler(request)
    _secure_headers(request, response)
    return response
