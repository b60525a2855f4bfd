"""The SMS path end to end, with signed Twilio webhooks: an SMS customer asks for a person,
an agent claims and replies in the console, the reply goes out through the outbox to that
phone, the customer keeps replying by SMS, and the hand-back returns them to the bot."""

from __future__ import annotations

import asyncio
import re
import secrets

import aiohttp
import pytest

from bot import db
from bot.handoff.presence import Presence
from bot.handoff.store import HandoffStore
from tests.support.handoff import HandoffStack, eventually, policy
from tests.support.sms import inbound, post_signed, read_sink, wait_for_sink

pytestmark = pytest.mark.stack

PHONE = "+8613700137000"  # not used by other stack tests
CONVERSATION = f"sms:{PHONE}"


async def console_login(session: aiohttp.ClientSession, stack: HandoffStack) -> str:
    form = await (await session.get(f"{stack.desk_url}/console/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    async with session.post(
        f"{stack.desk_url}/console/login",
        data={"username": stack.agent, "password": stack.password, "csrf_token": token},
    ) as response:
        page = await response.text()
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


async def test_sms_handoff_agent_reply_lands_in_the_outbox(handoff_stack: HandoffStack) -> None:
    redis = db.connect(handoff_stack.redis_url)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        try:
            csrf = await console_login(http, handoff_stack)
            await Presence(redis, 45).heartbeat(handoff_stack.agent)  # the agent is online
            already = len(await read_sink(redis, PHONE))

            # The customer texts for a person (signed as Twilio signs it).
            response = await post_signed(http, handoff_stack.desk_url, inbound("转人工", PHONE))
            assert response.status == 200
            queued = await wait_for_sink(redis, PHONE, count=already + 1)
            assert re.search(r"第\s*\d+\s*位", queued[-1]["body"])
            # A first message, but handed to a person: no menu of what the bot can do.
            await asyncio.sleep(1.0)
            assert len(await read_sink(redis, PHONE)) == already + 1
            store = HandoffStore(redis, policy())
            assert (await store.get(CONVERSATION)).state == "queued"

            # The agent claims it and replies in the console.
            base = f"{handoff_stack.desk_url}/console/api/conversations/{CONVERSATION}"
            headers = {"X-CSRF-Token": csrf}
            async with http.post(f"{base}/claim", headers=headers) as claimed:
                assert claimed.status == 200, await claimed.text()
            message = {"text": "您好，我是短信人工客服", "key": secrets.token_hex(16)}
            async with http.post(f"{base}/reply", json=message, headers=headers) as replied:
                assert replied.status == 201, await replied.text()

            async def agent_reply_sent() -> list[dict]:
                got = await read_sink(redis, PHONE)
                return [m for m in got if "短信人工客服" in m["body"]]

            sent = await eventually(agent_reply_sent, timeout=30)
            assert sent[0]["kind"] == "agent" and sent[0]["conversation_id"] == CONVERSATION
            # The console's retry of that message sends nothing more.
            async with http.post(f"{base}/reply", json=message, headers=headers) as again:
                assert again.status == 200 and (await again.json())["repeated"]

            # The transcript tells the agent what the outbox did with it.
            async def delivered() -> dict | None:
                async with http.get(base) as response:
                    lines = (await response.json())["transcript"]
                line = next(x for x in lines if x["text"] == message["text"])
                return line["delivery"] if line["delivery"]["status"] == "delivered" else None

            assert (await eventually(delivered, timeout=30))["reason"] == ""
            assert len(await agent_reply_sent()) == 1

            # The customer keeps replying by SMS; the agent sees it in the transcript.
            await post_signed(http, handoff_stack.desk_url, inbound("我家停电两天了", PHONE))

            async def in_transcript() -> bool:
                async with http.get(base) as r:
                    lines = (await r.json())["transcript"]
                return any(line["text"] == "我家停电两天了" for line in lines)

            await eventually(in_transcript, timeout=30)

            # Hand back: the customer is told by SMS that the assistant is back.
            async with http.post(f"{base}/handback", headers=headers) as back:
                assert back.status == 200

            async def bot_back() -> list[dict]:
                return [m for m in await read_sink(redis, PHONE) if "智能助手" in m["body"]]

            await eventually(bot_back, timeout=30)
        finally:
            await redis.close()
