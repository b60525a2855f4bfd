"""The running stack over the real socket.io channel, with a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.webchat import MAX_MESSAGE_CHARS
from bot.language import detect_language
from tests.conftest import Stack
from tests.support.webchat import Customer, stored_events

pytestmark = pytest.mark.stack


def is_chinese(text: str) -> bool:
    return detect_language(text) == "zh"


def is_english(text: str) -> bool:
    # English answers may still name the WeChat account 客服电力.
    return detect_language(text) == "en"


async def test_chinese_greeting_gets_chinese_reply(customer: Customer) -> None:
    reply = await customer.ask("你好")
    assert is_chinese(reply)
    assert "客服电力" in reply


async def test_english_faq_gets_english_answer(customer: Customer) -> None:
    reply = await customer.ask("When are your service halls open?")
    assert is_english(reply)
    assert "8:30" in reply or "08:30" in reply


async def test_language_follows_the_customer_within_a_conversation(customer: Customer) -> None:
    assert is_english(await customer.ask("hello"))
    assert is_chinese(await customer.ask("阶梯电价怎么算"))
    assert is_english(await customer.ask("how can I pay my bill"))


async def test_mixed_input_is_understood(customer: Customer) -> None:
    reply = await customer.ask("我的bill怎么交啊 用app可以吗")
    assert is_chinese(reply)
    assert "微信" in reply  # the payment-channels answer


async def test_a_bill_on_the_web_needs_the_holders_phone_confirmed(customer: Customer) -> None:
    reply = await customer.ask("这个月电费是多少")
    assert "手机号" in reply
    # A payment question while the bot waits for the number is answered, then it asks again.
    await customer.say("怎么交电费")
    assert "微信" in (await customer.reply())["text"]
    assert "手机号" in (await customer.reply())["text"]
    # The holder's number typed on the web is a claim: a code, not the bill, comes next.
    reply = await customer.ask("13800000001")
    assert "验证码" in reply and "元" not in reply


async def test_conversation_is_stored_in_redis(customer: Customer, stack: Stack) -> None:
    await customer.ask("你好")
    events = await stored_events(stack, customer.session_id, 1)
    assert [e["text"] for e in events if e["event"] == "user"] == ["你好"]
    assert {"event": "slot", "name": "language", "value": "zh"}.items() <= next(
        e for e in events if e["event"] == "slot" and e["name"] == "language"
    ).items()


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "😀😀😀",
        "\x00\x07\x1b[2J",
        "停电" * (MAX_MESSAGE_CHARS // 2),
        "a" * MAX_MESSAGE_CHARS,
    ],
    ids=["empty", "spaces", "emoji", "control", "10k-zh", "10k-en"],
)
async def test_bad_input_gets_a_polite_reply(customer: Customer, message: str) -> None:
    await customer.say(message)
    reply = await customer.reply(timeout=60)
    assert reply["text"].strip()


@pytest.mark.parametrize(
    "payload",
    ["not an object", {"message": 42}, {"message": "x" * (MAX_MESSAGE_CHARS + 1)}],
    ids=["string", "number", "too-long"],
)
async def test_malformed_events_get_a_clear_error(customer: Customer, payload: object) -> None:
    await customer.client.emit("user_uttered", payload)
    error = await asyncio.wait_for(customer.errors.get(), 10)
    assert error["error"]
    # ...and the channel keeps working afterwards.
    assert await customer.ask("hello")


async def test_session_survives_a_reconnect(stack: Stack) -> None:
    first = Customer(stack.rasa_url)
    await first.connect()
    assert not first.resumed
    await first.ask("hello")
    await first.client.disconnect()

    again = Customer(stack.rasa_url, token=first.token)
    await again.connect()
    assert again.resumed and again.session_id == first.session_id
    reply = await again.ask("5")  # a bare score carries no language
    await again.client.disconnect()
    assert is_english(reply)  # language slot came back from the stored tracker
    events = await stored_events(stack, first.session_id, 2)
    assert [e["text"] for e in events if e["event"] == "user"] == [
        "hello",
        "5",
    ]
