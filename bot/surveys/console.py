"""The console's low-rating alerts (session + CSRF, see bot/desk/console/guard.py).
Supervisors only; agents get 403.

GET   /console/api/surveys/alerts                 unacknowledged low-rating alerts
POST  /console/api/surveys/alerts/{alert}/ack     acknowledge one (alert id = visit id)
"""

from __future__ import annotations

import time

from aiohttp import web

from bot.desk.console.context import current_user
from bot.http import REDIS, json_error
from bot.surveys import alerts

BASE = "/console/api/surveys/alerts"


def _supervisor(request: web.Request) -> web.Response | None:
    if current_user(request).role != "supervisor":
        return json_error(403, "role", "supervisors only")
    return None


async def list_alerts(request: web.Request) -> web.Response:
    refused = _supervisor(request)
    if refused is not None:
        return refused
    now = time.time()
    return web.json_response({"now": now, "alerts": await alerts.alerts(request.app[REDIS], now)})


async def acknowledge(request: web.Request) -> web.Response:
    refused = _supervisor(request)
    if refused is not None:
        return refused
    alert = request.match_info["alert"]
    done = await alerts.acknowledge(
        request.app[REDIS], alert, current_user(request).username, time.time()
    )
    if not done:
        return json_error(404, "alert", "no such alert")
    return web.json_response({"id": alert, "acknowledged": True})


def setup(app: web.Application) -> None:
    app.router.add_get(BASE, list_alerts, allow_head=False)
    app.router.add_post(f"{BASE}/{{alert}}/ack", acknowledge)
