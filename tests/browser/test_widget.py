"""The website widget in a real browser: Playwright driving Debian's Chromium."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.language import detect_language
from tests.conftest import Stack, open_widget, type_in_widget

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    p = open_widget(browser, stack.desk_url)
    yield p
    p.context.close()


def bot_messages(page: Page):
    return page.locator(".kefu-msg--bot")


def test_chinese_greeting_english_faq_and_reload(page: Page) -> None:
    type_in_widget(page, "你好")
    first = bot_messages(page).nth(0)
    expect(first).to_contain_text("客服电力")
    expect(page.locator(".kefu-buttons button").first).to_be_visible()

    type_in_widget(page, "When are your service halls open?")
    answer = bot_messages(page).nth(1)
    expect(answer).to_contain_text("open")
    assert detect_language(answer.inner_text()) == "en"

    session = page.locator("#kefu-chat").get_attribute("data-session-id")
    assert re.fullmatch(r"web:[0-9a-f]{32}", session)  # named by the server
    stored = page.evaluate("Object.keys(localStorage)")
    assert "kefu.token" in stored and "kefu.session_id" not in stored
    page.reload()
    expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
    assert page.locator("#kefu-chat").get_attribute("data-session-id") == session
    expect(page.locator(".kefu-msg--user")).to_have_count(2)
    expect(bot_messages(page)).to_have_count(2)

    # The server-side conversation continues too: a bare score keeps English.
    type_in_widget(page, "5")
    expect(bot_messages(page)).to_have_count(3)
    assert detect_language(bot_messages(page).nth(2).inner_text()) == "en"


def test_buttons_send_their_payload(page: Page) -> None:
    type_in_widget(page, "你好")
    page.locator(".kefu-buttons button", has_text="怎么交电费").click()
    expect(bot_messages(page).nth(1)).to_contain_text("微信")


def test_customer_text_is_rendered_as_text(page: Page) -> None:
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
    type_in_widget(page, payload)
    expect(page.locator(".kefu-msg--user").first).to_have_text(payload)
    expect(bot_messages(page)).to_have_count(1)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#kefu-log img, #kefu-log script").count() == 0


def test_a_tampered_token_starts_a_new_conversation(page: Page) -> None:
    type_in_widget(page, "你好")
    expect(bot_messages(page)).to_have_count(1)
    chat = page.locator("#kefu-chat")
    session = chat.get_attribute("data-session-id")
    # Someone edits the stored token (say, to reach another conversation).
    page.evaluate(
        """() => {
          const token = JSON.parse(localStorage.getItem("kefu.token"));
          localStorage.setItem("kefu.token", JSON.stringify(token.slice(0, -4) + "AAAA"));
        }"""
    )
    page.reload()
    expect(chat).to_have_attribute("data-state", "online")
    expect(chat).not_to_have_attribute("data-session-id", session)
    assert re.fullmatch(r"web:[0-9a-f]{32}", chat.get_attribute("data-session-id"))
    # The old lines belong to a conversation this browser no longer reaches; the new
    # conversation opens with the widget's greeting, once.
    expect(page.locator(".kefu-msg:not(.kefu-msg--greeting)")).to_have_count(0)
    expect(page.locator(".kefu-msg--greeting")).to_have_count(1)
    type_in_widget(page, "hello")
    expect(bot_messages(page)).to_have_count(1)


def test_the_local_transcript_expires_after_a_day_idle(page: Page) -> None:
    type_in_widget(page, "我家停电了，地址是朝阳区建国路66号")
    expect(bot_messages(page)).to_have_count(1)
    chat = page.locator("#kefu-chat")
    session = chat.get_attribute("data-session-id")
    stored = json.loads(page.evaluate('localStorage.getItem("kefu.transcript")'))
    assert stored["entries"] and abs(stored["at"] / 1000 - time.time()) < 60
    # 25 hours without activity: the lines are gone, the conversation (token) is not.
    stored["at"] -= 25 * 3600 * 1000
    page.evaluate('value => localStorage.setItem("kefu.transcript", value)', json.dumps(stored))
    page.reload()
    expect(chat).to_have_attribute("data-state", "online")
    expect(page.locator(".kefu-msg")).to_have_count(0)
    assert page.evaluate('localStorage.getItem("kefu.transcript")') is None
    assert chat.get_attribute("data-session-id") == session
