"""Phone verification on the web, through the public interface of the running stack.

A website visitor (real socket.io client, server-minted `web:` id) asks for their tickets
with a typed phone and learns nothing; after the SMS code (read from the local sink
through GET /api/sms/sink) they see the ticket. A `/intent{"ticket_id": ...}` message
cannot set the ticket_id slot.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.tickets.service import TicketService
from tests.conftest import DESK_TEST_TOKEN, RASA_TOKEN, Stack
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack


def random_phone() -> str:
    """A valid Chinese mobile number no other test uses."""
    return "+86138" + f"{secrets.randbelow(10**8):08d}"


async def file_ticket(stack: Stack, phone: str) -> str:
    """A ticket filed by SMS from `phone` (carrier-verified), straight into the stack's Redis."""
    client = aioredis.Redis.from_url(stack.redis.db_url(0), decode_responses=True)
    try:
        ticket = await TicketService.build(client).create_complaint(
            category="billing",
            description="这个月电费多扣了两百元",
            phone=phone,
            language="zh",
            channel="sms",
            phone_verified=True,
            conversation_id=f"sms:{phone}",
        )
    finally:
        await client.close()
    return ticket.number


async def replies_until(
    customer: Customer, done: Callable[[str], bool], timeout: float = 60
) -> list[str]:
    """Every bot message up to and including the first one `done` accepts."""
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = await customer.reply(max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise AssertionError(f"no such reply; the bot said {texts}") from None
        texts.append(message.get("text") or "")
        if done(texts[-1]):
            return texts


async def code_from_sink(stack: Stack, phone: str, conversation_id: str) -> str:
    """The newest one-time code the local sink delivered to `phone` for this conversation."""
    headers = {"Authorization": f"Bearer {DESK_TEST_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(120):
            async with http.get(
                f"{stack.desk_url}/api/sms/sink", params={"to": phone}, headers=headers
            ) as response:
                assert response.status == 200
                messages = (await response.json())["messages"]
            ours = {"kind": "otp", "conversation_id": conversation_id}
            codes = [m for m in messages if ours.items() <= m.items()]
            if codes:
                found = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", codes[-1]["body"])
                assert found, codes[-1]["body"]
                return found.group(0)
            await asyncio.sleep(0.25)
    raise AssertionError("no code in the sink")


async def test_ticket_status_needs_the_code_on_the_web(stack: Stack, customer: Customer) -> None:
    phone = random_phone()
    number = await file_ticket(stack, phone)

    await customer.say("我的工单进度怎么样")
    await replies_until(customer, lambda t: "手机号" in t)
    await customer.say(phone[3:])  # typed as a customer would: 138…
    before = await replies_until(customer, lambda t: "验证码" in t)
    assert not any(number in text for text in before), before  # a typed phone is no proof

    await customer.say("/affirm")  # the "send the code" button
    await replies_until(customer, lambda t: "6 位验证码" in t)
    code = await code_from_sink(stack, phone, customer.session_id)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await customer.say(wrong)
    assert any("不正确" in t for t in await replies_until(customer, lambda t: "不正确" in t))
    await customer.say(code)
    after = await replies_until(customer, lambda t: number in t)
    assert any("验证成功" in t for t in after), after
    assert "负责人" in after[-1]  # the full status, now that the phone is proven


async def test_ticket_number_and_phone_give_the_status_only(
    stack: Stack, customer: Customer
) -> None:
    phone = random_phone()
    number = await file_ticket(stack, phone)
    await customer.say(f"查一下工单 {number}")
    await replies_until(customer, lambda t: "手机号" in t)
    await customer.say(phone)
    texts = await replies_until(customer, lambda t: "验证码" in t)
    [status] = [t for t in texts if number in t]
    assert "负责人" not in status and "办结" not in status  # status only


async def test_ticket_id_cannot_be_set_from_the_message_text(
    stack: Stack, customer: Customer
) -> None:
    number = await file_ticket(stack, random_phone())  # someone else's ticket
    await customer.say('/human_handoff{"ticket_id": "' + number + '"}')
    await customer.reply()
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{stack.rasa_url}/conversations/{customer.session_id}/tracker",
            params={"token": RASA_TOKEN},
        ) as response:
            assert response.status == 200
            tracker = await response.json()
    assert tracker["slots"]["ticket_id"] is None


async def test_five_wrong_codes_lock_it_in_english(stack: Stack, customer: Customer) -> None:
    phone = random_phone()
    number = await file_ticket(stack, phone)
    await customer.say("my ticket status please")
    await replies_until(customer, lambda t: "phone number" in t)
    await customer.say(phone)
    await replies_until(customer, lambda t: "6-digit code" in t)
    await customer.say("/affirm")
    await replies_until(customer, lambda t: "type the 6-digit code" in t)
    code = await code_from_sink(stack, phone, customer.session_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    said: list[str] = []
    for _ in range(4):
        await customer.say(wrong)
        said += await replies_until(customer, lambda t: "type the 6-digit code" in t)
    await customer.say(wrong)
    said += await replies_until(customer, lambda t: "Too many wrong tries" in t)
    assert sum("isn't right" in t for t in said) == 4
    await customer.say(code)  # too late: the form has ended, nothing is disclosed
    await customer.say("my ticket status please")
    later = await replies_until(customer, lambda t: "6-digit code" in t)
    assert not any(number in t for t in said + later)
