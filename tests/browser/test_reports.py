"""The supervisors' report page in a real browser: figures and SVG charts for a range,
a missing return visit listed, the date form, the CSV download, acknowledging a
complaint-spike alert, agents refused; no script error, no CSP violation, nothing a
customer typed run as markup, and no blocking accessibility violation.

A `python -m bot.desk` process on its own Redis database; Playwright drives Debian's
Chromium (the `browser` fixture of tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from bot import db
from bot.reports.prewarning import check_day
from bot.surveys.models import Visit
from bot.surveys.store import VisitStore, visit_key
from bot.tickets.service import TicketService
from tests.conftest import RedisServer
from tests.support.accessibility import blocking, describe, run_axe
from tests.support.desk_process import console_desk, run
from tests.support.desk_process import logged_in as console_login

pytestmark = pytest.mark.browser

DB = 12  # ours
PASSWORD = "reports in the browser 42"
TZ = ZoneInfo("Asia/Shanghai")
XSS = '<img src=x onerror="window.__pwned=1">'


@dataclass
class Desk:
    url: str
    redis_url: str
    missing: str  # the ticket whose visit is missing


YESTERDAY = datetime.now(timezone.utc) - timedelta(days=1)


async def _seed(url: str) -> str:
    """Yesterday's tickets: four billing complaints in Chaoyang, resolved (ratings 5, 4
    and 1, and one whose visit the test deletes once the desk has scheduled it: a spike
    with a floor of 4), and two outage complaints; returns the number without a visit."""
    redis = db.connect(url)
    try:
        await redis.flushdb()
        service = TicketService.build(redis, clock=lambda: YESTERDAY)
        visits = VisitStore(redis)
        numbers = []
        for rating, owner in ((5, "wang.fang"), (4, "li.na"), (1, "li.na"), (None, "wang.fang")):
            ticket = await service.create_complaint(
                category="billing",
                description=XSS,
                location="朝阳区幸福路",
                phone="+8613800138000",
                language="zh",
                channel="sms",
            )
            await service.reassign(ticket.number, owner, actor="boss")
            await service.transition(ticket.number, "in_progress", actor=owner)
            await service.transition(ticket.number, "resolved", actor=owner)
            numbers.append(ticket.number)
            if rating is None:
                continue
            at = YESTERDAY.timestamp()
            await visits.create(
                Visit(
                    id=f"{ticket.number}:1",
                    ticket=ticket.number,
                    resolution=1,
                    language="zh",
                    conversation_id=f"sms:{ticket.phone}",
                    phone=ticket.phone,
                    channel="sms",
                    status="answered",
                    resolved_at=at,
                    due_at=at,
                    sent_at=at,
                    answered_at=at,
                    rating=rating,
                    comment=XSS,
                )
            )
        for _ in range(2):
            await service.create_complaint(
                category="outage",
                description="停电",
                location="朝阳区",
                phone="+8613900139000",
                language="zh",
                channel="sms",
            )
        assert await check_day(redis, YESTERDAY.timestamp(), TZ, min_count=4)
        return numbers[-1]
    finally:
        await redis.close()


async def _lose_visit(url: str, number: str) -> None:
    """The desk's scheduler gives every resolution a visit; lose this one (the report
    must then list it)."""
    redis = db.connect(url)
    try:
        for _ in range(600):
            if await redis.delete(visit_key(f"{number}:1")):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the desk scheduled no visit")
    finally:
        await redis.close()


@pytest.fixture(scope="module")
def desk(redis_server: RedisServer) -> Iterator[Desk]:
    redis_url = redis_server.db_url(DB)
    missing = run(_seed(redis_url))
    with console_desk(redis_url, "browser-reports-token", PASSWORD) as url:
        run(_lose_visit(redis_url, missing))
        yield Desk(url, redis_url, missing)


def logged_in(browser: Browser, desk: Desk, name: str) -> Page:
    return console_login(browser, desk.url, "/console/reports", name, PASSWORD)


def test_the_report_page(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "boss")
    expect(page).to_have_url(re.compile(r"/console/reports$"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.reload()

    satisfaction = page.locator('#overall tr[data-figure="satisfaction"]')
    expect(satisfaction).to_contain_text("66.7%")
    expect(satisfaction).to_contain_text("2/3")
    expect(page.locator('#overall tr[data-figure="coverage"]')).to_contain_text("3/4")
    expect(page.locator("#coverage-status")).to_have_attribute("data-complete", "false")
    expect(page.locator("#missing-visits")).to_contain_text(desk.missing)
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(3)
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 40
    expect(page.locator("#by-agent")).to_contain_text("li.na")
    expect(page.locator("#by-category")).to_contain_text("billing")

    # The range form: a past month has nothing.
    page.fill('input[name="from"]', "2020-01-01")
    page.fill('input[name="to"]', "2020-01-31")
    page.click("form.range button[type=submit]")
    expect(page).to_have_url(re.compile(r"from=2020-01-01&to=2020-01-31"))
    expect(page.locator('#overall tr[data-figure="satisfaction"]')).to_contain_text("0/0")
    expect(page.locator("#csv-link")).to_have_attribute(
        "href", "/console/reports.csv?from=2020-01-01&to=2020-01-31"
    )

    today = datetime.now(TZ).date()
    page.goto(
        f"{desk.url}/console/reports?from={(today - timedelta(days=1)).isoformat()}"
        f"&to={today.isoformat()}"
    )
    with page.expect_download() as download:
        page.click("#csv-link")
    path = download.value.path()
    text = open(path, encoding="utf-8").read()  # noqa: SIM115 - a test reads it once
    assert text.startswith("scope,key,resolutions") and desk.missing in text

    assert page.evaluate("window.__pwned") is None
    assert errors == []
    violations = blocking(run_axe(page))
    assert not violations, describe(violations)


def test_a_spike_alert_is_acknowledged(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "boss")
    alert = page.locator("#spike-alerts li[data-alert]")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("朝阳")
    expect(alert).to_contain_text("billing")
    expect(alert).to_contain_text("实际 actual 4")
    alert.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(page).to_have_url(re.compile(r"/console/reports$"))
    expect(page.locator("#spike-alerts li[data-alert]")).to_have_count(0)


def test_agents_are_refused(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "agent.li")
    expect(page.locator("body")).to_contain_text("supervisors only")
    expect(page.locator('a[href="/console/reports"]')).to_have_count(0)
