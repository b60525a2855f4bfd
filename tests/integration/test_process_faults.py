"""Issue 13, K2 and K3: processes killed and restarted under a running conversation.

K2: a message sent while the action server was down got no reply at all (Rasa caught the
failed action call and ended the turn quietly). Now the call is retried until the action
server is back (bot/action_retry.py), and a turn whose actions still failed is apologised
for: each message gets exactly one answer, never none. The running stack's action server
is killed and started again.

K3: after a Redis restart the first ticket write failed (a connection the old server had
closed); the bot offered "reply 是 to retry", but the form had ended, so "是" lost the
complaint. Now a closed connection is retried once (bot/db.py), and a failed submit
re-opens the form at its summary, so "是" files the same answers once
(actions/complaints.py). The restart runs on a redis-server of its own with an action
server of its own (the stack's Redis is everyone's); the retry offer runs on the stack.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot import action_retry, db
from bot.channels.webchat import load_texts as web_texts
from bot.sms.keywords import load_texts as sms_texts
from bot.tickets.service import TicketService
from bot.tickets.store import Keys
from tests.conftest import (
    ACTION_TOKEN,
    RedisServer,
    Stack,
    free_port,
    http_ok,
    stack_env,
    start_process,
    start_redis,
    stop_processes,
    wait_until,
)
from tests.support.databases import restart_redis
from tests.support.sms import Texter, inbound, post_signed, read_sink, wait_for_sink
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack

TICKET = re.compile(r"TK[0-9]{8}-[0-9]{4,}")
SMS_APOLOGY = sms_texts()["unanswered_zh"]
WEB_APOLOGY = web_texts()["unanswered"]["zh"]
CATEGORY_QUESTION = "哪一类"  # utter_ask_complaint_category: an answer the action server makes
RETRIES_S = sum(action_retry.RETRY_DELAYS_S)


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[aioredis.Redis]:
    client = db.connect(stack.redis.url)
    yield client
    await client.close()


# ---------------------------------------------------------------- K2: the action server down
async def _one_web_answer(customer: Customer, timeout: float) -> str:
    """The text of the one thing the visitor got: a bot message or the channel's apology."""
    replies = asyncio.ensure_future(customer.replies.get())
    errors = asyncio.ensure_future(customer.errors.get())
    done, pending = await asyncio.wait(
        {replies, errors}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    assert done, f"the web message got no answer in {timeout:.0f} s"
    return str(done.pop().result()["text"])


async def _while_the_action_server_is_down(
    stack: Stack, redis: aioredis.Redis, texter: Texter, down_s: float
) -> tuple[str, str, float]:
    """Kills the action server, sends "我要投诉" by SMS and on the web, starts the action
    server again after `down_s`; returns the SMS and web answers and how long it was gone."""
    customer = Customer(stack.rasa_url)
    await customer.connect()
    before = len(await read_sink(redis, texter.phone))
    stack.kill("actions")
    killed = time.monotonic()
    try:
        response = await post_signed(
            texter.session, stack.desk_url, inbound("我要投诉", texter.phone)
        )
        assert response.status == 200
        await customer.say("我要投诉")
        await asyncio.sleep(down_s)
    finally:
        await asyncio.to_thread(stack.start, "actions")  # the rest of the suite needs it
    gone_s = time.monotonic() - killed
    try:
        web = await _one_web_answer(customer, 60)
        sent = await wait_for_sink(redis, texter.phone, count=before + 1, timeout=60)
        await asyncio.sleep(3)  # a second answer to either message would be here by now
        assert len(await read_sink(redis, texter.phone)) == before + 1, "two SMS for one"
        assert customer.replies.empty() and customer.errors.empty(), "two web answers"
    finally:
        await customer.client.disconnect()
    print(f"action server gone {gone_s:.1f} s")
    return sent[before]["body"], web, gone_s


async def test_messages_sent_while_the_action_server_is_down_get_exactly_one_answer(
    stack: Stack, redis: aioredis.Redis
) -> None:
    async with aiohttp.ClientSession() as session:
        # Known numbers: a first contact's menu would be a second SMS.
        quick = Texter(stack.desk_url, session, redis, "+8613712340001")
        slow = Texter(stack.desk_url, session, redis, "+8613712340003")
        for texter in (quick, slow):
            await texter.text("营业厅几点开门", expect=2)

        # Back within a few seconds: the turns waited for it and answered for real.
        sms, web, gone_s = await _while_the_action_server_is_down(stack, redis, quick, 1)
        if gone_s < RETRIES_S - 1:
            assert CATEGORY_QUESTION in sms and CATEGORY_QUESTION in web
        else:  # a very slow machine: the action server took longer than the retries
            assert SMS_APOLOGY in sms or CATEGORY_QUESTION in sms
            assert web == WEB_APOLOGY or CATEGORY_QUESTION in web

        # Gone for longer than a turn waits: the apology, once, in the customer's language.
        sms, web, _ = await _while_the_action_server_is_down(stack, redis, slow, RETRIES_S + 3)
        assert SMS_APOLOGY in sms and web == WEB_APOLOGY

        # Back: the same message is answered again.
        assert CATEGORY_QUESTION in " ".join(await slow.text("我要投诉"))


# ---------------------------------------------------------------- K3: a Redis restart
SMS_SENDER = "+8613712340002"


def _submit_call(phone: str, opened_by: str) -> dict[str, Any]:
    """Rasa's call of action_submit_complaint for a complete SMS complaint form."""
    latest = {
        "text": "是",
        "intent": {"name": "affirm", "confidence": 0.99},
        "entities": [],
        "metadata": {"phone": phone},
    }
    return {
        "next_action": "action_submit_complaint",
        "sender_id": f"sms:{phone}",
        "version": "3.6.2",
        "domain": {},
        "tracker": {
            "sender_id": f"sms:{phone}",
            "slots": {
                "language": "zh",
                "complaint_category": "staff_conduct",
                "complaint_description": "抄表员上门态度很差",
                "complaint_location": "朝阳区建国路66号",
                "phone": phone,
                "complaint_confirm": True,
            },
            "latest_message": latest,
            "events": [
                {"event": "user", "text": "我要投诉", "message_id": opened_by, "timestamp": 1.0},
                {"event": "active_loop", "name": "complaint_form", "timestamp": 2.0},
                {
                    "event": "user",
                    "text": "是",
                    "input_channel": "sms",
                    "message_id": opened_by + "-yes",
                    "parse_data": latest,
                    "timestamp": 3.0,
                },
            ],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def _call_action(actions_url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{actions_url}/webhook",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ACTION_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return dict(json.loads(response.read()))


class RestartableRedis:
    """A redis-server of this test's own, and an action server on it."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.data = data
        self.server: RedisServer = start_redis(data)
        port = free_port()
        self.actions_url = f"http://127.0.0.1:{port}"
        env = stack_env(self.server, free_port(), port, free_port())
        self.actions = start_process("actions", env, logs)
        wait_until(lambda: http_ok(f"{self.actions_url}/health"), 60, "actions", [self.actions])

    def restart(self) -> None:
        self.server = restart_redis(self.server, self.data)

    def stop(self) -> None:
        stop_processes([self.actions])
        self.server.process.terminate()
        self.server.process.wait(15)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    (tmp_path / "data").mkdir()
    own = RestartableRedis(tmp_path / "data", tmp_path)
    try:
        yield own
    finally:
        own.stop()


def _created(answer: dict[str, Any]) -> str:
    [message, *_] = answer["responses"]
    assert message["response"] == "utter_complaint_created", message
    return str(message["ticket"])


async def test_a_complaint_after_a_redis_restart_files_one_ticket_and_gets_its_number(
    own_redis: RestartableRedis,
) -> None:
    # An earlier complaint: the action server's Redis connections are open and pooled.
    _created(
        await asyncio.to_thread(
            _call_action, own_redis.actions_url, _submit_call("+8613712340009", "SM" + "0" * 32)
        )
    )
    own_redis.restart()  # every pooled connection is now closed

    call = _submit_call(SMS_SENDER, "SM" + "1" * 32)
    number = _created(await asyncio.to_thread(_call_action, own_redis.actions_url, call))
    # The same turn again (a re-run): the same ticket, not a second one.
    again = _created(await asyncio.to_thread(_call_action, own_redis.actions_url, call))
    assert again == number
    client = db.connect(own_redis.server.url)
    try:
        tickets = await TicketService.build(client).store.open_tickets_for_phone(SMS_SENDER)
    finally:
        await client.close()
    assert [t.number for t in tickets] == [number]


# ---------------------------------------------------------------- K3: "是" after a failed write
async def _open_tickets(redis: aioredis.Redis, phone: str) -> list[str]:
    tickets = await TicketService.build(redis).store.open_tickets_for_phone(phone)
    return [t.number for t in tickets]


async def test_yes_after_a_failed_ticket_write_files_the_same_complaint_once(
    stack: Stack, redis: aioredis.Redis
) -> None:
    seq = Keys().seq
    async with aiohttp.ClientSession() as session:
        texter = Texter(stack.desk_url, session, redis, "+8613712340004")
        assert CATEGORY_QUESTION in " ".join(await texter.text("我要投诉，抄表员上门骂人"))
        assert "地址或户号" in " ".join(await texter.text("服务态度"))
        assert texter.phone in " ".join(await texter.text("朝阳区建国路66号"))  # the summary
        # A real write failure inside Redis: the ticket script's sequence is not a number.
        kept = await redis.get(seq)
        await redis.set(seq, "not-a-number")
        try:
            failed = " ".join(await texter.text("是"))
        finally:
            await (redis.delete(seq) if kept is None else redis.set(seq, kept))
        assert "没能保存" in failed and not TICKET.search(failed)
        assert "确认提交吗" in failed and "朝阳区建国路66号" in failed  # the summary, again
        assert await _open_tickets(redis, texter.phone) == []
        created = " ".join(await texter.text("是"))
    match = TICKET.search(created)
    assert match, created
    assert await _open_tickets(redis, texter.phone) == [match.group()]
