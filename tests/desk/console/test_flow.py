"""An agent's work in the console, against the real Redis and a stand-in Rasa HTTP API."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot import broker
from bot.desk.console.context import CONSOLE
from bot.handoff.agent_ops import AgentOps, Staff
from bot.handoff.policy import HandoffConfig
from bot.handoff.store import PENDING_SYNC, HandoffStore
from tests.support.handoff import (
    FakeClock,
    FakeRasa,
    create_user,
    eventually,
    login,
    post,
    queue_customer,
)

PHONE = "+8613800138000"
ABC = "/console/api/conversations/web-abc"
XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


async def test_claim_reply_note_ticket_hand_back(
    desk: TestClient, redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    await create_user(redis, "wang.fang", display="Fang")
    await create_user(redis, "li.na")
    await queue_customer(redis, open_config, "web-abc", language="zh", phone=PHONE)
    store = HandoffStore(redis, open_config.queue)
    await store.record_customer_message("web-abc", XSS, 1e10)
    csrf = await login(desk, "wang.fang")

    # The queue: server-rendered with the customer's text escaped, and as JSON.
    page = await desk.get("/console/")
    html = await page.text()
    assert 'data-conversation="web-abc"' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    queue = await (await desk.get("/console/api/queue")).json()
    assert [c["id"] for c in queue["queue"]] == ["web-abc"]
    assert queue["queue"][0]["phone"] is None and queue["queue"][0]["last_text"] == XSS
    assert queue["stats"]["queue_length"] == 1

    # Claim: the customer is told, by the agent's roster name, on their own channel.
    claimed = await post(desk, csrf, "/console/api/conversations/web-abc/claim")
    assert claimed.status == 200
    assert (await claimed.json())["conversation"]["phone"] == PHONE  # the holder sees it
    join = fake_rasa.posts[-1]
    assert join["query"]["output_channel"] == "socketio"
    assert join["query"]["execute_side_effects"] == "true"
    # The tracker was not paused (action_handoff's pause was lost): the claim pauses it.
    assert join["events"][0] == {"event": "pause"} and fake_rasa.paused["web-abc"]
    assert join["events"][1]["event"] == "bot"
    assert join["events"][1]["metadata"]["kefu_event"] == "agent_joined"
    assert join["events"][1]["metadata"]["agent_name"] == "王芳"
    assert "王芳" in join["events"][1]["text"]
    again = await post(desk, csrf, "/console/api/conversations/web-abc/claim")
    assert again.status == 409 and (await again.json())["code"] == "taken"

    # Reply: a BotUttered with the agent's name, sent on the customer's channel, keyed by
    # the console's key for this composed message.
    key = "a" * 32
    reply = await post(
        desk, csrf, "/console/api/conversations/web-abc/reply", {"text": "您好", "key": key}
    )
    assert reply.status == 201
    event = fake_rasa.posts[-1]["events"][0]
    assert event == {
        "event": "bot",
        "text": "您好",
        "data": {},
        "metadata": {
            "agent_name": "王芳",
            "sms_kind": "agent",
            "idempotency_key": f"agent:web-abc:reply:{key}",
        },
    }
    # The console retrying the same message sends nothing new.
    posts = len(fake_rasa.posts)
    again = await post(
        desk, csrf, "/console/api/conversations/web-abc/reply", {"text": "您好", "key": key}
    )
    assert again.status == 200 and (await again.json())["repeated"] is True
    assert len(fake_rasa.posts) == posts
    bad = await post(
        desk, csrf, "/console/api/conversations/web-abc/reply", {"text": "  ", "key": "b" * 32}
    )
    assert bad.status == 400 and (await bad.json())["field"] == "text"
    for no_key in ({"text": "x"}, {"text": "x", "key": "short"}, {"text": "x", "key": 7}):
        bad = await post(desk, csrf, "/console/api/conversations/web-abc/reply", no_key)
        assert bad.status == 400 and (await bad.json())["field"] == "key"
    not_json = await desk.post(
        "/console/api/conversations/web-abc/reply",
        data="nope",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert not_json.status == 400

    # Internal notes stay in the desk: nothing goes to Rasa.
    before = len(fake_rasa.posts)
    note = await post(desk, csrf, "/console/api/conversations/web-abc/notes", {"text": XSS})
    assert note.status == 201 and len(fake_rasa.posts) == before

    # The transcript comes from Rasa's tracker; notes from Redis.
    fake_rasa.trackers["web-abc"].insert(0, {"event": "user", "text": XSS, "timestamp": 1.0})
    detail = await (await desk.get("/console/api/conversations/web-abc")).json()
    kinds = [(line["kind"], line["text"]) for line in detail["transcript"]]
    assert kinds[0] == ("user", XSS) and ("agent", "您好") in kinds
    assert detail["notes"][0]["text"] == XSS and detail["notes"][0]["author"] == "wang.fang"

    # A ticket from the conversation: created with the customer's phone, linked, and the
    # bot's ticket_id slot set.
    created = await post(
        desk,
        csrf,
        "/console/api/conversations/web-abc/ticket",
        {"category": "billing", "description": "电费单金额不对，客户要求核查"},
    )
    assert created.status == 201, await created.text()
    number = (await created.json())["ticket"]["number"]
    assert (await created.json())["ticket"]["phone"] == PHONE
    assert (await store.get("web-abc")).ticket_id == number
    assert fake_rasa.posts[-1]["events"] == [
        {"event": "slot", "name": "ticket_id", "value": number}
    ]
    bad_category = await post(
        desk,
        csrf,
        "/console/api/conversations/web-abc/ticket",
        {"category": "x", "description": "d"},
    )
    assert bad_category.status == 400 and (await bad_category.json())["field"] == "category"
    linked = await post(desk, csrf, "/console/api/conversations/web-abc/ticket", {"number": number})
    assert linked.status == 200 and not (await linked.json())["created"]
    missing = await post(
        desk, csrf, "/console/api/conversations/web-abc/ticket", {"number": "TK20200101-9999"}
    )
    assert missing.status == 404

    # Another agent can neither reply nor hand back.
    desk.session.cookie_jar.clear()
    other_csrf = await login(desk, "li.na")
    refused = await post(
        desk, other_csrf, "/console/api/conversations/web-abc/reply", {"text": "x", "key": key}
    )
    assert refused.status == 403
    refused = await post(desk, other_csrf, "/console/api/conversations/web-abc/handback")
    assert refused.status == 403
    # ...nor read the conversation, nor file, link or read its tickets.
    assert (await desk.get("/console/api/conversations/web-abc")).status == 403
    assert (await desk.get("/console/conversations/web-abc")).status == 403
    refused = await post(desk, other_csrf, ABC + "/ticket", {"number": number})
    assert refused.status == 403
    refused = await post(
        desk, other_csrf, ABC + "/ticket", {"category": "billing", "description": "d"}
    )
    assert refused.status == 403
    desk.session.cookie_jar.clear()
    csrf = await login(desk, "wang.fang")

    # Hand back: the agent leaves by name, the tracker resumes, the bot says it is back.
    back = await post(desk, csrf, "/console/api/conversations/web-abc/handback")
    assert back.status == 200 and (await back.json())["conversation"]["state"] == "bot"
    events = fake_rasa.posts[-1]["events"]
    assert [e["event"] for e in events] == ["bot", "resume", "bot", "action"]
    assert events[-1]["name"] == "action_listen"  # the bot listens again
    assert events[0]["metadata"]["kefu_event"] == "agent_left" and "王芳" in events[0]["text"]
    assert events[2]["metadata"]["kefu_event"] == "bot_back" and "智能助手" in events[2]["text"]
    assert not fake_rasa.paused.get("web-abc")
    assert await redis.zcard(PENDING_SYNC) == 0
    assert await store.average_handle_time() < open_config.queue.default_handle_time_s
    gone = await post(
        desk, csrf, "/console/api/conversations/web-abc/reply", {"text": "x", "key": "c" * 32}
    )
    assert gone.status == 403


async def test_sms_customers_get_replies_on_sms_and_supervisor_can_close(
    desk: TestClient, redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    await create_user(redis, "li.na")
    await create_user(redis, "boss", role="supervisor", display="Boss")
    await queue_customer(redis, open_config, "sms:+8613900139000", channel="sms", language="en")
    csrf = await login(desk, "li.na")
    took = await post(desk, csrf, "/console/api/queue/next")
    assert took.status == 200 and (await took.json())["conversation"]["id"] == "sms:+8613900139000"
    assert (await post(desk, csrf, "/console/api/queue/next")).status == 404  # nobody left
    reply = await post(
        desk,
        csrf,
        "/console/api/conversations/sms:+8613900139000/reply",
        {"text": "Hello", "key": "d" * 32},
    )
    assert reply.status == 201
    sent = fake_rasa.posts[-1]
    assert sent["conversation"] == "sms:+8613900139000"  # ':' and '+' reach Rasa intact
    assert sent["query"]["output_channel"] == "sms"
    assert sent["events"][0]["metadata"]["agent_name"] == "Li Na"  # English roster name

    desk.session.cookie_jar.clear()
    boss = await login(desk, "boss")
    stats = await (await desk.get("/console/api/supervisor")).json()
    assert stats["active"] == 1 and stats["queue_length"] == 0
    page = await desk.get("/console/supervisor")
    assert page.status == 200 and 'id="stat-active">1<' in await page.text()
    closed = await post(desk, boss, "/console/api/conversations/sms:+8613900139000/close")
    assert closed.status == 200 and (await closed.json())["conversation"]["state"] == "closed"
    events = fake_rasa.posts[-1]["events"]
    assert events[0]["metadata"]["agent_name"] == "Li Na"  # the agent who was there leaves
    assert [e["event"] for e in events] == ["bot", "resume", "bot", "action"]
    assert events[-1]["name"] == "action_listen"  # the bot listens again
    assert events[2]["metadata"]["kefu_event"] == "closed"


async def test_a_hand_back_rasa_missed_is_retried(
    redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig, desk: TestClient
) -> None:
    console = desk.server.app[CONSOLE]
    clock = FakeClock()
    ops = AgentOps(console.store, console.rasa, open_config.messages, clock=clock)
    await queue_customer(redis, open_config, "web-1", language="zh")
    agent = Staff("wang.fang", "Fang", "agent")
    await ops.claim("web-1", agent)
    fake_rasa.paused["web-1"] = True
    fake_rasa.fail = True
    done = await ops.hand_back("web-1", agent)  # Redis decided; Rasa did not answer
    assert done.state == "bot"
    assert await console.store.pending_sync(clock.now + 60) == ["web-1"]
    fake_rasa.fail = False
    assert await ops.retry_pending() == 0  # too early: the first attempt may still land
    clock.advance(60)
    assert await ops.retry_pending() == 1
    assert not fake_rasa.paused["web-1"]
    assert await console.store.pending_sync(clock.now) == []
    # Already resumed in Rasa (the first attempt landed after all): settle without resending.
    await queue_customer(redis, open_config, "web-2", language="zh")
    await ops.claim("web-2", agent)
    fake_rasa.fail = True
    await ops.hand_back("web-2", agent)
    assert fake_rasa.paused["web-2"]  # the claim paused it
    fake_rasa.paused["web-2"] = False  # the hand-back reached Rasa though it answered 503
    fake_rasa.fail = False
    clock.advance(60)
    posts = len(fake_rasa.posts)
    assert await ops.retry_pending() == 1
    assert len(fake_rasa.posts) == posts


async def test_live_updates_over_the_websocket(
    desk: TestClient, redis: aioredis.Redis, fake_rasa: FakeRasa, open_config: HandoffConfig
) -> None:
    await create_user(redis, "wang.fang")
    await login(desk, "wang.fang")
    ws = await desk.ws_connect("/console/ws")

    async def receive(predicate) -> dict:  # type: ignore[no-untyped-def]
        while True:
            message = json.loads((await ws.receive(timeout=10)).data)
            if predicate(message):
                return message

    assert (await receive(lambda m: m["type"] == "hello"))["user"] == "wang.fang"
    await receive(lambda m: m["type"] == "queue")
    # The agent's open console counts them as online.
    await eventually(lambda: desk.server.app[CONSOLE].presence.is_online("wang.fang"))

    # A customer joins the queue: every console gets the new queue.
    await queue_customer(redis, open_config, "web-live", language="zh")
    snapshot = await receive(lambda m: m["type"] == "queue" and m["queue"])
    assert snapshot["queue"][0]["id"] == "web-live"
    assert snapshot["stats"] == {"queue_length": 1}  # supervisor figures are for supervisors

    # Watching it: the customer's messages arrive as Rasa publishes them (the broker).
    await ws.send_json({"type": "watch", "conversation": "web-live"})
    await receive(lambda m: m["type"] == "watching")
    await redis.xadd(
        broker.STREAM,
        broker.encode({"event": "user", "sender_id": "web-live", "text": XSS, "timestamp": 2e9}),
    )
    live = await receive(lambda m: m["type"] == "message")
    assert live["conversation"] == "web-live" and live["line"] == {
        "kind": "user",
        "text": XSS,
        "at": 2e9,
    }
    await receive(lambda m: m["type"] == "customer_message" and m["text"] == XSS)
    # The consumer group records it on the queue entry (for the queue's "last message").
    store = desk.server.app[CONSOLE].store
    await eventually(lambda: _last_text(store, "web-live", XSS))

    # Someone claims it: watchers hear of the change, the queue empties.
    await store.claim("web-live", "li.na")
    change = await receive(lambda m: m["type"] == "change")
    assert change["change"] == "claimed" and change["agent"] == "li.na"
    await receive(lambda m: m["type"] == "queue" and not m["queue"])
    await ws.close()


async def _last_text(store: HandoffStore, conversation: str, text: str) -> bool:
    c = await store.get(conversation)
    return c is not None and c.last_text == text


async def test_rasa_restart_ends_the_handoff(
    desk: TestClient, redis: aioredis.Redis, open_config: HandoffConfig
) -> None:
    await queue_customer(redis, open_config, "web-r", language="zh")
    store = desk.server.app[CONSOLE].store
    queued = await store.get("web-r")
    # A session start older than the request (the chat's beginning) changes nothing...
    await redis.xadd(
        broker.STREAM,
        broker.encode(
            {"event": "session_started", "sender_id": "web-r", "timestamp": queued.enqueued_at - 5}
        ),
    )
    # ...a restart afterwards closes it (Rasa unpaused the tracker itself).
    await redis.xadd(
        broker.STREAM,
        broker.encode(
            {"event": "restart", "sender_id": "web-r", "timestamp": queued.enqueued_at + 5}
        ),
    )

    async def closed() -> bool:
        c = await store.get("web-r")
        return c.state == "closed" and c.ended_by == "rasa:restart"

    await eventually(closed)
    assert await store.pending_sync(queued.enqueued_at + 3600) == []
