"""The SMS phone simulator (bot/desk/simulator.py) against the real SMS channel.

The desk (aiohttp test client) signs and posts to its own SMS webhook; Rasa's SMS channel,
running in a real Sanic server with a stand-in bot, takes the message from the inbox; the
bot's replies go through the outbox and the desk's own sender to the local sink, which the
simulator reads back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from bot.desk.simulator import SENT_KEY
from bot.desk.users import UserStore
from bot.http import REDIS
from bot.settings import Settings
from bot.sms import inbox
from bot.sms.settings import SmsSettings
from bot.sms.webhook import MESSAGE_SID
from tests.conftest import RedisServer
from tests.support.handoff import (
    FakeRasa,
    create_user,
    db_url,
    desk_settings,
    eventually,
    login,
    post,
    start_desk,
)
from tests.support.sms import TOKEN, SmsServer, StubBot, sms_servers

PHONE = "+8613800000009"
API = "/console/api/simulator/messages"


@pytest_asyncio.fixture(scope="module")
async def channel(redis_server: RedisServer) -> AsyncIterator[SmsServer]:
    """Rasa's SMS channel (bot.sms.channel) in a real Sanic server, consuming the inbox the
    desk under test writes (same Redis)."""
    settings = SmsSettings(redis_url=db_url(redis_server), auth_token=TOKEN)
    async with sms_servers(settings, StubBot()) as servers:
        servers.channel.turns.menu = None  # one reply per text: the menu is tested elsewhere
        yield servers


def simulator_settings(redis_server: RedisServer, fake_rasa: FakeRasa, **changes: Any) -> Settings:
    """Offline (no Twilio account) with the local signing token."""
    base = desk_settings(redis_server, fake_rasa)
    return base.copy(update={"twilio_auth_token": SecretStr(TOKEN), **changes})


@pytest_asyncio.fixture
async def open_desk(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    fake_rasa: FakeRasa,
    channel: SmsServer,
) -> AsyncIterator[tuple[TestClient, str]]:
    """A desk posting to the real channel, and a logged-in console agent's CSRF token."""
    channel.bot.messages.clear()
    channel.channel.settings = SmsSettings(redis_url=db_url(redis_server), auth_token=TOKEN)
    client = await start_desk(simulator_settings(redis_server, fake_rasa))
    await create_user(redis, "sim.agent")
    csrf = await login(client, "sim.agent")
    yield client, csrf
    await channel.channel.turns.drain()
    await client.close()


async def desk_with(redis: aioredis.Redis, settings: Settings) -> tuple[TestClient, str]:
    client = await start_desk(settings)
    if await UserStore(redis).get("sim.agent") is None:
        await create_user(redis, "sim.agent")
    return client, await login(client, "sim.agent")


# ---- access ------------------------------------------------------------------------------


async def test_login_is_required(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> None:
    client = await start_desk(simulator_settings(redis_server, fake_rasa))
    try:
        page = await client.get("/console/simulator", allow_redirects=False)
        assert page.status == 302
        assert page.headers["Location"].startswith("/console/login?next=/console/simulator")
        listed = await client.get(API, params={"phone": PHONE})
        assert listed.status == 401 and (await listed.json())["field"] == "session"
        sent = await client.post(API, json={"phone": PHONE, "body": "你好"})
        assert sent.status == 401
    finally:
        await client.close()


async def test_posts_need_the_csrf_token(open_desk: tuple[TestClient, str]) -> None:
    client, _csrf = open_desk
    response = await client.post(API, json={"phone": PHONE, "body": "你好"})
    assert response.status == 403 and (await response.json())["field"] == "csrf_token"
    assert not await client.app[REDIS].exists(SENT_KEY.format(phone=PHONE))


async def test_page_and_navigation_link_offline(open_desk: tuple[TestClient, str]) -> None:
    client, _csrf = open_desk
    page = await client.get("/console/simulator")
    assert page.status == 200
    text = await page.text()
    assert 'id="sim-phone"' in text and "/static/simulator.js" in text
    assert 'data-token=""' in text  # the local token is configured
    queue = await (await client.get("/console/")).text()
    assert 'href="/console/simulator"' in queue


async def test_everything_is_404_when_twilio_is_configured(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> None:
    settings = simulator_settings(
        redis_server,
        fake_rasa,
        twilio_account_sid="AC" + "1" * 32,
        twilio_from_number="+14155550100",
    )
    client, csrf = await desk_with(redis, settings)
    try:
        assert (await client.get("/console/simulator")).status == 404
        listed = await client.get(API, params={"phone": PHONE})
        assert listed.status == 404
        sent = await post(client, csrf, API, {"phone": PHONE, "body": "你好"})
        assert sent.status == 404
        queue = await (await client.get("/console/")).text()
        assert "/console/simulator" not in queue
    finally:
        await client.close()


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field_name"),
    [
        ({"phone": "12", "body": "你好"}, "phone"),
        ({"phone": "not a phone", "body": "你好"}, "phone"),
        ({"body": "你好"}, "phone"),
        ({"phone": 8613800000009, "body": "你好"}, "phone"),
        ({"phone": PHONE}, "body"),
        ({"phone": PHONE, "body": "   "}, "body"),
        ({"phone": PHONE, "body": "长" * 1601}, "body"),
        (["not", "an", "object"], "body"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    open_desk: tuple[TestClient, str], channel: SmsServer, payload: Any, field_name: str
) -> None:
    client, csrf = open_desk
    response = await post(client, csrf, API, payload)
    assert response.status == 400
    assert (await response.json())["field"] == field_name
    assert channel.bot.messages == []


async def test_bad_query_is_a_400_naming_the_field(open_desk: tuple[TestClient, str]) -> None:
    client, _csrf = open_desk
    for params, field_name in [
        ({"phone": "12345"}, "phone"),
        ({}, "phone"),
        ({"phone": PHONE, "after": "0-0; DROP"}, "after"),
    ]:
        response = await client.get(API, params=params)
        assert response.status == 400, params
        assert (await response.json())["field"] == field_name


async def test_json_that_is_not_json_is_a_400(open_desk: tuple[TestClient, str]) -> None:
    client, csrf = open_desk
    response = await client.post(
        API,
        data=b"{not json",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert response.status == 400 and (await response.json())["field"] == "body"


async def test_no_local_token_is_a_503_naming_it(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> None:
    client, csrf = await desk_with(
        redis,
        desk_settings(redis_server, fake_rasa),  # no TWILIO_AUTH_TOKEN at all
    )
    try:
        page = await (await client.get("/console/simulator")).text()
        assert 'data-token="missing"' in page
        response = await post(client, csrf, API, {"phone": PHONE, "body": "你好"})
        assert response.status == 503
        assert (await response.json())["field"] == "TWILIO_AUTH_TOKEN"
    finally:
        await client.close()


# ---- the real path -------------------------------------------------------------------------


async def test_a_text_reaches_the_bot_and_its_reply_comes_back_from_the_sink(
    open_desk: tuple[TestClient, str], channel: SmsServer
) -> None:
    client, csrf = open_desk
    opened = await client.get(API, params={"phone": "+86 138 0000 0009"})
    assert opened.status == 200
    first = await opened.json()
    assert first["phone"] == PHONE and first["messages"] == []

    response = await post(client, csrf, API, {"phone": PHONE, "body": "你好"})
    assert response.status == 201, await response.text()
    sent = (await response.json())["message"]
    assert sent["direction"] == "from_phone" and sent["body"] == "你好"
    assert sent["encoding"] == "UCS-2" and sent["segments"] == 1
    assert MESSAGE_SID.fullmatch(sent["key"])

    # The channel accepted it as an SMS from that number, and the bot answered.
    [message] = await eventually(lambda: _messages(channel))
    assert message.sender_id == f"sms:{PHONE}" and message.text == "你好"
    assert message.input_channel == "sms"

    async def reply() -> list[dict[str, Any]]:
        data = await (
            await client.get(API, params={"phone": PHONE, "after": first["cursor"]})
        ).json()
        return [m for m in data["messages"] if m["direction"] == "to_phone"]

    [answer] = await eventually(reply, timeout=20)
    assert answer["body"] == "echo: 你好" and answer["kind"] == "reply"
    assert answer["segments"] == 1 and answer["encoding"] == "UCS-2"

    # Reopening the number shows the whole conversation in order; another number sees none.
    whole = await (await client.get(API, params={"phone": PHONE})).json()
    assert [(m["direction"], m["body"]) for m in whole["messages"]] == [
        ("from_phone", "你好"),
        ("to_phone", "echo: 你好"),
    ]
    other = await (await client.get(API, params={"phone": "+8613800000008"})).json()
    assert other["messages"] == []
    # After the newest cursor, nothing is new.
    later = await (await client.get(API, params={"phone": PHONE, "after": whole["cursor"]})).json()
    assert [m for m in later["messages"] if m["direction"] == "to_phone"] == []


async def _messages(channel: SmsServer) -> list[Any]:
    return list(channel.bot.messages)


async def test_each_text_has_its_own_message_sid(
    open_desk: tuple[TestClient, str], channel: SmsServer
) -> None:
    client, csrf = open_desk
    for body in ("one", "two"):
        assert (await post(client, csrf, API, {"phone": PHONE, "body": body})).status == 201
    messages = await eventually(
        lambda: _at_least(channel, 2)  # both processed: neither taken for a redelivery
    )
    assert sorted(m.text for m in messages) == ["one", "two"]


async def _at_least(channel: SmsServer, count: int) -> list[Any]:
    return list(channel.bot.messages) if len(channel.bot.messages) >= count else []


async def test_the_signature_is_checked_over_the_public_url_when_one_is_set(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa, channel: SmsServer
) -> None:
    """The desk posts to its own webhook, which checks the signature with the official
    validator over SMS_PUBLIC_URL + path when set (as behind the proxy Twilio calls), else
    over the URL it was called at. Either way the text arrives, and only once."""
    for count, public in enumerate((None, "https://kefu.example.com"), start=1):
        settings = simulator_settings(redis_server, fake_rasa, sms_public_url=public)
        client, csrf = await desk_with(redis, settings)
        try:
            response = await post(
                client, csrf, API, {"phone": PHONE, "body": f"Hi 你好 & =? {count}"}
            )
            assert response.status == 201
        finally:
            await client.close()
        messages = await eventually(lambda c=count: _at_least(channel, c))
        assert messages[-1].text == f"Hi 你好 & =? {count}"
        assert messages[-1].metadata["phone"] == PHONE
    assert len(await redis.keys(inbox.seen_key("*"))) == 2


def test_the_local_token_leaves_the_sender_on_the_local_sink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What start.sh exports offline (TWILIO_AUTH_TOKEN, no account): webhooks can be
    checked, and nothing is sent through Twilio."""
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_MESSAGING_SERVICE_SID", raising=False)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+14155550100")
    sms = SmsSettings.from_env()
    assert sms.auth_token == TOKEN and not sms.live
