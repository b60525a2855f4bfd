"""A Chinese SMS conversation end to end: signed webhooks in, replies out of the outbox.

Rasa runs our SMS channel; the desk's outbox sender delivers to the local sink
(no Twilio account in tests). From an FAQ to a complaint ticket filed by SMS.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot import db
from bot.sms.menu import load_menu
from bot.tickets.service import TicketService
from tests.conftest import Stack
from tests.support.sms import Texter

pytestmark = pytest.mark.stack

PHONE = "+8613612345678"
TICKET = re.compile(r"TK\d{8}-\d{4,}")


@pytest.fixture
async def texter(stack: Stack) -> AsyncIterator[Texter]:
    redis = db.connect(stack.redis.url)
    async with aiohttp.ClientSession() as session:
        yield Texter(stack.desk_url, session, redis, PHONE)
    await redis.close()


async def test_chinese_sms_from_faq_to_complaint_ticket(texter: Texter, stack: Stack) -> None:
    # A new number: the answer, then the one-segment menu of numbered choices.
    # Two SMS, sent by parallel sender workers: like the carrier, no order is promised.
    sent = await texter.text("营业厅几点开门", expect=2)
    menu = load_menu().texts["zh"]
    assert menu in sent
    [hours] = [body for body in sent if body != menu]
    assert "08:30" in hours and "kefu-power.example.com" in hours  # the short SMS answer

    [category] = await texter.text("我要投诉，抄表员上门态度很差还骂人")
    assert "哪一类" in category and "1" in category  # buttons become a numbered list
    [location] = await texter.text("服务态度")
    assert "地址或户号" in location  # the description came with the first text
    [summary] = await texter.text("朝阳区建国路66号")
    assert PHONE in summary  # the sender's phone, never asked by SMS
    created = " ".join(await texter.text("是"))
    number = TICKET.search(created).group()

    redis = db.connect(stack.redis.url)
    try:
        ticket = await TicketService.build(redis).store.get(number)
    finally:
        await redis.close()
    assert ticket.phone == PHONE and ticket.channel == "sms" and ticket.language == "zh"
    assert ticket.category == "staff_conduct"

    [status] = await texter.text(f"查工单 {number}")
    assert number in status
