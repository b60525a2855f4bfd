"""Outages, bills and subscriptions end to end, on the running stack: signed SMS in,
replies and notices out of the local sink, outages published through the desk API.

The demo account data (content/accounts/) makes +8613800000001 an account holder in
Chaoyang with an unpaid current bill.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot import db
from bot.accounts import backend_for
from bot.settings import Settings
from bot.sms.menu import known_key
from bot.tickets.service import TicketService
from tests.conftest import DESK_TEST_TOKEN, Stack
from tests.support.sms import Texter, read_sink, wait_for_sink
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack

HOLDER = "+8613800000001"
NEWCOMER = "+8613700000123"  # no account
AUTH = {"Authorization": f"Bearer {DESK_TEST_TOKEN}"}
TICKET = re.compile(r"TK\d{8}-\d{4,}")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def texter(stack: Stack, session: aiohttp.ClientSession) -> AsyncIterator[Texter]:
    redis = db.connect(stack.redis.url)
    await redis.set(known_key(HOLDER), "1")  # past the first-contact menu
    await redis.set(known_key(NEWCOMER), "1")
    yield Texter(stack.desk_url, session, redis, HOLDER)
    await redis.close()


async def test_an_account_holder_gets_the_bill_and_why_it_is_high_by_sms(
    texter: Texter, stack: Stack
) -> None:
    settings = Settings.from_env({"REDIS_URL": stack.redis.url})
    [bill] = (await backend_for(settings).bills("1100000001"))[-1:]
    [statement] = await texter.text("这个月电费多少")
    assert f"{bill.amount:.2f}" in statement and "档" in statement
    assert bill.amount > Decimal(0)
    [why] = await texter.text("为什么电费这么高")
    assert "比上月" in why and "比去年同月" in why


async def test_a_number_without_account_is_told_so(texter: Texter, stack: Stack) -> None:
    texter.phone = NEWCOMER
    [reply] = await texter.text("查一下我的电费")
    assert "没有查到用电户" in reply


async def test_outage_notice_then_a_reply_in_context_then_restoration(
    texter: Texter, stack: Stack, session: aiohttp.ClientSession
) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=20)
    eta = start + timedelta(hours=3)
    before = len(await read_sink(texter.redis, HOLDER))
    published = await session.post(
        f"{stack.desk_url}/api/outages",
        headers=AUTH,
        json={
            "areas": ["chaoyang"],
            "kind": "fault",
            "starts_at": start.isoformat(),
            "eta": eta.isoformat(),
            "cause": "10千伏线路故障",
            "text": {"zh": "朝阳区部分停电，正在抢修。", "en": "Part of Chaoyang is dark."},
            "actor": "integration-test",
        },
    )
    assert published.status == 201, await published.text()
    outage = await published.json()
    # The fault notice reaches the account holder at once (not held for quiet hours).
    notices = await wait_for_sink(texter.redis, HOLDER, count=before + 1, timeout=60)
    assert "朝阳" in notices[-1]["body"]

    # "When is power back?" is about that outage.
    [answer] = await texter.text("什么时候来电")
    local_eta = eta.astimezone(ZoneInfo("Asia/Shanghai"))
    assert local_eta.strftime("%H:%M") in answer, [
        (m["body"], m.get("kind")) for m in await read_sink(texter.redis, HOLDER)
    ]

    # A report from the same area names the outage, files nothing.
    [report] = await texter.text("我家停电了")
    assert local_eta.strftime("%H:%M") in report
    redis = db.connect(stack.redis.url)
    try:
        tickets = await TicketService.build(redis).open_tickets_for_phone(HOLDER)
    finally:
        await redis.close()
    assert not [t for t in tickets if t.category == "outage"]

    progress = await session.get(
        f"{stack.desk_url}/api/outages/{outage['id']}/notices", headers=AUTH
    )
    assert (await progress.json())["progress"]["recipients"] >= 1

    count = len(await read_sink(texter.redis, HOLDER))
    restored = await session.patch(
        f"{stack.desk_url}/api/outages/{outage['id']}",
        headers=AUTH,
        json={"status": "restored", "actor": "integration-test"},
    )
    assert restored.status == 200, await restored.text()
    after = await wait_for_sink(texter.redis, HOLDER, count=count + 1, timeout=60)
    assert "恢复" in after[-1]["body"]


async def test_a_web_outage_question_names_the_area(customer: Customer) -> None:
    await customer.say("通州区这几天有计划停电吗")
    reply = await customer.reply()
    assert "通州区" in reply["text"]


async def test_subscribe_by_sms_then_a_fault_with_no_known_outage(texter: Texter) -> None:
    texter.phone = NEWCOMER
    [ask] = await texter.text("订阅停电通知")
    assert "哪个区" in ask
    [done] = await texter.text("西城区")
    assert "停电通知" in done and "西城区" in done
    # One SMS per turn: the fault ticket and the updates promise.
    [reply] = await texter.text("西城区我家没电了，楼下电线掉下来了")
    assert TICKET.search(reply) is not None and "西城区" in reply
