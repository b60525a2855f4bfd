"""aiohttp application of the desk service."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from aiohttp import web

from bot import db
from bot.desk import console as desk_console
from bot.desk import redis_watch
from bot.desk import simulator as sms_simulator
from bot.desk.auth import api_token_middleware
from bot.http import REDIS, SETTINGS, WORKERS
from bot.notices import worker as notices_worker
from bot.ops import desk as ops
from bot.outages import api as outages_api
from bot.outages import console as outages_console
from bot.reports import api as reports_api
from bot.reports import console as reports_console
from bot.reports import prewarning as reports_prewarning
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import api as sms_api
from bot.sms import delivery_status as sms_delivery_status
from bot.sms import incoming as sms_incoming
from bot.sms import sender as sms_sender
from bot.surveys import worker as surveys_worker
from bot.tasks import Workers
from bot.tickets import api as tickets_api

HERE = Path(__file__).resolve().parent
SOCKET_IO_CLIENT = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def _content_security_policy(rasa_url: str) -> str:
    # Customer text is rendered with textContent; the CSP is a second line of
    # defence: no inline script, scripts only from this origin.
    origin = urlsplit(rasa_url)
    ws_scheme = "wss" if origin.scheme == "https" else "ws"
    rasa = f"{origin.scheme}://{origin.netloc} {ws_scheme}://{origin.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {rasa}; frame-ancestors 'none'; base-uri 'none'"
    )


WIDGET_TEXTS = PROJECT_ROOT / "content" / "web" / "texts.yml"


@cache
def widget_texts() -> str:
    """The widget's opening (greeting and quick replies, per language) as JSON for the page."""
    with WIDGET_TEXTS.open(encoding="utf-8") as handle:
        widget = yaml.safe_load(handle)["widget"]
    for lang in ("zh", "en"):
        if not isinstance(widget["greeting"][lang], str):
            raise ValueError(f"{WIDGET_TEXTS}: widget.greeting needs `{lang}`")
    replies = [
        {"payload": str(r["payload"]), "zh": str(r["zh"]), "en": str(r["en"])}
        for r in widget["quick_replies"]
    ]
    return json.dumps(
        {"greeting": widget["greeting"], "quick_replies": replies}, ensure_ascii=False
    )


async def website(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    page = (HERE / "templates" / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{ rasa_url }}", html.escape(settings.rasa_public_url, quote=True))
    page = page.replace("{{ widget_texts }}", html.escape(widget_texts(), quote=True))
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Security-Policy": _content_security_policy(settings.rasa_public_url)},
    )


async def socket_io_client(_: web.Request) -> web.FileResponse:
    if not SOCKET_IO_CLIENT.exists():
        raise web.HTTPServiceUnavailable(
            text='{"error": "socket.io client missing; run npm ci"}',
            content_type="application/json",
        )
    return web.FileResponse(SOCKET_IO_CLIENT)


async def healthz(request: web.Request) -> web.Response:
    # 200 even when Redis is full: restarting the desk would not help; monitoring reads
    # "status", "redis_memory" (bot/desk/redis_watch.py) and "workers" (bot/tasks.py:
    # each background worker, running or not, and its error count).
    memory = redis_watch.status(request.app)
    state = "degraded" if memory["state"] == "full" else "ok"
    workers = request.app[WORKERS].status()
    return web.json_response({"status": state, "redis_memory": memory, "workers": workers})


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def _redis_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    # One shared client per desk process; capabilities get it from app[REDIS].
    app[REDIS] = db.connect(app[SETTINGS].redis_url)
    yield
    await app[REDIS].close()  # redis-py 4.6 (pinned by Rasa) has close(), not aclose()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, api_token_middleware(settings)],
        client_max_size=64 * 1024,
    )
    app[SETTINGS] = settings
    app[WORKERS] = Workers()
    app.router.add_get("/", website)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/vendor/socket.io.min.js", socket_io_client)
    app.router.add_static("/static/", HERE / "static", follow_symlinks=False)
    app.cleanup_ctx.append(_redis_ctx)
    # Each capability adds its routes and background workers here, one line each:
    # setup(app) registers routes and appends to app.cleanup_ctx for workers.
    tickets_api.setup(app)
    outages_api.setup(app)  # after tickets_api: adds its paths to /api/openapi.json
    reports_api.setup(app)  # after tickets_api: adds its paths to /api/openapi.json
    reports_prewarning.setup(app)  # hourly complaint-spike check (EARS C2)
    sms_api.setup(app)
    sms_incoming.setup(app)  # Twilio's inbound webhook: recorded, acknowledged
    sms_delivery_status.setup(app)
    sms_sender.setup(app)
    notices_worker.setup(app)  # outage broadcasts and bill reminders
    desk_console.setup(app)
    outages_console.setup(app)
    reports_console.setup(app)
    sms_simulator.setup(app)
    redis_watch.setup(app)
    surveys_worker.setup(app)  # return visits: scheduler, low-rating alerts
    ops.setup(app)  # /metrics (KEFU_METRICS_TOKEN), /readyz
    return app
