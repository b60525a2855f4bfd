"""The supervisors' outage page in a real browser: preview (recipients and segments per
language), publish, live progress and status, restore, probable-outage alerts.

A `python -m bot.desk` process on its own Redis database (no Rasa needed for this page);
Playwright drives Debian's Chromium (the `browser` fixture of tests/conftest.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from bot import db
from bot.outages.reports import record_report
from tests.conftest import RedisServer
from tests.support.accessibility import blocking, describe, run_axe
from tests.support.desk_process import console_desk, flush, run
from tests.support.desk_process import logged_in as console_login

pytestmark = pytest.mark.browser

DB = 7  # ours
PASSWORD = "outages in the browser 42"
XSS = '<img src=x onerror="window.__pwned=1">'


@dataclass
class Desk:
    url: str
    redis_url: str


@pytest.fixture(scope="module")
def desk(redis_server: RedisServer) -> Iterator[Desk]:
    redis_url = redis_server.db_url(DB)
    run(flush(redis_url))
    with console_desk(redis_url, "browser-outages-token", PASSWORD) as url:
        yield Desk(url, redis_url)


def logged_in(browser: Browser, desk: Desk, name: str) -> Page:
    return console_login(browser, desk.url, "/console/outages", name, PASSWORD)


def test_publish_with_preview_then_restore(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "boss")
    expect(page).to_have_url(re.compile(r"/console/outages$"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.check('input[name="areas"][value="chaoyang"]')
    page.select_option("#kind", "fault")
    page.fill("#starts_at", "2030-12-02T09:00")
    page.fill("#eta", "2030-12-02T13:00")
    page.fill("#cause", XSS)
    page.fill("#text_zh", "朝阳区故障停电，正在抢修。")
    page.fill("#text_en", "Power cut in Chaoyang; crews are on it.")
    expect(page.locator("#publish-button")).to_be_disabled()  # preview first

    page.click("#preview")
    expect(page.locator("#preview-result")).to_be_visible()
    recipients = int(page.locator("#preview-recipients").inner_text())
    assert recipients >= 1  # the demo holder +8613800000001 lives in Chaoyang
    assert int(page.locator("#preview-zh").inner_text()) >= 1
    assert int(page.locator("#preview-en").inner_text()) >= 1
    # The notices as they would be sent (the times are the form's).
    expect(page.locator("#preview-body-en")).to_contain_text("Chaoyang")
    expect(page.locator("#preview-body-zh")).to_contain_text("朝阳")
    # Editing the form asks for a new preview.
    page.fill("#text_en", "Power cut in Chaoyang; crews are on the way.")
    expect(page.locator("#publish-button")).to_be_disabled()
    page.click("#preview")
    expect(page.locator("#publish-button")).to_be_enabled()

    page.click("#publish-button")
    expect(page.locator("#publish-status")).to_contain_text("OG")
    row = page.locator("#outages-body tr").first
    expect(row.locator("td").nth(6)).to_have_text(XSS)  # the cause, as text
    expect(row.locator("td[data-status]")).to_have_attribute("data-status", "announced")
    # The broadcast's progress reaches the page by itself (polling).
    expect(row.locator("td.progress")).to_contain_text(f"收件 {recipients} ")

    row.locator('button[data-action="restored"]').click()
    expect(row.locator("td[data-status]")).to_have_attribute("data-status", "restored")
    assert page.evaluate("window.__pwned") is None
    assert errors == []
    violations = blocking(run_axe(page))
    assert not violations, describe(violations)


def test_probable_outage_alert_shows_up_and_is_acknowledged(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "boss")
    expect(page.locator("#alerts-box")).to_be_hidden()

    async def reports() -> None:
        redis = db.connect(desk.redis_url)
        try:
            for n in range(3):
                await record_report(redis, "fengtai", f"+86138000002{n:02d}", time.time())
        finally:
            await redis.close()

    run(reports())
    alert = page.locator("#alerts li")
    expect(alert).to_contain_text("丰台区")  # arrives without a reload
    page.reload()
    expect(alert).to_contain_text("3")  # kept in Redis
    alert.locator("button").click()
    expect(page.locator("#alerts-box")).to_be_hidden()


def test_agents_cannot_open_the_page(browser: Browser, desk: Desk) -> None:
    page = logged_in(browser, desk, "agent.li")
    response = page.goto(desk.url + "/console/outages")
    assert response is not None and response.status == 403
