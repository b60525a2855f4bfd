"""SMS fixtures: Redis DB 2 (flushed per test), the desk's webhook and Rasa's SMS channel in
real servers with a stand-in bot, and a Stoplight Prism mock serving Twilio's OpenAPI spec."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from bot.sms.settings import SmsSettings
from tests.conftest import ROOT, RedisServer, free_port, wait_until
from tests.support.sms import TOKEN, Prism, SmsServer, StubBot, sms_servers

SMS_DB = 2
PRISM = ROOT / "node_modules" / ".bin" / "prism"
TWILIO_SPEC = ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"


@pytest.fixture(scope="session")
def sms_redis_url(redis_server: RedisServer) -> str:
    return re.sub(r"/\d+$", f"/{SMS_DB}", redis_server.url)


@pytest_asyncio.fixture
async def redis(sms_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(sms_redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.close()


@pytest.fixture
def settings(sms_redis_url: str) -> SmsSettings:
    """Offline defaults: no Twilio account (local sink), no quiet hours, fast retries."""
    return SmsSettings(
        redis_url=sms_redis_url,
        auth_token=TOKEN,
        rate_per_sec=1000.0,
        quiet_hours=None,
        retry_base_s=0.01,
        retry_cap_s=0.05,
        send_timeout_s=5.0,
        reclaim_idle_s=60.0,
    )


@pytest_asyncio.fixture(scope="module")
async def _sms_server(sms_redis_url: str) -> AsyncIterator[SmsServer]:
    settings = SmsSettings(redis_url=sms_redis_url, auth_token=TOKEN)
    async with sms_servers(settings, StubBot()) as servers:
        yield servers


@pytest_asyncio.fixture
async def sms_server(
    _sms_server: SmsServer, redis: aioredis.Redis, sms_redis_url: str
) -> AsyncIterator[SmsServer]:
    """The channel server, reset for each test (settings, stand-in bot; Redis flushed)."""
    _sms_server.channel.settings = SmsSettings(redis_url=sms_redis_url, auth_token=TOKEN)
    _sms_server.incoming.settings = _sms_server.channel.settings
    bot = _sms_server.bot
    bot.messages.clear()
    bot.responses = None
    bot.fail = False
    bot.gate.set()
    # The first-contact menu is a second SMS after every first answer; these tests count
    # answers, so it is off here and on in its own tests (tests/sms/test_channel.py).
    _sms_server.channel.turns.menu = None
    yield _sms_server
    bot.gate.set()
    await _sms_server.channel.turns.drain()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    """`prism mock` of Twilio's 2010 API spec on a free loopback port."""
    if not PRISM.exists() or not TWILIO_SPEC.exists():
        pytest.fail("Prism or the Twilio spec is missing; run npm ci")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    proc = subprocess.Popen(
        [str(PRISM), "mock", str(TWILIO_SPEC), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        wait_until(
            lambda: "Prism is listening" in log.read_text(errors="replace"), 90, "prism", [proc]
        )
        yield Prism(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
