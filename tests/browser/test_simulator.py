"""The SMS phone simulator in a real browser, against the running stack.

A console user opens /console/simulator, picks a number and texts the bot. The desk signs
each text with the stack's local token (TWILIO_AUTH_TOKEN, no Twilio account) and posts it
to Rasa's real SMS webhook; the replies travel outbox -> desk sender -> local sink and
appear on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.handoff import HandoffStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

PHONE = "+8613800000009"
XSS = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture
def user(browser: Browser, handoff_stack: HandoffStack) -> Iterator[Page]:
    """A console user who asked for the simulator and had to log in first."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)  # a bot turn by SMS: webhook, Rasa, outbox, sender
    page.goto(handoff_stack.desk_url + "/console/simulator")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/simulator"))
    page.fill("#username", handoff_stack.agent)
    page.fill("#password", handoff_stack.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/simulator$"))
    yield page
    context.close()


def text(page: Page, body: str) -> None:
    page.fill("#sim-body", body)
    page.press("#sim-body", "Enter")
    expect(page.locator(".sim-msg--from_phone .text").last).to_have_text(body)


def test_texting_the_bot_as_a_phone(user: Page) -> None:
    page = user
    # A bad number is refused, naming the field.
    page.fill("#sim-phone", "12345")
    page.click("#sim-pick button[type=submit]")
    expect(page.locator("#sim-error")).to_contain_text("phone")
    expect(page.locator("#sim-body")).to_be_disabled()

    page.fill("#sim-phone", "+86 138 0000 0009")
    page.click("#sim-pick button[type=submit]")
    expect(page.locator("#sim-current")).to_have_text(PHONE)
    expect(page).to_have_url(re.compile(r"\?phone=%2B8613800000009$"))
    expect(page.locator("#sim-error")).to_have_text("")

    replies = page.locator(".sim-msg--to_phone")
    text(page, "你好")
    expect(replies.first).to_be_visible()
    expect(replies.first.locator(".text")).to_have_text(re.compile(r"\S"))
    # Each reply shows its segment count and encoding (Chinese: UCS-2).
    expect(replies.first.locator(".meta")).to_contain_text("UCS-2")

    # What the phone typed is shown as text: markup in it stays inert.
    before = replies.count()
    text(page, XSS)
    page.wait_for_function(
        "n => document.querySelectorAll('.sim-msg--to_phone').length > n", arg=before
    )
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".sim-msg img").count() == 0

    # TD opts the number out: the confirmation arrives like any SMS.
    text(page, "TD")
    expect(page.locator(".sim-msg--to_phone", has_text="您已退订短信")).to_be_visible()
    expect(page.locator(".sim-msg--to_phone", has_text="you are unsubscribed")).to_be_visible()

    # Reloading the page reopens the number with the whole conversation.
    page.reload()
    expect(page.locator("#sim-current")).to_have_text(PHONE)
    expect(page.locator(".sim-msg--from_phone")).to_have_count(3)
    expect(page.locator(".sim-msg--to_phone", has_text="您已退订短信")).to_be_visible()
