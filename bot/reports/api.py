"""Desk HTTP API for reports.

GET /api/reports/satisfaction?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=json|csv]
GET /api/reports/satisfaction.csv?from=...&to=...

Authentication is the desk's bearer-token middleware (every /api/ route, DESK_API_TOKEN).
Errors are the desk's JSON shape {"error", "field"}: a missing or malformed date, `to`
before `from`, a range over dates.MAX_DAYS days, an unknown or repeated parameter.
The console (bot.reports.console) builds the same report for its page and CSV link.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web

from bot.http import REDIS, SETTINGS, json_error, json_errors_for
from bot.openapi import merge_into
from bot.reports import export, openapi
from bot.reports.dates import DateRange, InvalidRange, parse_range
from bot.reports.metrics import Report, build_report
from bot.reports.source import VisitSource, gather
from bot.surveys.store import VisitStore
from bot.tickets.api import OPENAPI

VISITS = web.AppKey("report_visits", object)  # a VisitSource (bot.surveys.store.VisitStore)
PREFIXES = ("/api/reports",)
PATH = "/api/reports/satisfaction"
CSV_PATH = "/api/reports/satisfaction.csv"


async def satisfaction(
    redis: aioredis.Redis, visits: VisitSource, dates: DateRange, now: float
) -> Report:
    records = await gather(redis, visits, dates.start, dates.end)
    return build_report(
        records.resolutions,
        records.tickets,
        records.visits,
        now,
        dates.day_of,
        dates.days,
        records.latest,
    )


def report_json(report: Report, dates: DateRange, now: float) -> dict[str, Any]:
    return {
        "from": dates.first.isoformat(),
        "to": dates.last.isoformat(),
        "timezone": dates.tz.key,
        "generated_at": now,
        **report.to_json(),
    }


def csv_response(report: Report, dates: DateRange) -> web.Response:
    name = f"satisfaction-{dates.first.isoformat()}-{dates.last.isoformat()}.csv"
    return web.Response(
        text=export.to_csv(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def read_range(query: Mapping[str, str], tz: ZoneInfo, allowed: tuple[str, ...]) -> DateRange:
    """from/to of a query whose parameters must all be in `allowed`, each given once."""
    for name in query:
        if name not in allowed:
            raise InvalidRange(name[:40], f"unknown query parameter {name[:40]!r}")
    for name in allowed:
        if len(query.getall(name, [])) > 1:  # type: ignore[attr-defined]
            raise InvalidRange(name, f"{name} given more than once")
    return parse_range(query.get("from"), query.get("to"), tz)


def _tz(app: web.Application) -> ZoneInfo:
    return ZoneInfo(app[SETTINGS].timezone)


async def _respond(request: web.Request, *, csv: bool, allowed: tuple[str, ...]) -> web.Response:
    try:
        dates = read_range(request.query, _tz(request.app), allowed)
    except InvalidRange as exc:
        return json_error(400, exc.field, exc.message)
    fmt = request.query.get("format", "json")
    if fmt not in openapi.FORMATS:
        return json_error(400, "format", "format must be json or csv")
    now = time.time()
    visits: VisitSource = request.app[VISITS]  # type: ignore[assignment]
    report = await satisfaction(request.app[REDIS], visits, dates, now)
    if csv or fmt == "csv":
        return csv_response(report, dates)
    return web.json_response(report_json(report, dates, now))


async def satisfaction_handler(request: web.Request) -> web.Response:
    return await _respond(request, csv=False, allowed=("from", "to", "format"))


async def satisfaction_csv_handler(request: web.Request) -> web.Response:
    return await _respond(request, csv=True, allowed=("from", "to"))


json_errors = json_errors_for(PREFIXES, "the report store is unavailable; retry later")


async def _reports_ctx(app: web.Application) -> AsyncIterator[None]:
    app[VISITS] = VisitStore(app[REDIS])
    yield


def setup(app: web.Application) -> None:
    """Report routes and their OpenAPI paths (call after bot.tickets.api.setup)."""
    if OPENAPI not in app:
        raise RuntimeError("bot.reports.api.setup needs bot.tickets.api.setup first")
    merge_into(app[OPENAPI], openapi.fragment())
    app.router.add_get(PATH, satisfaction_handler, allow_head=False)
    app.router.add_get(CSV_PATH, satisfaction_csv_handler, allow_head=False)
    app.middlewares.append(json_errors)
    app.cleanup_ctx.append(_reports_ctx)
