"""Helpers for SMS tests: webhooks signed exactly as Twilio signs them, and the local sink.

Usable against any server serving the SMS webhook (sms_servers() here, or the real desk
of the `stack` fixture started with TWILIO_AUTH_TOKEN=TOKEN):

    params = inbound("我要投诉", sender="+8613800138000")
    response = await post_signed(session, desk_url, params)
    replies = await wait_for_sink(redis, "+8613800138000", count=1)
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot import db
from bot.http import REDIS
from bot.sms import outbox, sink
from bot.sms.channel import SmsInput
from bot.sms.incoming import IncomingMessages
from bot.sms.sender import Sender
from bot.sms.settings import STATUS_PATH, WEBHOOK_PATH, SmsSettings
from tests.conftest import SMS_TEST_TOKEN, free_port

TOKEN = SMS_TEST_TOKEN  # the stack fixture starts Rasa with it
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CUSTOMER = "+8613800138000"
OUR_NUMBER = "+14155550100"

T = TypeVar("T")


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound(body: str | None, sender: str | None = CUSTOMER, **extra: str) -> dict[str, str]:
    """The form fields Twilio posts for an incoming SMS (None leaves a field out)."""
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": "",
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": "",
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "FromCountry": "CN",
        "To": OUR_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": "",
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
    }
    sid = extra.pop("MessageSid", None) or message_sid()
    params.update(MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    if body is not None:
        params["Body"] = body
    if sender is not None:
        params["From"] = sender
    params.update(extra)
    return params


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def post_signed(
    session: aiohttp.ClientSession,
    base_url: str,
    params: dict[str, str],
    *,
    path: str = WEBHOOK_PATH,
    signed_url: str | None = None,
    token: str = TOKEN,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """POSTs `params` form-encoded to base_url+path, signed over `signed_url` (default: the
    same URL; pass the public URL when the server sits behind a proxy)."""
    url = base_url.rstrip("/") + path
    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(signed_url or url, params, token),
        **(headers or {}),
    }
    data = body if body is not None else urlencode(params).encode()
    async with session.post(url, data=data, headers=all_headers) as response:
        await response.read()
        return response


async def post_status(
    session: aiohttp.ClientSession,
    base_url: str,
    outbox_id: str | None,
    twilio_sid: str,
    status: str,
    error_code: str = "",
    token: str = TOKEN,
) -> aiohttp.ClientResponse:
    params = {
        "AccountSid": ACCOUNT_SID,
        "From": OUR_NUMBER,
        "To": CUSTOMER,
        "MessageSid": twilio_sid,
        "SmsSid": twilio_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    path = STATUS_PATH + (f"?id={outbox_id}" if outbox_id else "")
    return await post_signed(session, base_url, params, path=path, token=token)


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Polls `probe` until it returns something truthy; returns it (or fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


async def read_sink(redis: aioredis.Redis, to: str | None = None) -> list[dict]:
    return await sink.read(redis, to=to, count=1000)


async def wait_for_sink(
    redis: aioredis.Redis, to: str, count: int = 1, timeout: float = 30.0
) -> list[dict]:
    """Waits until the local sink holds at least `count` SMS for `to`; returns them."""

    async def probe() -> list[dict]:
        got = await read_sink(redis, to)
        return got if len(got) >= count else []

    return await eventually(probe, timeout)


class Texter:
    """A customer with a phone on a running stack: each text waits for the bot's replies
    in the local sink."""

    def __init__(
        self, desk_url: str, session: aiohttp.ClientSession, redis: aioredis.Redis, phone: str
    ) -> None:
        self.desk_url, self.session, self.redis, self.phone = desk_url, session, redis, phone

    async def text(self, body: str, expect: int = 1) -> list[str]:
        before = len(await read_sink(self.redis, self.phone))
        response = await post_signed(self.session, self.desk_url, inbound(body, self.phone))
        assert response.status == 200
        sent = await wait_for_sink(self.redis, self.phone, count=before + expect, timeout=60)
        return [m["body"] for m in sent[before:]]


async def drain_outbox(sender: Sender) -> None:
    """Processes everything in the outbox stream once (the worker loop, without the loop)."""
    await outbox.ensure_group(sender.redis)
    while True:
        batches = await sender.redis.xreadgroup(
            outbox.GROUP, "test", {outbox.STREAM: ">"}, count=10, block=None
        )
        entries = [e for _s, es in batches or [] for e in es]
        if not entries:
            return
        for entry_id, fields in entries:
            await sender.process(entry_id, fields["id"])


# ---- the SMS channel in a test server, and the Prism mock of Twilio (tests/sms/conftest.py) --


@dataclass
class StubBot:
    """Stands in for Rasa's agent: records messages and answers 'echo: <text>'."""

    messages: list[UserMessage] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    responses: list[dict[str, Any]] | None = None  # overrides the echo when set
    fail: bool = False

    def __post_init__(self) -> None:
        self.gate.set()

    async def __call__(self, message: UserMessage) -> None:
        await self.gate.wait()
        self.messages.append(message)
        if self.fail:
            raise RuntimeError("bot failure (test)")
        for response in self.responses or [{"text": f"echo: {message.text}"}]:
            await message.output_channel.send_response(message.sender_id, dict(response))


@dataclass
class SmsServer:
    """Both halves of inbound SMS: the desk's webhook at `url` (bot.sms.incoming), and Rasa's
    channel (bot.sms.channel, consuming the inbox) in a Sanic server at `rasa_url`."""

    url: str
    channel: SmsInput
    bot: StubBot
    incoming: IncomingMessages
    rasa_url: str

    def configure(self, **changes: Any) -> None:
        self.channel.settings = replace(self.channel.settings, **changes)
        self.incoming.settings = replace(self.incoming.settings, **changes)


@asynccontextmanager
async def sms_servers(settings: SmsSettings, bot: StubBot) -> AsyncIterator[SmsServer]:
    """The desk's webhook (aiohttp) and Rasa's SMS channel (Sanic) on free loopback ports,
    sharing `settings`' Redis, with `bot` standing in for Rasa's agent."""
    redis = db.connect(settings.redis_url)
    desk = web.Application()
    desk[REDIS] = redis
    incoming = IncomingMessages(settings)
    desk.router.add_post(WEBHOOK_PATH, incoming.handle)
    desk_server = TestServer(desk, host="127.0.0.1")
    await desk_server.start_server()

    channel = SmsInput(settings)
    app = Sanic(f"kefu_sms_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/sms")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.after_start()
    try:
        yield SmsServer(
            str(desk_server.make_url("")).rstrip("/"),
            channel,
            bot,
            incoming,
            f"http://127.0.0.1:{port}",
        )
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        await desk_server.close()
        await redis.close()


@dataclass
class Prism:
    url: str
    process: subprocess.Popen
