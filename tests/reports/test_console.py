"""The supervisors' report page: agents get 403, the page renders the figures with SVG
charts and no script or inline style of its own, the CSV link, a bad range, the
complaint-spike alerts and the low-rating return visits with their acknowledge forms (CSRF)."""

from __future__ import annotations

import re
import time
from datetime import date

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.reports import prewarning
from bot.reports.prewarning import Check, Spike
from bot.surveys import alerts as survey_alerts
from tests.support.handoff import create_user, login

PAGE = "/console/reports?from=2026-11-01&to=2026-11-30"


async def _raise(redis: aioredis.Redis, category: str = "outage") -> str:
    spike = Spike(
        date(2026, 11, 12),
        "chaoyang",
        category,
        Check(12, 4.5, 1.2, 8.1, True),
        ("TK20261112-0001", "<b>x</b>"),
    )
    await prewarning.raise_spike(redis, spike, time.time())
    return spike.id


async def test_agents_are_refused(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang", "agent")
    csrf = await login(desk, "wang.fang")
    page = await desk.get(PAGE, allow_redirects=False)
    assert page.status == 403
    export = await desk.get("/console/reports.csv?from=2026-11-01&to=2026-11-30")
    assert export.status == 403
    alert = await _raise(redis)
    ack = await desk.post(
        f"/console/reports/alerts/{alert}/ack", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert ack.status == 403
    assert await prewarning.alerts(redis, time.time())  # still unacknowledged
    queue = await (await desk.get("/console/")).text()
    assert "/console/reports" not in queue  # the link is for supervisors


async def test_without_a_session_it_asks_to_log_in(desk: TestClient) -> None:
    page = await desk.get(PAGE, allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/console/login")


async def test_the_page_for_a_supervisor(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "zhang.boss", "supervisor")
    csrf = await login(desk, "zhang.boss")
    queue = await (await desk.get("/console/")).text()
    assert 'href="/console/reports"' in queue
    alert = await _raise(redis)
    page = await desk.get(PAGE)
    assert page.status == 200
    html = await page.text()
    assert 'data-page="reports"' in html
    assert 'value="2026-11-01"' in html and 'value="2026-11-30"' in html
    assert 'href="/console/reports.csv?from=2026-11-01&amp;to=2026-11-30"' in html
    assert html.count("<svg") == 3 and "<script>" not in html and "style=" not in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html  # data is text
    assert f'action="/console/reports/alerts/{alert}/ack"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    css = await desk.get("/console/static/reports.css")
    assert css.status == 200

    no_csrf = await desk.post(f"/console/reports/alerts/{alert}/ack", allow_redirects=False)
    assert no_csrf.status == 403
    ack = await desk.post(
        f"/console/reports/alerts/{alert}/ack", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert ack.status == 303 and ack.headers["Location"] == "/console/reports"
    assert await prewarning.alerts(redis, time.time()) == []
    (seen,) = await prewarning.alerts(redis, time.time(), include_acknowledged=True)
    assert seen["acknowledged_by"] == "zhang.boss"
    missing = await desk.post(
        "/console/reports/alerts/2026-11-12:chaoyang:nothing/ack",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    assert missing.status == 404

    export = await desk.get("/console/reports.csv?from=2026-11-01&to=2026-11-30")
    assert export.status == 200 and export.content_type == "text/csv"
    assert (await export.text()).startswith("scope,key,resolutions")


async def test_a_bad_range_is_shown_not_a_500(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "zhang.boss", "supervisor")
    await login(desk, "zhang.boss")
    page = await desk.get("/console/reports?from=2026-11-30&to=2026-11-01")
    assert page.status == 400
    html = await page.text()
    assert re.search(r'role="alert">to: to must not be before from<', html)
    default = await desk.get("/console/reports")
    assert default.status == 200  # the last 30 days
    export = await desk.get("/console/reports.csv?from=x&to=2026-11-01")
    assert export.status == 400


LOW = "TK20261125-0001:1"
LOW_ACK = f"/console/reports/low-ratings/{LOW}/ack"


async def _raise_low_rating(redis: aioredis.Redis) -> None:
    details = {
        "ticket": "TK20261125-0001",
        "rating": "1",
        "comment": '<script>alert("x")</script>还是没电',
        "owner": "li.ming",
        "callback_by": "2026-11-25T06:00:00+00:00",
    }
    assert await survey_alerts.raise_alert(redis, LOW, time.time(), details)


async def test_low_rating_alerts_on_the_page(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "zhang.boss", "supervisor")
    csrf = await login(desk, "zhang.boss")
    empty = await (await desk.get(PAGE)).text()
    assert re.search(r'id="low-rating-alerts"><li>无 None</li>', empty)
    await _raise_low_rating(redis)
    page = await desk.get(PAGE)
    assert page.status == 200
    html = await page.text()
    assert "低分回访 Low ratings" in html
    assert f'data-low-rating="{LOW}"' in html and "TK20261125-0001" in html
    assert "评分 Rating 1" in html and "li.ming" in html
    assert "截止 by 2026-11-25 14:00" in html  # the callback deadline, company time (UTC+8)
    assert "<script>" not in html and "style=" not in html  # CSP: no inline script/style
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;还是没电" in html  # text
    assert f'action="{LOW_ACK}"' in html

    no_csrf = await desk.post(LOW_ACK, allow_redirects=False)
    assert no_csrf.status == 403
    assert await survey_alerts.alerts(redis, time.time())  # still there
    ack = await desk.post(LOW_ACK, data={"csrf_token": csrf}, allow_redirects=False)
    assert ack.status == 303 and ack.headers["Location"] == "/console/reports"
    assert await survey_alerts.alerts(redis, time.time()) == []
    (seen,) = await survey_alerts.alerts(redis, time.time(), include_acknowledged=True)
    assert seen["acknowledged_by"] == "zhang.boss"
    html = await (await desk.get(PAGE)).text()
    assert f'data-low-rating="{LOW}"' not in html and "TK20261125-0001" not in html
    missing = await desk.post(
        "/console/reports/low-ratings/TK20261125-0002:1/ack",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    assert missing.status == 404


async def test_agents_cannot_acknowledge_low_ratings(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang", "agent")
    csrf = await login(desk, "wang.fang")
    await _raise_low_rating(redis)
    ack = await desk.post(LOW_ACK, data={"csrf_token": csrf}, allow_redirects=False)
    assert ack.status == 403
    assert await survey_alerts.alerts(redis, time.time())  # still unacknowledged
