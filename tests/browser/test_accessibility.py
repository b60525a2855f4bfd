"""The widget's opening and accessibility (WCAG 2.1 AA) of the widget and the agent console.

Real Chromium via Playwright against the running stack; axe-core (npm devDependency) checks
the pages and allows no serious or critical violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accessibility import axe_context, blocking, describe, run_axe
from tests.support.handoff import HandoffStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

GREETING = ".kefu-msg--greeting"
QUICK_REPLIES = ".kefu-msg--greeting + .kefu-buttons button"


def open_page(browser: Browser, url: str, locale: str = "zh-CN", **options) -> Page:  # type: ignore[no-untyped-def]
    page = axe_context(browser, locale=locale, **options).new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return page


@pytest.fixture
def widget(browser: Browser, handoff_stack: HandoffStack) -> Iterator[Page]:
    page = open_page(browser, handoff_stack.desk_url + "/")
    expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
    yield page
    page.context.close()


def log_in(page: Page, stack: HandoffStack) -> None:
    page.goto(stack.desk_url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.fill("#username", stack.agent)
    page.fill("#password", stack.password)
    page.click("button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "online")


def assert_accessible(page: Page, name: str) -> None:
    violations = run_axe(page)
    print(f"\naxe on {name}: {describe(violations)}")  # all impacts, for the record
    assert not blocking(violations), f"{name}:\n{describe(blocking(violations))}"


# --- Open with help, not a blank box ----------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "lang", "greeting", "titles"),
    [
        ("zh-CN", "zh-CN", "您好", ["查询电费", "报告停电", "我要投诉", "转人工客服"]),
        ("en-US", "en", "Hello", ["My bill", "Report an outage", "Complaint", "Talk to a person"]),
    ],
)
def test_greeting_in_the_browser_language(
    browser: Browser,
    handoff_stack: HandoffStack,
    locale: str,
    lang: str,
    greeting: str,
    titles: list[str],
) -> None:
    page = open_page(browser, handoff_stack.desk_url + "/", locale=locale)
    try:
        expect(page.locator(GREETING)).to_contain_text(greeting)
        expect(page.locator(GREETING)).to_have_attribute("lang", lang)
        expect(page.locator(QUICK_REPLIES)).to_have_text(titles)
        # Shown by the widget, not a bot turn: the model predicted nothing.
        expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
        expect(page.locator(".kefu-msg--bot")).to_have_count(0)
        # A resumed conversation shows it once, where it was, and does not repeat it.
        page.reload()
        expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
        expect(page.locator(GREETING)).to_have_count(1)
        expect(page.locator(".kefu-msg")).to_have_count(1)
    finally:
        page.context.close()


def test_complaint_button_starts_the_complaint_form(widget: Page) -> None:
    widget.locator(QUICK_REPLIES, has_text="我要投诉").click()
    # The customer's line is the button's title, not its payload.
    expect(widget.locator(".kefu-msg--user")).to_have_text(["我要投诉"])
    expect(widget.locator(".kefu-msg--bot").first).to_contain_text("哪一类")
    # The greeting's buttons are spent: a stale /ask_bill must not answer the form's question.
    for button in widget.locator(QUICK_REPLIES).all():
        expect(button).to_be_disabled()


def test_an_english_browsers_button_gets_english_answers(
    browser: Browser, handoff_stack: HandoffStack
) -> None:
    """A payload carries no words: the browser's language decides the bot's first reply."""
    page = open_page(browser, handoff_stack.desk_url + "/", locale="en-US")
    try:
        expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
        page.locator(QUICK_REPLIES, has_text="Complaint").click()
        expect(page.locator(".kefu-msg--bot").first).to_contain_text("What is it about?")
    finally:
        page.context.close()


def test_handoff_button_queues_for_a_person(widget: Page) -> None:
    widget.locator(QUICK_REPLIES, has_text="转人工客服").click()
    expect(widget.locator(".kefu-msg--user")).to_have_text(["转人工客服"])
    expect(widget.locator(".kefu-msg--bot").last).to_contain_text(re.compile(r"第\s*\d+\s*位|人工"))


# --- Keyboard, live region, zoom ------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 20) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_chat_and_live_region(widget: Page) -> None:
    log = widget.locator("#kefu-log")
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "polite")

    # A quick reply from the keyboard: Tab to it, Space sends it, focus comes back to the
    # input (the spent button is disabled), and the send button follows in the Tab order.
    tab_to(widget, QUICK_REPLIES)
    outline = widget.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # visible focus
    widget.keyboard.press("Space")
    expect(widget.locator(".kefu-msg--user")).to_have_text(["查询电费"])
    expect(widget.locator("#kefu-input")).to_be_focused()
    widget.keyboard.press("Tab")
    expect(widget.locator("#kefu-send")).to_be_focused()
    expect(log.locator(".kefu-msg--bot")).to_have_count(1)

    # Tab to the input, type, Enter sends; the reply arrives inside the live region.
    tab_to(widget, "#kefu-input")
    # (A bill on the web needs the holder's phone, confirmed by a code.)
    widget.keyboard.type("13800000001")
    widget.keyboard.press("Enter")
    expect(widget.locator("#kefu-log .kefu-msg--user").last).to_have_text("13800000001")
    expect(widget.locator("[role=log][aria-live=polite] .kefu-msg--bot").last).to_contain_text(
        "验证码"
    )


def test_input_and_send_stay_visible_at_200_percent_zoom(
    browser: Browser, handoff_stack: HandoffStack
) -> None:
    # 200% zoom of a 1280x720 window: half the CSS pixels, twice the device pixels.
    page = open_page(
        browser,
        handoff_stack.desk_url + "/",
        viewport={"width": 640, "height": 360},
        device_scale_factor=2,
    )
    try:
        expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
        for text in ("怎么交电费", "营业厅几点开门"):
            page.fill("#kefu-input", text)
            page.press("#kefu-input", "Enter")
        expect(page.locator(".kefu-msg--bot")).to_have_count(2)
        for selector in ("#kefu-input", "#kefu-send", GREETING + " + .kefu-buttons"):
            expect(page.locator(selector)).to_be_visible()
        expect(page.locator("#kefu-input")).to_be_in_viewport()
        expect(page.locator("#kefu-send")).to_be_in_viewport()
        # Nothing clipped sideways: the panel fits the narrow window.
        box = page.locator("#kefu-chat").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 640 and box["y"] >= 0
        assert_accessible(page, "widget at 200% zoom")
    finally:
        page.context.close()


# --- axe-core: 0 serious or critical -----------------------------------------------------


def test_widget_has_no_serious_axe_violations(widget: Page) -> None:
    assert_accessible(widget, "widget, greeting")
    widget.fill("#kefu-input", "怎么交电费")
    widget.press("#kefu-input", "Enter")
    expect(widget.locator(".kefu-msg--bot")).to_have_count(1)
    assert_accessible(widget, "widget, after a reply")


def test_console_has_no_serious_axe_violations(
    browser: Browser, handoff_stack: HandoffStack, widget: Page
) -> None:
    agent = open_page(browser, handoff_stack.desk_url + "/console/login")
    try:
        assert_accessible(agent, "console login")
        log_in(agent, handoff_stack)
        assert_accessible(agent, "console queue")

        # A customer asks for a person with the greeting's button; the agent takes it.
        widget.locator(QUICK_REPLIES, has_text="转人工客服").click()
        session = widget.locator("#kefu-chat").get_attribute("data-session-id")
        row = agent.locator(f'#queue-body tr[data-conversation="{session}"]')
        expect(row).to_be_visible()
        assert_accessible(agent, "console queue with a waiting customer")
        row.locator("button.claim").click()
        expect(agent.locator("#conv-state")).to_have_text("agent")
        expect(agent.locator("#transcript .line--user").first).to_be_visible()
        assert_accessible(agent, "console conversation")

        # The agent's reply form works from the keyboard: label, Tab order, send.
        expect(agent.get_by_label("回复客户 Reply to the customer")).to_be_visible()
        agent.locator("#reply-text").focus()
        agent.keyboard.type("您好，我来帮您。")
        agent.keyboard.press("Tab")
        agent.keyboard.press("Enter")
        expect(widget.locator(".kefu-msg--agent").last).to_contain_text("我来帮您")
        expect(
            agent.locator("#transcript[aria-live=polite] .line--agent", has_text="我来帮您")
        ).to_be_visible()
    finally:
        agent.context.close()
