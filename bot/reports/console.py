"""The supervisors' report page on the console (session + CSRF, bot/desk/console/guard.py).
Agents get 403. Server-rendered, charts as SVG (bot.reports.charts), no script of its own.

GET  /console/reports?from=&to=                    the page (default: the last 30 days)
GET  /console/reports.csv?from=&to=                the same report as CSV
POST /console/reports/alerts/{id}/ack              acknowledge a complaint-spike alert
                                                   (a form with the session's csrf_token)
POST /console/reports/low-ratings/{id}/ack         acknowledge a low-rating alert
                                                   (bot.surveys.alerts; id = the visit id)
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.accounts.areas import load_areas
from bot.desk.console.context import CONSOLE, current_session, current_user
from bot.desk.console.guard import redirect
from bot.desk.console.pages import layout, require_supervisor
from bot.desk.console.render import Markup, esc, join, render
from bot.desk.console.sessions import CSRF_FIELD
from bot.http import REDIS, SETTINGS
from bot.reports import api, charts, prewarning
from bot.reports.dates import DateRange, InvalidRange, last_days
from bot.reports.metrics import Figures, Rate, Report
from bot.reports.source import VisitSource
from bot.surveys import alerts as survey_alerts

PAGE = "/console/reports"
LOW_RATINGS = f"{PAGE}/low-ratings"
CSV = "/console/reports.csv"
DEFAULT_DAYS = 30
ROWS = (
    ("satisfaction", "满意率 Satisfaction (4-5 / responses)"),
    ("response", "回复率 Response rate (responses / surveys sent)"),
    ("coverage", "回访覆盖率 Return-visit coverage"),
    ("first_response_sla", "首次响应达标 First response within SLA"),
    ("resolution_sla", "处理时限达标 Resolution within SLA"),
)


def _percent(rate: Rate) -> str:
    return "-" if rate.percent is None else f"{rate.percent:.1f}%"


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"


def _overall_rows(f: Figures) -> Markup:
    rows = [
        Markup(
            f'<tr data-figure="{esc(name)}"><th>{esc(label)}</th>'
            f"<td>{esc(_percent(getattr(f, name)))}</td>"
            f"<td>{getattr(f, name).numerator}/{getattr(f, name).denominator}</td></tr>"
        )
        for name, label in ROWS
    ]
    rows.append(
        Markup(
            f'<tr data-figure="median_resolve"><th>处理时长中位数 Median time to resolve</th>'
            f"<td>{esc(_hours(f.median_resolve_s))}</td><td>{f.tickets} tickets</td></tr>"
        )
    )
    return join(rows)


def _group_table(table_id: str, label: str, groups: dict[str, Figures]) -> Markup:
    head = "".join(f"<th>{esc(text.split(' (')[0])}</th>" for _, text in ROWS)
    body = [
        Markup(
            f"<tr><th>{esc(key)}</th><td>{f.resolutions}</td>"
            + "".join(
                f"<td>{esc(_percent(getattr(f, name)))} "
                f"<small>{getattr(f, name).numerator}/{getattr(f, name).denominator}</small></td>"
                for name, _ in ROWS
            )
            + f"<td>{esc(_hours(f.median_resolve_s))}</td></tr>"
        )
        for key, f in groups.items()
    ]
    return Markup(
        f'<table id="{esc(table_id)}" class="figures"><thead><tr><th>{esc(label)}</th>'
        f"<th>结案数 Resolutions</th>{head}<th>时长中位数 Median</th></tr></thead>"
        f"<tbody>{join(body)}</tbody></table>"
    )


def _charts(report: Report, category_label: dict[str, str]) -> Markup:
    def sat(groups: dict[str, Figures], names: dict[str, str]) -> list[charts.Bar]:
        return [
            charts.Bar(
                names.get(key, key),
                f.satisfaction.percent,
                f"{f.satisfaction.numerator}/{f.satisfaction.denominator}",
            )
            for key, f in groups.items()
        ]

    days = list(report.by_day)
    return join(
        [
            charts.bars(
                "满意率·类别 Satisfaction by category", sat(report.by_category, category_label)
            ),
            charts.bars("满意率·客服 Satisfaction by agent", sat(report.by_agent, {})),
            charts.columns(
                "每日结案 Resolutions per day",
                days,
                [report.by_day[d].resolutions for d in days],
            ),
        ]
    )


def _alerts(alerts: list[dict[str, object]], csrf: str) -> Markup:
    areas = load_areas()
    items = []
    for alert in alerts:
        area = areas.get(str(alert["area"]))
        area_name = f"{area.zh} {area.en}" if area else str(alert["area"])
        samples = ", ".join(str(s) for s in alert["samples"])  # type: ignore[attr-defined]
        items.append(
            Markup(
                f'<li data-alert="{esc(alert["id"])}">{esc(alert["day"])} · {esc(area_name)} · '
                f"{esc(alert['category'])}: 实际 actual {esc(alert['actual'])}, "
                f"预期 expected {float(alert['expected']):.1f} "  # type: ignore[arg-type]
                f"(阈值 threshold {float(alert['threshold']):.1f}) · "  # type: ignore[arg-type]
                f"{esc(samples)} "
                f'<form method="post" action="{esc(PAGE)}/alerts/{esc(alert["id"])}/ack">'
                f'<input type="hidden" name="{esc(CSRF_FIELD)}" value="{esc(csrf)}">'
                f'<button type="submit">确认 Acknowledge</button></form></li>'
            )
        )
    if not items:
        return Markup("<li>无 None</li>")
    return join(items)


def _local_time(value: float | str | None, tz: ZoneInfo) -> str:
    """Epoch seconds or an ISO timestamp (naive = UTC) as local 'YYYY-MM-DD HH:MM'."""
    if value is None or value == "":
        return "-"
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
        else:
            moment = datetime.fromtimestamp(value, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _low_ratings(alerts: list[dict[str, Any]], csrf: str, tz: ZoneInfo) -> Markup:
    """Unacknowledged low-rating return visits (bot.surveys.alerts), each with its
    acknowledge form; everything the customer typed is text."""
    items = []
    for alert in alerts:
        rating = alert.get("rating")
        owner = alert.get("owner")
        callback_by = alert.get("callback_by")
        callback = ""
        if owner or callback_by:
            callback = (
                f' · 回电 Callback <span class="owner">{esc(owner or "-")}</span>'
                f" 截止 by {esc(_local_time(callback_by, tz))}"
            )
        comment = alert.get("comment")
        action = f"{LOW_RATINGS}/{quote(str(alert['id']), safe=':')}/ack"
        items.append(
            Markup(
                f'<li data-low-rating="{esc(alert["id"])}">'
                f'<span class="ticket">{esc(alert["ticket"])}</span> · '
                f"评分 Rating {esc('-' if rating is None else rating)} · "
                f"{esc(_local_time(alert.get('at'), tz))}"
                f"{callback}"
                + (f' <q class="comment">{esc(comment)}</q>' if comment else "")
                + f' <form method="post" action="{esc(action)}">'
                f'<input type="hidden" name="{esc(CSRF_FIELD)}" value="{esc(csrf)}">'
                f'<button type="submit">确认 Acknowledge</button></form></li>'
            )
        )
    if not items:
        return Markup("<li>无 None</li>")
    return join(items)


def _range(request: web.Request) -> DateRange:
    tz = ZoneInfo(request.app[SETTINGS].timezone)
    if "from" not in request.query and "to" not in request.query:
        return last_days(datetime.now(tz).date(), DEFAULT_DAYS, tz)
    return api.read_range(request.query, tz, ("from", "to"))


async def reports_page(request: web.Request) -> web.Response:
    require_supervisor(current_user(request))
    tz = ZoneInfo(request.app[SETTINGS].timezone)
    error = ""
    try:
        dates = _range(request)
    except InvalidRange as exc:
        error = f"{exc.field}: {exc.message}"
        dates = last_days(datetime.now(tz).date(), DEFAULT_DAYS, tz)
    now = time.time()
    redis = request.app[REDIS]
    visits: VisitSource = request.app[api.VISITS]  # type: ignore[assignment]
    report = await api.satisfaction(redis, visits, dates, now)
    roster = request.app[CONSOLE].roster
    labels = {
        c: f"{roster.category_label(c, 'zh')} {roster.category_label(c, 'en')}"
        for c in roster.categories
    }
    coverage = report.overall.coverage
    complete = coverage.numerator == coverage.denominator
    coverage_text = (
        f"{_percent(coverage)} ({coverage.numerator}/{coverage.denominator})"
        + (f" · 待回访 pending {report.pending}" if report.pending else "")
        + ("" if complete else " · 缺少回访 Missing visits:")
    )
    missing = join(
        [
            Markup(f"<li>{esc(m.number)} (#{m.resolution}, {esc(m.visit_status or '-')})</li>")
            for m in report.missing
        ]
    )
    query = f"from={dates.first.isoformat()}&to={dates.last.isoformat()}"
    csrf = current_session(request).csrf
    content = render(
        "reports.html",
        first=dates.first.isoformat(),
        last=dates.last.isoformat(),
        csv_href=f"{CSV}?{query}",
        error=error,
        timezone=dates.tz.key,
        alerts=_alerts(await prewarning.alerts(redis, now), csrf),
        low_ratings=_low_ratings(await survey_alerts.alerts(redis, now), csrf, tz),
        overall=_overall_rows(report.overall),
        complete="true" if complete else "false",
        coverage_text=coverage_text,
        missing=missing,
        charts=_charts(report, labels),
        by_category=_group_table("by-category", "类别 Category", report.by_category),
        by_grade=_group_table("by-grade", "等级 Grade", report.by_grade),
        by_agent=_group_table("by-agent", "客服 Agent", report.by_agent),
    )
    response = layout(request, "reports", "满意度报表 Reports", content)
    if error:
        response.set_status(400)
    return response


async def reports_csv(request: web.Request) -> web.Response:
    require_supervisor(current_user(request))
    try:
        dates = _range(request)
    except InvalidRange as exc:
        raise web.HTTPBadRequest(text=f"{exc.field}: {exc.message}") from exc
    visits: VisitSource = request.app[api.VISITS]  # type: ignore[assignment]
    report = await api.satisfaction(request.app[REDIS], visits, dates, time.time())
    return api.csv_response(report, dates)


async def acknowledge(request: web.Request) -> web.Response:
    user = current_user(request)
    require_supervisor(user)
    alert_id = request.match_info["id"]
    if not await prewarning.acknowledge(request.app[REDIS], alert_id, user.username, time.time()):
        raise web.HTTPNotFound(text="no such alert")
    return redirect(PAGE, status=303)


async def acknowledge_low_rating(request: web.Request) -> web.Response:
    user = current_user(request)
    require_supervisor(user)
    alert_id = request.match_info["id"]
    if not await survey_alerts.acknowledge(
        request.app[REDIS], alert_id, user.username, time.time()
    ):
        raise web.HTTPNotFound(text="no such alert")
    return redirect(PAGE, status=303)


def setup(app: web.Application) -> None:
    """The page, its CSV and the acknowledge forms; needs bot.reports.api.setup (the visit
    store) and the console (its guard covers these routes)."""
    app.router.add_get(PAGE, reports_page)
    app.router.add_get(CSV, reports_csv)
    app.router.add_post(f"{PAGE}/alerts/{{id}}/ack", acknowledge)
    app.router.add_post(f"{LOW_RATINGS}/{{id}}/ack", acknowledge_low_rating)
