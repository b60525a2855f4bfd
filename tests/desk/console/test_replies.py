"""Agent replies (issue 8, item 9, console side): one idempotency key per composed message,
so a retry never sends twice; and the agent sees when an SMS reply was not delivered, and
why (here: the customer opted out)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.handoff.agent_ops import REPLY_PREFIX
from bot.handoff.policy import HandoffConfig
from bot.sms import optout, outbox
from tests.support.handoff import FakeRasa, create_user, eventually, login, post, queue_customer

PHONE = "+8613900139000"
SMS = f"sms:{PHONE}"
URL = f"/console/api/conversations/{SMS}"


async def rasa_sends_sms(redis: aioredis.Redis, event: dict[str, Any]) -> None:
    """What Rasa's SMS output channel does with the agent's message (bot.sms.channel
    SmsOutboxOutput): the stand-in Rasa does not run output channels."""
    metadata = event["metadata"]
    await outbox.enqueue(
        redis,
        PHONE,
        event["text"],
        kind=metadata["sms_kind"],
        idempotency_key=metadata["idempotency_key"],
        conversation_id=SMS,
    )


async def agent_line(client: TestClient) -> dict[str, Any] | None:
    detail = await (await client.get(URL)).json()
    lines = [line for line in detail["transcript"] if line["kind"] == "agent"]
    return lines[-1] if lines else None


async def test_a_reply_to_an_opted_out_customer_shows_it_was_not_delivered(
    desk: TestClient, redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    await create_user(redis, "li.na")
    await queue_customer(redis, open_config, SMS, channel="sms", language="zh")
    csrf = await login(desk, "li.na")
    assert (await post(desk, csrf, URL + "/claim")).status == 200
    await optout.opt_out(redis, PHONE, source="test", keyword="STOP")

    key = "0123456789abcdef0123456789abcdef"
    reply = await post(desk, csrf, URL + "/reply", {"text": "您好，请问还需要帮助吗？", "key": key})
    assert reply.status == 201
    event = fake_rasa.posts[-1]["events"][0]
    await rasa_sends_sms(redis, event)

    async def skipped() -> dict[str, Any] | None:
        line = await agent_line(desk)
        delivery = line and line.get("delivery")
        return delivery if delivery and delivery["status"] == "skipped" else None

    delivery = await eventually(skipped)
    assert delivery["reason"] == outbox.SKIPPED_OPTED_OUT

    # The console says so in words, rendered as text (console.js: deliveryText).
    script = await (await desk.get("/console/static/console.js")).text()
    assert "opted_out" in script and "NOT delivered" in script

    # The console retries the same message (e.g. the response was lost): nothing new is
    # sent to Rasa or queued in the outbox, and the answer carries the same status.
    posts = len(fake_rasa.posts)
    again = await post(desk, csrf, URL + "/reply", {"text": "您好，请问还需要帮助吗？", "key": key})
    assert again.status == 200
    body = await again.json()
    assert body["repeated"] is True and body["sent"]["delivery"]["status"] == "skipped"
    assert len(fake_rasa.posts) == posts
    assert len(await outbox.find(redis, event["metadata"]["idempotency_key"])) == 1


async def test_a_retry_after_rasa_failed_checks_rasa_before_sending(
    desk: TestClient, redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    await create_user(redis, "li.na")
    await queue_customer(redis, open_config, "web-r", language="zh")
    csrf = await login(desk, "li.na")
    url = "/console/api/conversations/web-r"
    assert (await post(desk, csrf, url + "/claim")).status == 200

    # Rasa down: the agent is told, nothing is marked sent.
    fake_rasa.fail = True
    failed = await post(desk, csrf, url + "/reply", {"text": "hello", "key": "k" * 32})
    assert failed.status == 502
    fake_rasa.fail = False
    sent = await post(desk, csrf, url + "/reply", {"text": "hello", "key": "k" * 32})
    assert sent.status == 201
    assert [e["text"] for e in fake_rasa.events_for("web-r") if e["event"] == "bot"][-1] == "hello"

    # Rasa appended it but the answer was lost (a timeout): the retry finds it there.
    record = REPLY_PREFIX + "agent:web-r:reply:" + "m" * 32
    await redis.hset(record, mapping={"state": "uncertain", "lease": "0"})
    fake_rasa.trackers["web-r"].append(
        {
            "event": "bot",
            "text": "second",
            "metadata": {"idempotency_key": "agent:web-r:reply:" + "m" * 32},
        }
    )
    posts = len(fake_rasa.posts)
    found = await post(desk, csrf, url + "/reply", {"text": "second", "key": "m" * 32})
    assert found.status == 200 and (await found.json())["repeated"] is True
    assert len(fake_rasa.posts) == posts

    # Another attempt still in flight: the console is told to retry shortly.
    busy = REPLY_PREFIX + "agent:web-r:reply:" + "b" * 32
    lease = str(int(time.time() * 1000) + 30_000)
    await redis.hset(busy, mapping={"state": "sending", "lease": lease})
    in_flight = await post(desk, csrf, url + "/reply", {"text": "third", "key": "b" * 32})
    assert in_flight.status == 409 and (await in_flight.json())["code"] == "in_progress"
    assert len(fake_rasa.posts) == posts
