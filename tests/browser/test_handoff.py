"""Handoff end to end in a real browser: a customer in the widget, an agent in the console.

Playwright drives Debian's Chromium (headless) with two browser contexts against the
running stack (Rasa with its HTTP API, action server, desk).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, Route, expect

from bot.handoff.policy import HandoffConfig
from bot.handoff.store import QUEUE, conv_key
from tests.conftest import open_widget, type_in_widget
from tests.support.handoff import PASSWORD, HandoffStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


@pytest.fixture
def agent(browser: Browser, handoff_stack: HandoffStack) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(handoff_stack.desk_url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.fill("#username", handoff_stack.agent)
    page.fill("#password", handoff_stack.password)
    page.click("button[type=submit]")
    # The queue page; its websocket makes the agent "online".
    expect(page.locator("#live")).to_have_attribute("data-state", "online")
    yield page
    context.close()


@pytest.fixture
def customer(browser: Browser, handoff_stack: HandoffStack) -> Iterator[Page]:
    page = open_widget(browser, handoff_stack.desk_url)
    yield page
    page.context.close()


def bot_only(page: Page):
    return page.locator(".kefu-msg--bot:not(.kefu-msg--agent)")


def test_customer_waits_agent_takes_over_and_hands_back(agent: Page, customer: Page) -> None:
    # The customer asks for a person in Chinese and is told their place and wait.
    type_in_widget(customer, "我要转人工")
    expect(bot_only(customer).last).to_contain_text(re.compile(r"第\s*\d+\s*位"))
    expect(bot_only(customer).last).to_contain_text("分钟")
    session = customer.locator("#kefu-chat").get_attribute("data-session-id")
    assert session

    # The agent sees the conversation arrive in the queue, live.
    row = agent.locator(f'#queue-body tr[data-conversation="{session}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("zh")

    # While waiting, the customer writes an XSS payload: the queue shows it as text.
    type_in_widget(customer, XSS)
    expect(row.locator("td.last")).to_have_text(XSS)

    # The agent claims it; the customer sees who joined.
    row.locator("button.claim").click()
    expect(agent).to_have_url(re.compile(r"/console/conversations/"))
    expect(agent.locator("#conv-state")).to_have_text("agent")
    expect(customer.locator(".kefu-msg--system", has_text="测试客服")).to_be_visible()

    # The whole transcript is there, the bot's turns included, and the payload is inert.
    transcript = agent.locator("#transcript")
    expect(transcript.locator(".line--user", has_text="我要转人工")).to_be_visible()
    expect(transcript.locator(".line--bot").first).to_be_visible()
    expect(transcript.locator(".line--user .text", has_text="<script>")).to_have_text(XSS)
    assert transcript.locator("img, script").count() == 0
    assert agent.evaluate("window.__pwned") is None

    # The agent replies; the customer gets it live, with the agent's name.
    bot_turns = bot_only(customer).count()
    agent.fill("#reply-text", "您好，我是人工客服，请问有什么可以帮您？")
    agent.click("#reply-form button[type=submit]")
    reply = customer.locator(".kefu-msg--agent").last
    expect(reply).to_contain_text("我是人工客服")
    expect(reply.locator(".kefu-msg__agent")).to_have_text("测试客服")

    # The customer answers; the agent sees it live; the bot stays silent meanwhile.
    type_in_widget(customer, "我家从昨晚开始停电了")
    expect(transcript.locator(".line--user", has_text="我家从昨晚开始停电了")).to_be_visible()
    expect(transcript.locator(".line--agent", has_text="我是人工客服")).to_be_visible()
    assert bot_only(customer).count() == bot_turns

    # Hand back: the customer sees the agent leave and the assistant return...
    agent.click("#handback")
    expect(agent.locator("#conv-state")).to_have_text("bot")
    expect(customer.locator(".kefu-msg--system", has_text="离开")).to_be_visible()
    expect(bot_only(customer).last).to_contain_text("智能助手")

    # ...and the bot answers the next question.
    answered = bot_only(customer).count()
    type_in_widget(customer, "怎么交电费")
    expect(bot_only(customer)).to_have_count(answered + 1)
    expect(bot_only(customer).last).to_contain_text("微信")
    assert customer.evaluate("window.__pwned") is None


def test_a_lost_reply_response_is_retried_with_the_same_key(agent: Page, customer: Page) -> None:
    """console.js keeps one idempotency key per composed message: the retry after a lost
    response is recognised by the desk, and the customer gets the message once."""
    type_in_widget(customer, "我要转人工")
    expect(bot_only(customer).last).to_contain_text(re.compile(r"第\s*\d+\s*位"))
    session = customer.locator("#kefu-chat").get_attribute("data-session-id")
    row = agent.locator(f'#queue-body tr[data-conversation="{session}"]')
    row.locator("button.claim").click()
    expect(agent.locator("#conv-state")).to_have_text("agent")

    sent: list[dict] = []

    def lose_first_response(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the desk gets it and sends it to the customer...
            route.abort("connectionreset")  # ...but the answer never reaches the page
        else:
            route.continue_()

    agent.route("**/reply", lose_first_response)
    agent.fill("#reply-text", "只发一次的回复")
    agent.click("#reply-form button[type=submit]")
    expect(agent.locator("#reply-text")).to_have_value("")  # the retry succeeded
    assert len(sent) == 2 and sent[0]["key"] == sent[1]["key"]
    expect(customer.locator(".kefu-msg--agent", has_text="只发一次的回复")).to_have_count(1)
    agent.wait_for_timeout(1500)  # nothing else arrives later
    expect(customer.locator(".kefu-msg--agent", has_text="只发一次的回复")).to_have_count(1)
    transcript = agent.locator("#transcript .line--agent", has_text="只发一次的回复")
    expect(transcript).to_have_count(1)
    agent.click("#close")


def test_a_disabled_agent_is_sent_to_the_login_page(
    browser: Browser, handoff_stack: HandoffStack
) -> None:
    env = {**os.environ, "REDIS_URL": handoff_stack.redis_url, "KEFU_DESK_PASSWORD": PASSWORD}
    cli = [sys.executable, "-m", "bot.desk.users"]
    subprocess.run(
        [*cli, "create", "--name", "e2e.leaver", "--role", "agent", "--update"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(handoff_stack.desk_url + "/console/login")
    page.fill("#username", "e2e.leaver")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "online")
    subprocess.run([*cli, "disable", "--name", "e2e.leaver"], env=env, check=True, timeout=60)
    # The websocket re-checks its session and closes; the page goes to the login form.
    expect(page).to_have_url(re.compile(r"/console/login"), timeout=20_000)
    context.close()


def test_nobody_claims_the_customer_in_time_and_accepts_a_callback(
    agent: Page, customer: Page, handoff_stack: HandoffStack
) -> None:
    """The queue timeout ends the wait; the bot's callback rules take the customer's yes."""
    type_in_widget(customer, "我要转人工")
    expect(bot_only(customer).last).to_contain_text(re.compile(r"第\s*\d+\s*位"))
    session = customer.locator("#kefu-chat").get_attribute("data-session-id")
    # The customer has waited past queue_timeout_s (moved back in time in Redis).
    db = redis.Redis.from_url(handoff_stack.redis_url, decode_responses=True)
    past_ms = (HandoffConfig.load().queue.queue_timeout_s + 60) * 1000
    db.zincrby(QUEUE, -past_ms, session)
    db.hincrby(conv_key(session), "enqueued_at", -int(past_ms))
    db.close()
    # A desk process expires it (within its retry interval) and the bot comes back.
    expired = bot_only(customer).filter(has_text="15 分钟")
    expect(expired).to_be_visible(timeout=30_000)
    expect(agent.locator(f'#queue-body tr[data-conversation="{session}"]')).to_have_count(0)
    customer.locator(".kefu-buttons button", has_text="好的，请回电").last.click()
    expect(bot_only(customer).last).to_contain_text("回电的手机号码")
