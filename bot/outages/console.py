"""The supervisors' outage page on the console, and its JSON routes (session + CSRF, see
bot/desk/console/guard.py). Agents get 403.

GET   /console/outages                              the page (outages.js drives it)
GET   /console/api/outages                          outages with broadcast progress, alerts
POST  /console/api/outages                          publish (actor: the supervisor)
POST  /console/api/outages/preview                  recipients and segments per language
PATCH /console/api/outages/{id}                     eta / text / status
POST  /console/api/outages/alerts/{alert}/ack       acknowledge a probable-outage alert

The page polls GET /console/api/outages every few seconds (outages.js): the progress
counts change with every SMS status callback, which no stream the console's live hub
reads announces, and one small request per open supervisor page is cheap.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from bot.accounts.areas import load_areas
from bot.desk.console.context import current_user
from bot.desk.console.pages import layout, require_supervisor
from bot.desk.console.render import Markup, esc, join, render
from bot.http import REDIS, Handler, json_error
from bot.outages import api, reports
from bot.outages.api import handles_outage_errors
from bot.outages.models import KINDS, MAX_CAUSE, MAX_TEXT

PAGE = "/console/outages"
BASE = "/console/api/outages"
LISTED = 50  # outages on the page, newest first
KIND_LABELS = {"planned": "计划停电 Planned", "fault": "故障停电 Fault"}


def supervisors_only(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if current_user(request).role != "supervisor":
            return json_error(403, "role", "supervisors only")
        return await handler(request)

    return wrapped


async def _body_as_me(request: web.Request, schema: str) -> tuple[dict[str, Any], str]:
    body = await api.read_body(request, schema)
    body.pop("actor", None)  # the console acts as the logged-in user, never as someone else
    return body, current_user(request).username


# ------------------------------------------------------------------ page
async def outages_page(request: web.Request) -> web.Response:
    require_supervisor(current_user(request))
    areas = join(
        [
            Markup(
                f'<label class="area"><input type="checkbox" name="areas" value="{esc(a.id)}"> '
                f"{esc(a.zh)} {esc(a.en)}</label>"
            )
            for a in load_areas().values()
        ]
    )
    kinds = join(
        [Markup(f'<option value="{esc(k)}">{esc(KIND_LABELS.get(k, k))}</option>') for k in KINDS]
    )
    content = render(
        "outages.html", areas=areas, kinds=kinds, max_text=MAX_TEXT, max_cause=MAX_CAUSE
    )
    return layout(request, "outages", "停电管理 Outages", content)


# ------------------------------------------------------------------ JSON
@handles_outage_errors
@supervisors_only
async def overview(request: web.Request) -> web.Response:
    app = request.app
    now = time.time()
    outages = await api.list_outages(app, {"limit": LISTED})
    items = []
    for outage in outages:
        item = outage.to_json()
        item["progress"] = await api.notices(app, outage.id)
        items.append(item)
    areas = [{"id": a.id, "zh": a.zh, "en": a.en} for a in load_areas().values()]
    return web.json_response(
        {
            "now": now,
            "outages": items,
            "alerts": await reports.alerts(app[REDIS], now),
            "areas": areas,
        }
    )


@handles_outage_errors
@supervisors_only
async def publish(request: web.Request) -> web.Response:
    body, actor = await _body_as_me(request, "NewOutage")
    outage = await api.publish(request.app, body, actor)
    return web.json_response(outage.to_json(), status=201)


@handles_outage_errors
@supervisors_only
async def preview(request: web.Request) -> web.Response:
    body = await api.read_body(request, "OutagePreviewRequest")
    return web.json_response(await api.preview(request.app, body))


@handles_outage_errors
@supervisors_only
async def change(request: web.Request) -> web.Response:
    ident = api.outage_id(request)
    body, actor = await _body_as_me(request, "OutageChange")
    outage = await api.change(request.app, ident, body, actor)
    return web.json_response(outage.to_json())


@handles_outage_errors
@supervisors_only
async def acknowledge(request: web.Request) -> web.Response:
    alert = request.match_info["alert"]
    done = await reports.acknowledge(
        request.app[REDIS], alert, current_user(request).username, time.time()
    )
    if not done:
        return json_error(404, "alert", "no such alert")
    return web.json_response({"id": alert, "acknowledged": True})


def setup(app: web.Application) -> None:
    """The page and its JSON routes; the console's guard (session, CSRF) covers both."""
    router = app.router
    router.add_get(PAGE, outages_page)
    router.add_get(BASE, overview, allow_head=False)
    router.add_post(BASE, publish)
    router.add_post(f"{BASE}/preview", preview)
    router.add_patch(f"{BASE}/{{id}}", change)
    router.add_post(f"{BASE}/alerts/{{alert}}/ack", acknowledge)
