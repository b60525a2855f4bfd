"""Complaint intake and ticket lookup through the web channel, end to end."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot import db
from bot.tickets.service import TicketService
from tests.conftest import RASA_TOKEN, Stack
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack

TICKET = re.compile(r"TK\d{8}-\d{4,}")


class Caller(Customer):
    async def turn(self, text: str) -> list[str]:
        """Sends one message and collects every reply of the bot's turn."""
        await self.say(text)
        replies = [(await self.reply())["text"]]
        while True:
            try:
                replies.append((await self.reply(timeout=1.5))["text"])
            except asyncio.TimeoutError:  # Python 3.10: not the builtin TimeoutError
                return replies


@pytest.fixture
async def caller(stack: Stack) -> AsyncIterator[Caller]:
    c = Caller(stack.rasa_url)
    await c.connect()
    yield c
    await c.client.disconnect()


@pytest.fixture
async def tickets(stack: Stack) -> AsyncIterator[TicketService]:
    client = db.connect(stack.redis.url)
    yield TicketService.build(client)
    await client.close()


async def test_chinese_complaint_becomes_a_ticket_with_an_owner(
    caller: Caller, tickets: TicketService
) -> None:
    assert "哪一类" in (await caller.turn("我要投诉"))[-1]
    assert "描述" in (await caller.turn("服务态度"))[-1]
    assert "地址或户号" in (await caller.turn("抄表员上门态度很差，还骂人"))[-1]
    assert "联系电话" in (await caller.turn("朝阳区建国路66号"))[-1]
    summary = (await caller.turn("138 0013 8000"))[-1]
    assert "服务态度" in summary and "+8613800138000" in summary and "确认提交" in summary
    created = " ".join(await caller.turn("是"))
    number = TICKET.search(created).group()
    assert "负责人" in created and "小时内" in created

    ticket = await tickets.store.get(number)
    assert ticket.category == "staff_conduct" and ticket.phone == "+8613800138000"
    assert ticket.owner and tickets.owner_name(ticket, "zh") in created
    assert ticket.language == "zh" and ticket.channel == "web"
    # A typed phone: filed, but not listed to that phone until it is proven by a code.
    assert ticket.phone_verified is False and ticket.conversation_id.startswith("web:")

    # The same visitor looks it up: the status, and the offer to prove the phone.
    status = " ".join(await caller.turn(f"帮我查一下工单 {number} 的进度"))
    assert number in status and "验证码" in status


async def test_english_complaint_with_details_up_front_and_a_correction(
    caller: Caller, tickets: TicketService
) -> None:
    first = await caller.turn("I want to complain, the repair crew never showed up for two days")
    assert "What is it about" in first[-1]
    assert "address" in (await caller.turn("Repair delay"))[-1]  # description prefilled
    assert "phone" in (await caller.turn("Haidian, 18 Zhongguancun South St"))[-1]
    await caller.turn("+1 415 555 2671")
    assert "Which item" in (await caller.turn("no"))[-1]
    assert "phone" in (await caller.turn("phone"))[-1]
    summary = (await caller.turn("13800138000"))[-1]
    assert "+8613800138000" in summary
    created = " ".join(await caller.turn("yes"))
    ticket = await tickets.store.get(TICKET.search(created).group())
    assert ticket.phone == "+8613800138000" and ticket.language == "en"
    assert ticket.category == "repair_delay"


async def test_a_chinese_address_does_not_switch_an_english_complaint_to_chinese(
    caller: Caller, tickets: TicketService
) -> None:
    await caller.turn("I want to complain, the meter reader was rude and shouted at me")
    assert "address" in (await caller.turn("Staff conduct"))[-1]
    assert "phone number" in (await caller.turn("北京市朝阳区建国路66号院3号楼"))[-1]
    summary = (await caller.turn("138 0013 8000"))[-1]
    assert "Please check your complaint" in summary and "建国路66号" in summary
    created = " ".join(await caller.turn("yes"))
    ticket = await tickets.store.get(TICKET.search(created).group())
    assert ticket.language == "en" and ticket.location == "北京市朝阳区建国路66号院3号楼"


async def test_faq_in_the_middle_then_the_form_continues(caller: Caller) -> None:
    await caller.turn("我要投诉")
    await caller.turn("电费账单")
    await caller.turn("这个月电费多扣了两百块")
    replies = await caller.turn("你们营业厅周日开门吗")
    assert any("08:30" in r or "8:30" in r for r in replies)  # the FAQ answer
    assert "地址或户号" in replies[-1]  # and the form asks again


async def test_invalid_phone_twice_offers_a_human_then_cancel_files_nothing(
    caller: Caller, tickets: TicketService
) -> None:
    await caller.turn("我要投诉，施工队把路挖了一个月不管")
    await caller.turn("施工现场")
    await caller.turn("海淀区中关村南大街18号")
    assert "不正确" in " ".join(await caller.turn("12345"))
    second = " ".join(await caller.turn("1380013"))
    assert "400-800-9559" in second
    newest_before = (await tickets.store.list(limit=1)).items
    assert "已取消" in " ".join(await caller.turn("算了"))
    assert (await tickets.store.list(limit=1)).items == newest_before  # nothing was filed


async def test_ticket_is_only_disclosed_to_its_own_phone(
    caller: Caller, tickets: TicketService
) -> None:
    ticket = await tickets.create_complaint(
        category="billing",
        description="多收了电费",
        location="浦东",
        phone="+8613911112222",
        language="zh",
        channel="sms",
    )
    assert "手机号" in (await caller.turn(f"查一下 {ticket.number}"))[-1]
    answer = " ".join(await caller.turn("13800138000"))  # someone else's phone
    assert "没有找到" in answer and "多收" not in answer


async def test_no_category_button_is_read_as_a_request_for_a_person(
    stack: Stack, tickets: TicketService
) -> None:
    """The category buttons send their label as text; a label the model read as
    human_handoff would end the complaint form and queue the customer instead."""
    roster = tickets.roster
    labels = [roster.category_label(c, lang) for c in roster.categories for lang in ("zh", "en")]
    async with aiohttp.ClientSession() as http:
        for label in labels:
            async with http.post(
                f"{stack.rasa_url}/model/parse?token={RASA_TOKEN}", json={"text": label}
            ) as response:
                parse = await response.json()
            assert parse["intent"]["name"] != "human_handoff", label
