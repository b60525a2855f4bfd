"""Inbound SMS: the desk's signed webhook (fast acknowledgement, idempotency, bad input) and
Rasa's SMS channel (keywords, turns, the first-contact menu, crash recovery), against real
aiohttp and Sanic servers and a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.sms import inbox, optout, outbox, segments
from bot.sms.conversation import buttons_key, last_inbound_key, remember_buttons
from bot.sms.incoming import EMPTY_TWIML
from bot.sms.menu import load_menu
from bot.sms.sender import Sender
from bot.sms.settings import WEBHOOK_PATH
from tests.support.sms import (
    CUSTOMER,
    SmsServer,
    drain_outbox,
    eventually,
    inbound,
    post_signed,
    post_status,
    read_sink,
    sign,
)


async def replies(redis: aioredis.Redis) -> list[dict[str, str]]:
    return [m for m in await outbox.recent(redis, 100) if m["kind"] == "reply"]


async def wait_replies(redis: aioredis.Redis, count: int = 1) -> list[dict[str, str]]:
    async def probe() -> list[dict[str, str]]:
        got = await replies(redis)
        return got if len(got) >= count else []

    return await eventually(probe)


async def test_valid_message_is_acknowledged_before_the_bot_answers(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    sms_server.bot.gate.clear()  # the bot is busy: the acknowledgement must not wait for it
    params = inbound(
        "电费怎么交",
        sender="138 0013 8000",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/media/ME1",
        MediaContentType0="image/jpeg",
    )
    response = await post_signed(http, sms_server.url, params)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert (await response.text()) == EMPTY_TWIML
    assert sms_server.bot.messages == [] and await replies(redis) == []

    sms_server.bot.gate.set()
    [reply] = await wait_replies(redis)
    [message] = sms_server.bot.messages
    assert message.text == "电费怎么交"
    assert message.sender_id == f"sms:{CUSTOMER}"
    assert message.input_channel == "sms"
    assert message.message_id == params["MessageSid"]
    assert message.metadata == {
        "MessageSid": params["MessageSid"],
        "NumMedia": 1,
        "MediaUrl0": "https://api.twilio.com/media/ME1",
        "MediaContentType0": "image/jpeg",
        "phone": CUSTOMER,
        "channel": "sms",
    }
    assert reply["to"] == CUSTOMER and reply["body"] == "echo: 电费怎么交"
    assert reply["encoding"] == "UCS-2" and reply["segments"] == "1"
    assert reply["conversation_id"] == f"sms:{CUSTOMER}"
    assert await redis.zcard(inbox.PENDING) == 0  # the turn finished: nothing to recover


async def test_same_phone_continues_the_same_conversation(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    for sender in ("+86 138 0013 8000", "13800138000"):
        assert (await post_signed(http, sms_server.url, inbound("hi", sender=sender))).status == 200
    await wait_replies(redis, 2)
    assert {m.sender_id for m in sms_server.bot.messages} == {f"sms:{CUSTOMER}"}


async def test_tampered_body_is_refused_and_never_processed(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    params = inbound("查询电费")
    signature = sign(sms_server.url + WEBHOOK_PATH, params)
    tampered = {**params, "Body": "转账给我"}
    response = await post_signed(
        http, sms_server.url, tampered, headers={"X-Twilio-Signature": signature}
    )
    assert response.status == 403
    assert (await response.json())["field"] == "X-Twilio-Signature"
    # A blank field is signed too: adding or dropping one breaks the signature.
    extra_blank = {**params, "FromZip": "", "Extra": ""}
    response = await post_signed(
        http, sms_server.url, extra_blank, headers={"X-Twilio-Signature": signature}
    )
    assert response.status == 403
    await asyncio.sleep(0.2)
    assert sms_server.bot.messages == [] and await outbox.recent(redis) == []
    assert not await redis.exists(inbox.seen_key(params["MessageSid"]))


async def test_blank_fields_are_part_of_a_valid_signature(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    params = inbound("hello", FromZip="", FromCity="", ToZip="")
    assert (await post_signed(http, sms_server.url, params)).status == 200
    await wait_replies(redis)


async def test_wrong_token_is_refused(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    response = await post_signed(http, sms_server.url, inbound("hi"), token="not-the-token")
    assert response.status == 403
    await asyncio.sleep(0.2)
    assert sms_server.bot.messages == []


async def test_no_configured_token_refuses_everything(
    sms_server: SmsServer, http: aiohttp.ClientSession
) -> None:
    sms_server.configure(auth_token=None)
    response = await post_signed(http, sms_server.url, inbound("hi"))
    assert response.status == 403


async def test_signature_is_checked_against_the_public_url_behind_a_proxy(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    sms_server.configure(public_url="https://kefu.example.com")
    https_url = "https://kefu.example.com" + WEBHOOK_PATH
    http_url = "http://kefu.example.com" + WEBHOOK_PATH
    ok = await post_signed(http, sms_server.url, inbound("via proxy"), signed_url=https_url)
    assert ok.status == 200
    # Twilio called https; a signature over http (or over the internal URL) is not it.
    wrong_scheme = await post_signed(http, sms_server.url, inbound("x"), signed_url=http_url)
    internal = await post_signed(http, sms_server.url, inbound("y"))
    assert wrong_scheme.status == 403 and internal.status == 403
    # Twilio may or may not include the default port when it signs; both are accepted.
    with_port = await post_signed(
        http,
        sms_server.url,
        inbound("port"),
        signed_url="https://kefu.example.com:443" + WEBHOOK_PATH,
    )
    assert with_port.status == 200
    await wait_replies(redis, 2)
    assert sorted(m.text for m in sms_server.bot.messages) == ["port", "via proxy"]


async def test_missing_signature_header_is_refused(
    sms_server: SmsServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        sms_server.url + WEBHOOK_PATH,
        data=inbound("hi"),
    ) as response:
        assert response.status == 403
        assert (await response.json())["field"] == "X-Twilio-Signature"
    await asyncio.sleep(0.1)
    assert sms_server.bot.messages == []


async def test_replayed_message_sid_is_processed_once(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    params = inbound("停电了")
    statuses = await asyncio.gather(*(post_signed(http, sms_server.url, params) for _ in range(5)))
    assert [r.status for r in statuses] == [200] * 5
    await wait_replies(redis)
    await asyncio.sleep(0.3)
    assert len(sms_server.bot.messages) == 1
    assert len(await replies(redis)) == 1
    again = await post_signed(http, sms_server.url, params)  # later redelivery
    assert again.status == 200 and await again.text() == EMPTY_TWIML
    await asyncio.sleep(0.2)
    assert len(sms_server.bot.messages) == 1


async def test_rasa_serves_no_twilio_webhook(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """Both webhooks are the desk's: a busy or restarting Rasa never refuses Twilio."""
    response = await post_signed(http, sms_server.rasa_url, inbound("hi"))
    assert response.status == 404
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    response = await post_status(http, sms_server.rasa_url, message_id, "SM" + "ab" * 16, "sent")
    assert response.status == 404
    assert sms_server.bot.messages == []


async def test_messages_wait_in_the_inbox_while_no_rasa_consumes(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """The door stays open while the bot is down: acknowledged, kept, answered later, in
    order."""
    await sms_server.channel.close()  # Rasa's side stops consuming
    try:
        for body in ("第一条", "第二条", "第三条"):
            assert (await post_signed(http, sms_server.url, inbound(body))).status == 200
        assert await inbox.depth(redis) == (3, 0)
        await asyncio.sleep(0.3)
        assert sms_server.bot.messages == []
    finally:
        sms_server.channel.start(None, sms_server.bot)  # as after Rasa's restart
    await wait_replies(redis, 3)
    assert [m.text for m in sms_server.bot.messages] == ["第一条", "第二条", "第三条"]
    assert await inbox.depth(redis) == (0, 0)


async def test_stop_opts_out_and_then_no_non_reply_sms_is_sent(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis, settings
) -> None:
    response = await post_signed(http, sms_server.url, inbound("  stop "))
    assert response.status == 200
    [confirmation] = await wait_replies(redis)
    assert "START" in confirmation["body"] and "订阅" in confirmation["body"]
    assert await optout.is_opted_out(redis, CUSTOMER)
    assert sms_server.bot.messages == []  # keywords never reach the bot

    [notice] = await outbox.enqueue(redis, CUSTOMER, "明天停电通知", kind="notice")
    [survey] = await outbox.enqueue(redis, CUSTOMER, "请为本次服务打分", kind="survey", urgent=True)
    sender = Sender(redis, settings)
    await drain_outbox(sender)
    assert (await outbox.get(redis, notice))["status"] == "skipped"
    assert (await outbox.get(redis, survey))["status"] == "skipped"
    # The STOP confirmation itself is a reply to the customer's message: it goes out.
    assert (await outbox.get(redis, confirmation["id"]))["status"] == "delivered"
    assert [m["body"] for m in await read_sink(redis, CUSTOMER)] == [confirmation["body"]]


async def test_chinese_keywords_and_start_opt_back_in(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis, settings
) -> None:
    for body in ("退订", "ＴＤ", "TD。"):
        await post_signed(http, sms_server.url, inbound(body))
        await eventually(lambda: optout.is_opted_out(redis, CUSTOMER))
        await optout.opt_in(redis, CUSTOMER, source="test")
    await post_signed(http, sms_server.url, inbound("退订"))
    await eventually(lambda: optout.is_opted_out(redis, CUSTOMER))
    await post_signed(http, sms_server.url, inbound("START"))

    async def opted_in() -> bool:
        return not await optout.is_opted_out(redis, CUSTOMER)

    await eventually(opted_in)
    [notice] = await outbox.enqueue(redis, CUSTOMER, "停电通知", kind="notice")
    await drain_outbox(Sender(redis, settings))
    assert (await outbox.get(redis, notice))["status"] == "delivered"
    assert sms_server.bot.messages == []


async def test_help_gets_the_bilingual_help_text(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    await post_signed(http, sms_server.url, inbound("帮助"))
    await post_signed(http, sms_server.url, inbound("help"))
    first, second = await wait_replies(redis, 2)
    assert first["body"] == second["body"]
    assert "热线" in first["body"] and "STOP" in first["body"]
    assert not await optout.is_opted_out(redis, CUSTOMER)


async def test_twilio_advanced_opt_out_is_honoured_without_a_second_confirmation(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    # Twilio matched its own keyword (here a custom one) and already answered the customer.
    response = await post_signed(http, sms_server.url, inbound("不要再发了", OptOutType="STOP"))
    assert response.status == 200
    await eventually(lambda: optout.is_opted_out(redis, CUSTOMER))
    assert (await optout.record(redis, CUSTOMER))["source"] == "twilio"
    await asyncio.sleep(0.2)
    assert await replies(redis) == [] and sms_server.bot.messages == []


async def test_media_only_message_gets_a_polite_reply(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    params = inbound(
        "", NumMedia="1", MediaUrl0="https://api.twilio.com/m/ME1", MediaContentType0="image/png"
    )
    assert (await post_signed(http, sms_server.url, params)).status == 200
    [reply] = await wait_replies(redis)
    assert "图片" in reply["body"] and "picture" in reply["body"]
    assert sms_server.bot.messages == []


async def test_buttons_become_numbers_the_customer_can_answer(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    sms_server.bot.responses = [
        {
            "text": "请问您要办理什么业务？",
            "buttons": [
                {"title": "查电费", "payload": "/ask_bill"},
                {"title": "报停电", "payload": "/report_outage"},
            ],
        }
    ]
    await post_signed(http, sms_server.url, inbound("你好"))
    [reply] = await wait_replies(redis)
    assert reply["body"] == "请问您要办理什么业务？\n1. 查电费\n2. 报停电\n（回复数字选择）"
    assert json.loads(await redis.get(buttons_key(f"sms:{CUSTOMER}"))) == [
        "/ask_bill",
        "/report_outage",
    ]
    sms_server.bot.responses = [{"text": "好的"}]
    await post_signed(http, sms_server.url, inbound(" 2 "))
    await wait_replies(redis, 2)
    assert sms_server.bot.messages[-1].text == "/report_outage"
    assert not await redis.exists(buttons_key(f"sms:{CUSTOMER}"))  # choices answered


async def test_digits_that_are_not_ascii_are_text_not_choices(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """ "①".isdigit() is true and int("①") raises: the turn used to crash on every retry.
    Now "①", "٣" or "１" reach the bot as the text they are (it answers politely)."""
    conversation = f"sms:{CUSTOMER}"
    for count, answer in enumerate(("①", "٣", "１", "0", "99999999999999999999"), start=1):
        await remember_buttons(redis, conversation, ["/ask_bill", "/report_outage"])
        await post_signed(http, sms_server.url, inbound(answer))
        await wait_replies(redis, count)
        assert sms_server.bot.messages[-1].text == answer
    assert await redis.zcard(inbox.PENDING) == 0  # every turn finished, none crashed


async def test_long_bot_answer_is_split_and_counted(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    sentence = "阶梯电价按年用电量分三档计费，第一档每度0.5元。"
    sms_server.bot.responses = [{"text": sentence * 80}]  # 1,920 characters
    await post_signed(http, sms_server.url, inbound("阶梯电价"))
    parts = await wait_replies(redis, 2)
    assert all(len(p["body"]) <= 1600 for p in parts)
    assert "".join(p["body"] for p in sorted(parts, key=lambda p: p["part"])) == sentence * 80
    assert all(p["body"].endswith("。") for p in parts)
    assert {p["encoding"] for p in parts} == {"UCS-2"}


async def test_a_failed_turn_is_retried_then_apologised_for(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    sms_server.bot.fail = True
    sms_server.configure(reclaim_idle_s=0.0)
    params = inbound("你好")
    await post_signed(http, sms_server.url, params)
    await eventually(lambda: asyncio.sleep(0, len(sms_server.bot.messages) == 1))
    await sms_server.channel.turns.drain()
    assert await redis.zscore(inbox.PENDING, params["MessageSid"]) is not None  # kept
    for _ in range(2):
        assert await sms_server.channel.reclaimer.reclaim_once(sms_server.bot) == 1
        await sms_server.channel.turns.drain()
    [apology] = await wait_replies(redis)
    assert "400-800-9559" in apology["body"]
    assert len(sms_server.bot.messages) == 3
    assert await redis.zcard(inbox.PENDING) == 0


async def test_message_accepted_before_a_crash_is_processed_by_another_process(
    sms_server: SmsServer, redis: aioredis.Redis
) -> None:
    # A process acknowledged this SMS to Twilio, then died before the bot answered.
    payload = {
        "sid": "SM" + "77" * 16,
        "phone": CUSTOMER,
        "body": "还在吗",
        "num_media": 0,
        "media": [],
        "opt_out_type": "",
        "received_at": time.time() - 600,
    }
    # What the dead process left: the message claimed (PENDING), its turn never done.
    await redis.hset(
        inbox.data_key(payload["sid"]),
        mapping={"payload": json.dumps(payload, ensure_ascii=False), "attempts": "0"},
    )
    await redis.zadd(inbox.PENDING, {payload["sid"]: time.time() - 600})
    assert await sms_server.channel.reclaimer.reclaim_once(sms_server.bot) == 1
    await sms_server.channel.turns.drain()
    [reply] = await wait_replies(redis)
    assert reply["body"] == "echo: 还在吗"
    assert await sms_server.channel.reclaimer.reclaim_once(sms_server.bot) == 0


# ---- bad input: a clear 4xx naming the field, never a 500 -----------------------------


async def expect_error(response: aiohttp.ClientResponse, status: int, field: str) -> None:
    assert response.status == status
    body = await response.json()
    assert body["field"] == field and body["error"]


async def test_missing_from_or_body(sms_server: SmsServer, http: aiohttp.ClientSession) -> None:
    await expect_error(
        await post_signed(http, sms_server.url, inbound("hi", sender=None)), 400, "From"
    )
    await expect_error(await post_signed(http, sms_server.url, inbound(None)), 400, "Body")
    await expect_error(
        await post_signed(http, sms_server.url, inbound("hi", sender="not a phone")), 400, "From"
    )
    for sid in ("SM123", "SM" + "a" * 32 + "\n", "ＳＭ" + "a" * 32):
        await expect_error(
            await post_signed(http, sms_server.url, inbound("hi", MessageSid=sid)),
            400,
            "MessageSid",
        )
    for media in ("many", "①", "٣", "１", "11", "-1", " 1"):
        await expect_error(
            await post_signed(http, sms_server.url, inbound("hi", NumMedia=media)), 400, "NumMedia"
        )
    assert sms_server.bot.messages == []


async def test_ten_thousand_character_body(
    sms_server: SmsServer, http: aiohttp.ClientSession
) -> None:
    response = await post_signed(http, sms_server.url, inbound("电" * 10_000))
    await expect_error(response, 400, "Body")


async def test_invalid_utf8(sms_server: SmsServer, http: aiohttp.ClientSession) -> None:
    params = inbound("placeholder")
    raw = "&".join(f"{k}={v}" for k, v in params.items() if k != "Body").encode() + b"&Body=%FF%FE"
    response = await post_signed(http, sms_server.url, params, body=raw)
    await expect_error(response, 400, "Body")


async def test_not_a_form_and_oversized_bodies(
    sms_server: SmsServer, http: aiohttp.ClientSession
) -> None:
    params = inbound("hi")
    as_json = await post_signed(
        http,
        sms_server.url,
        params,
        body=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    await expect_error(as_json, 415, "Content-Type")
    huge = await post_signed(http, sms_server.url, params, body=b"Body=" + b"a" * 300_000)
    await expect_error(huge, 413, "body")


async def test_unknown_fields_are_signed_but_ignored(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    params = inbound("hi", FancyNewTwilioField="x", AddOns='{"status":"successful"}')
    assert (await post_signed(http, sms_server.url, params)).status == 200
    await wait_replies(redis)
    assert "FancyNewTwilioField" not in sms_server.bot.messages[0].metadata


async def test_output_channel_for_agent_replies_and_proactive_turns(
    sms_server: SmsServer, redis: aioredis.Redis
) -> None:
    # What Rasa uses for POST /conversations/{id}/tracker/events?output_channel=sms.
    output = sms_server.channel.get_output_channel()
    assert output.name() == "sms"
    conversation = f"sms:{CUSTOMER}"
    agent = {"text": "您好，我是客服小王，正在为您查询。", "timestamp": 1764201600.5}
    await output.send_response(conversation, dict(agent))
    await output.send_response(conversation, dict(agent))  # the desk retried the same event
    survey = {
        "text": "请为本次服务打分",
        "buttons": [{"title": str(n), "payload": f'/rate{{"rating": {n}}}'} for n in range(1, 6)],
        "sms_kind": "survey",
        "idempotency_key": "survey:TK20261127-0042",
        "timestamp": 1764201700.0,
    }
    await output.send_response(conversation, dict(survey))
    await output.send_response("web-visitor-1", {"text": "not an SMS conversation"})
    messages = sorted(await outbox.recent(redis), key=lambda m: m["created_at"])
    assert [(m["kind"], m["to"]) for m in messages] == [("agent", CUSTOMER), ("survey", CUSTOMER)]
    assert messages[1]["body"].startswith("请为本次服务打分\n1. 1\n")
    assert messages[1]["idempotency_key"] == "survey:TK20261127-0042"
    payloads = json.loads(await redis.get(buttons_key(conversation)))
    assert payloads[4] == '/rate{"rating": 5}'


# ---- opt-outs: what an agent message answers (see also test_optout_replies.py) ----------


async def test_an_agent_message_answers_the_customers_last_message(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """Through the channel's output (what Rasa calls for an agent's reply): the outbox
    message carries the caller's idempotency key and when the customer last wrote."""
    response = await post_signed(http, sms_server.url, inbound("有人吗"))
    assert response.status == 200
    last = float(await eventually(lambda: redis.get(last_inbound_key(CUSTOMER))))
    output = sms_server.channel.get_output_channel()
    message = {"text": "您好，我是客服小王。", "sms_kind": "agent", "idempotency_key": "agent:K1"}
    await output.send_response(f"sms:{CUSTOMER}", message)
    await output.send_response(f"sms:{CUSTOMER}", message)  # the console retried
    [record] = await outbox.find(redis, "agent:K1")
    assert record["kind"] == "agent" and float(record["answers_at"]) == last
    agent_messages = [m for m in await outbox.recent(redis, 50) if m["kind"] == "agent"]
    assert len(agent_messages) == 1


async def test_keywords_do_not_count_as_the_customers_last_message(
    sms_server: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """Else an agent's reply right after a STOP would ride the window of the STOP itself."""
    assert (await post_signed(http, sms_server.url, inbound("STOP"))).status == 200
    await eventually(lambda: optout.is_opted_out(redis, CUSTOMER))
    await sms_server.channel.turns.drain()
    assert await redis.get(last_inbound_key(CUSTOMER)) is None


# --- the first-contact menu (bot.sms.menu) ---------------------------------------------

MENU = load_menu()


async def sent_bodies(redis: aioredis.Redis, expected: int) -> list[str]:
    async def probe() -> list[str]:
        bodies = [m["body"] for m in reversed(await outbox.recent(redis, 100))]
        return bodies if len(bodies) >= expected else []

    return await eventually(probe)


@pytest.fixture
def with_menu(sms_server: SmsServer) -> SmsServer:
    sms_server.channel.turns.menu = MENU
    return sms_server


@pytest.mark.parametrize("language", ["zh", "en"])
def test_each_menu_fits_one_segment(language: str) -> None:
    assert segments.count(MENU.texts[language]).segments == 1
    assert len(MENU.choices) == 4


async def test_a_new_number_gets_the_menu_after_the_answer_and_a_digit_picks_a_choice(
    with_menu: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    await post_signed(http, with_menu.url, inbound("营业厅几点开门"))
    assert await sent_bodies(redis, 2) == ["echo: 营业厅几点开门", MENU.texts["zh"]]
    assert json.loads(await redis.get(buttons_key(f"sms:{CUSTOMER}"))) == MENU.choices

    await post_signed(http, with_menu.url, inbound("3"))
    await sent_bodies(redis, 3)
    assert with_menu.bot.messages[-1].text == "/complain"
    # Known now: no second menu.
    await post_signed(http, with_menu.url, inbound("谢谢"))
    bodies = await sent_bodies(redis, 4)
    assert bodies.count(MENU.texts["zh"]) == 1


async def test_the_menu_follows_the_language_of_the_first_message(
    with_menu: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    await post_signed(http, with_menu.url, inbound("what time do you open"))
    assert (await sent_bodies(redis, 2))[1] == MENU.texts["en"]


async def test_an_answer_with_its_own_choices_gets_no_menu(
    with_menu: SmsServer, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    with_menu.bot.responses = [
        {"text": "请确认", "buttons": [{"title": "是", "payload": "是"}]},
    ]
    await post_signed(http, with_menu.url, inbound("我要投诉"))
    [answer] = await sent_bodies(redis, 1)
    await with_menu.channel.turns.drain()
    assert len(await outbox.recent(redis, 100)) == 1
    assert json.loads(await redis.get(buttons_key(f"sms:{CUSTOMER}"))) == ["是"]
    assert answer.startswith("请确认")
    # Only the first message counts: a later answer without choices gets no menu either.
    with_menu.bot.responses = [{"text": "好的"}]
    await post_signed(http, with_menu.url, inbound("好"))
    assert await sent_bodies(redis, 2) == [answer, "好的"]
    await with_menu.channel.turns.drain()
    assert len(await outbox.recent(redis, 100)) == 2
