"""Understanding on the running stack, over the real socket.io channel: complaints phrased as
a stance, a complaint about an outage, off-topic questions, complaint cues on an FAQ,
Chinese typed partly in pinyin, and Rasa's two-stage fallback in both languages (did you
mean, a click, none of these, a person). The scores on sentences nobody here wrote are
`scripts/nlu_report.py --gate`'s."""

from __future__ import annotations

import pytest

from actions.fallback import suggestions
from tests.conftest import Stack
from tests.support.webchat import Customer, stored_events

pytestmark = pytest.mark.stack


def choices(message: dict) -> list[dict]:
    # Rasa's socket.io output sends buttons as `quick_replies`.
    return list(message.get("quick_replies") or message.get("buttons") or [])


def payloads(message: dict) -> list[str]:
    return [b["payload"] for b in choices(message)]


async def test_a_complaint_about_an_outage_gets_the_outage_answer_then_the_form(
    customer: Customer, stack: Stack
) -> None:
    await customer.say("家里停电三天了，打电话一直没人接，太过分了")
    apology = (await customer.reply())["text"]
    assert "抢修" in apology and "投诉" in apology
    question = (await customer.reply())["text"]
    assert "400-800-9559" not in question  # not the hotline they said nobody answers
    events = await stored_events(stack, customer.session_id, 1)
    loops = [e.get("name") for e in events if e["event"] == "active_loop"]
    assert "complaint_form" in loops


@pytest.mark.parametrize(
    "text",
    ["你们这什么破服务，上门的师傅把我家弄得一团糟还甩脸色", "your staff are useless and rude"],
)
async def test_a_complaint_without_the_word_complaint_opens_the_complaint_form(
    customer: Customer, stack: Stack, text: str
) -> None:
    await customer.say(text)
    await customer.reply()
    events = await stored_events(stack, customer.session_id, 1)
    assert "complaint_form" in [e.get("name") for e in events if e["event"] == "active_loop"]


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("how do I freshen the smell in my car", "Talk to a person"),
        ("我家的猫不爱吃猫粮怎么办", "转人工客服"),
    ],
)
async def test_an_off_topic_question_gets_what_we_do_and_a_person_never_an_faq(
    customer: Customer, stack: Stack, text: str, person: str
) -> None:
    await customer.say(text)
    reply = await customer.reply()
    assert "/human_handoff" in payloads(reply)
    assert person in [b["title"] for b in choices(reply)]
    events = await stored_events(stack, customer.session_id, 1)
    assert "utter_faq" not in [e.get("name") for e in events if e["event"] == "action"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [("家里tingdian了", "report_outage"), ("dianfei怎么交", "pay_bill")],
)
async def test_chinese_typed_partly_in_pinyin_is_understood(
    customer: Customer, stack: Stack, text: str, intent: str
) -> None:
    # With the input method off for a word: the character model spells Chinese in pinyin.
    await customer.say(text)
    await customer.reply()
    events = await stored_events(stack, customer.session_id, 1)
    user_turns = [e for e in events if e["event"] == "user"]
    assert user_turns[-1]["parse_data"]["intent"]["name"] == intent


@pytest.mark.parametrize(
    ("unclear", "language"),
    [("电费停电", "zh"), ("help with electric thing", "en")],
)
async def test_two_stage_fallback_offers_two_meanings_and_a_click_answers(
    customer: Customer, stack: Stack, unclear: str, language: str
) -> None:
    await customer.say(unclear)
    ask = await customer.reply()
    assert ask["text"] == suggestions().prompt[language]
    choices = payloads(ask)
    assert len(choices) == 3 and choices[-1] == "/out_of_scope"
    await customer.say(choices[0])
    answer = await customer.reply()
    assert answer["text"] != suggestions().prompt[language]
    events = await stored_events(stack, customer.session_id, 2)
    # The loop ended and the chosen meaning is what the conversation goes on with.
    user_turns = [e for e in events if e["event"] == "user"]
    assert user_turns[-1]["parse_data"]["intent"]["name"] == choices[0].lstrip("/")


async def test_an_faq_asked_with_complaint_cues_is_answered_then_a_complaint_is_offered(
    customer: Customer,
) -> None:
    # (An angry question about the meter, "your meter is a scam, how do I get it tested",
    # is now read as a complaint outright, which also serves the customer.)
    await customer.say("I am fed up, how do I get an e-invoice")
    answer = await customer.reply()
    offer = await customer.reply()
    assert "/complain" not in payloads(answer)
    assert payloads(offer) == ["/complain"]
    assert "complaint" in offer["text"]


async def test_none_of_these_asks_to_rephrase_and_the_rephrased_message_is_answered(
    customer: Customer, stack: Stack
) -> None:
    await customer.say("电费停电")
    await customer.reply()
    await customer.say("/out_of_scope")
    rephrase = (await customer.reply())["text"]
    assert "换个说法" in rephrase
    await customer.say("电费怎么交")
    answer = (await customer.reply())["text"]
    assert "微信" in answer  # the payment-channels answer
    events = await stored_events(stack, customer.session_id, 3)
    loops = [e.get("name") for e in events if e["event"] == "active_loop"]
    assert loops[-1] is None  # the fallback loop is over


async def test_a_second_unclear_message_in_a_row_hands_over_to_a_person(
    customer: Customer, stack: Stack
) -> None:
    await customer.say("电费停电")
    await customer.reply()
    await customer.say("电费停电")
    await customer.reply()  # the handoff's answer: a queue place or a callback offer
    events = await stored_events(stack, customer.session_id, 2)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots.get("handoff_reason") == "fallback"
    assert "action_handoff" in [e.get("name") for e in events if e["event"] == "action"]
