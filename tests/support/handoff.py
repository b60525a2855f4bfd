"""Handoff and desk fixtures: the real Redis (DB 3, flushed per test), a settable clock, a
stand-in Rasa HTTP API, desk apps with the console, and the end-to-end stack (built on
`stack`). A pytest plugin (tests/conftest.py: pytest_plugins), so tests/handoff, tests/desk,
tests/actions, tests/channels, tests/bot and the stack suites share one definition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import db
from bot.desk.app import create_app
from bot.desk.users import UserStore
from bot.handoff.hours import BusinessHours
from bot.handoff.policy import HandoffConfig, Messages, QueuePolicy
from bot.handoff.service import HandoffService, QueueTicket
from bot.settings import Settings
from bot.tickets.service import Policies, TicketService
from tests.conftest import (
    ROOT,
    RedisServer,
    free_port,
    http_ok,
    stack_env,
    start_process,
    stop_processes,
    wait_until,
)

DB = 3  # ours; other tests use DB 0-2
ALWAYS_OPEN = ROOT / "tests" / "handoff" / "data" / "always_open.yml"
# Wednesday 2026-11-25 10:00 in Shanghai: inside the default business hours.
OPEN_TIME = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc).timestamp()
PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self, now: float = OPEN_TIME) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def db_url(redis_server: RedisServer) -> str:
    return re.sub(r"/\d+$", f"/{DB}", redis_server.url)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = db.connect(db_url(redis_server))
    await client.flushdb()
    yield client
    await client.close()


@pytest.fixture
async def second_redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """Another connection pool: stands in for another process."""
    client = db.connect(db_url(redis_server))
    yield client
    await client.close()


@pytest.fixture(scope="session")
def config() -> HandoffConfig:
    """The project's queue policy and texts, with the default business hours."""
    return HandoffConfig.load()


@pytest.fixture(scope="session")
def open_config(config: HandoffConfig) -> HandoffConfig:
    """Agents around the clock: tests that are not about business hours."""
    return HandoffConfig(config.queue, BusinessHours.from_yaml(ALWAYS_OPEN), config.messages)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def ticket_policies() -> Policies:
    return Policies.load()


@pytest.fixture
def tickets(redis: aioredis.Redis, ticket_policies: Policies) -> TicketService:
    return TicketService.build(redis, ticket_policies)


@pytest.fixture
def service(
    redis: aioredis.Redis, config: HandoffConfig, tickets: TicketService, clock: FakeClock
) -> HandoffService:
    return HandoffService.build(redis, config, tickets=tickets, clock=clock)


def policy(**changes: Any) -> QueuePolicy:
    base = HandoffConfig.load().queue
    return QueuePolicy(**{**base.__dict__, **changes})


def messages() -> Messages:
    return HandoffConfig.load().messages


# ---- a stand-in for Rasa's HTTP API (tracker GET, events POST) ------------------------


@dataclass
class FakeRasa:
    """Records what the desk sends to Rasa and keeps a tracker per conversation."""

    token: str = "rasa-test-token-" * 2  # RASA_TOKEN needs 32 characters
    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    trackers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    paused: dict[str, bool] = field(default_factory=dict)
    fail: bool = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/conversations/{id:.+}/tracker", self._tracker)
        app.router.add_post("/conversations/{id:.+}/tracker/events", self._events)
        return app

    def _check(self, request: web.Request) -> None:
        if request.query.get("token") != self.token:
            raise web.HTTPUnauthorized()
        if self.fail:
            raise web.HTTPServiceUnavailable()

    async def _tracker(self, request: web.Request) -> web.Response:
        self._check(request)
        conversation = request.match_info["id"]
        return web.json_response(
            {
                "sender_id": conversation,
                "events": self.trackers.get(conversation, []),
                "paused": self.paused.get(conversation, False),
            }
        )

    async def _events(self, request: web.Request) -> web.Response:
        self._check(request)
        conversation = request.match_info["id"]
        events = await request.json()
        self.posts.append(
            {"conversation": conversation, "events": events, "query": dict(request.query)}
        )
        for event in events:
            if event["event"] == "pause":
                self.paused[conversation] = True
            elif event["event"] == "resume":
                self.paused[conversation] = False
            self.trackers.setdefault(conversation, []).append(event)
        return web.json_response({"sender_id": conversation})

    def events_for(self, conversation: str) -> list[dict[str, Any]]:
        return [e for p in self.posts if p["conversation"] == conversation for e in p["events"]]


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    rasa = FakeRasa()
    server = TestServer(rasa.app())
    await server.start_server()
    rasa.url = str(server.make_url("")).rstrip("/")
    yield rasa
    await server.close()


def desk_settings(redis_server: RedisServer, rasa: FakeRasa) -> Settings:
    return Settings(
        redis_url=db_url(redis_server),
        desk_host="127.0.0.1",
        desk_port=0,
        rasa_public_url="http://127.0.0.1:5005",
        api_token="desk-api-token",
        rasa_url=rasa.url,
        rasa_token=rasa.token,
    )


async def start_desk(settings: Settings) -> TestClient:
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


@pytest.fixture
async def desk(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> AsyncIterator[TestClient]:
    client = await start_desk(desk_settings(redis_server, fake_rasa))
    yield client
    await client.close()


@pytest.fixture
async def proxied_desk(
    redis: aioredis.Redis, redis_server: RedisServer, fake_rasa: FakeRasa
) -> AsyncIterator[TestClient]:
    """A desk behind a reverse proxy on 127.0.0.1 (KEFU_TRUSTED_PROXIES): it believes the
    X-Forwarded-* headers of this test client."""
    settings = desk_settings(redis_server, fake_rasa).copy(
        update={"trusted_proxies": ("127.0.0.1",)}
    )
    client = await start_desk(settings)
    yield client
    await client.close()


async def create_user(
    redis: aioredis.Redis, name: str, role: str = "agent", display: str | None = None
) -> None:
    await UserStore(redis).create(name, role, PASSWORD, display or name)


async def login(
    client: TestClient | aiohttp.ClientSession, name: str, password: str = PASSWORD
) -> str:
    """Logs in through the form; returns the session's CSRF token. `client`: a test
    client, or a session on a desk process (aiohttp.ClientSession(base_url=...))."""
    form = await client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    response = await client.post(
        "/console/login",
        data={"username": name, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    page = await client.get("/console/")
    assert page.status == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', await page.text()).group(1)


async def eventually(probe, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


async def queue_customer(
    redis: aioredis.Redis, config: HandoffConfig, conversation: str, **kwargs: Any
) -> QueueTicket:
    service = HandoffService.build(redis, config)
    await service.presence.heartbeat("someone")
    outcome = await service.request(conversation, kwargs.pop("channel", "socketio"), **kwargs)
    assert isinstance(outcome, QueueTicket)
    return outcome


async def post(
    client: TestClient, csrf: str, path: str, body: Any = None
) -> aiohttp.ClientResponse:
    return await client.post(path, json=body, headers={"X-CSRF-Token": csrf})


# ---- the real desk process (python -m bot.desk), without Rasa ---------------------------

# The desk believes X-Forwarded-For from this address only (a second loopback address:
# tests connect from it to play the reverse proxy).
TRUSTED_PROXY = "127.0.0.3"


@dataclass
class DeskProcess:
    url: str
    redis_url: str
    process: subprocess.Popen


@pytest.fixture
def desk_process(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    fake_rasa: FakeRasa,
    tmp_path: Path,
) -> Iterator[DeskProcess]:
    """The desk as it runs in production, on Redis DB 3 (flushed), behind a trusted proxy
    at TRUSTED_PROXY, with the stand-in Rasa."""
    with running_desk(redis_server, fake_rasa, tmp_path) as desk:
        yield desk


@contextlib.contextmanager
def running_desk(
    redis_server: RedisServer, fake_rasa: FakeRasa, logs: Path
) -> Iterator[DeskProcess]:
    """A `python -m bot.desk` process as desk_process describes; its log goes to
    logs/desk.log (one directory per process)."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **stack_env(redis_server, free_port(), free_port(), port, db=DB),
        "RASA_URL": fake_rasa.url,
        "RASA_TOKEN": fake_rasa.token,
        "KEFU_TRUSTED_PROXIES": TRUSTED_PROXY,
    }
    proc = start_process("desk", env, logs)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(url + "/healthz"), 30, "desk", [proc])
        yield DeskProcess(url, db_url(redis_server), proc)
    finally:
        stop_processes([proc])


# ---- end-to-end: the real stack -------------------------------------------------------


@dataclass
class HandoffStack:
    rasa_url: str
    desk_url: str
    redis_url: str
    agent: str
    password: str


@pytest.fixture(scope="session")
def handoff_stack(stack) -> Iterator[HandoffStack]:  # type: ignore[no-untyped-def]
    """The `stack` fixture plus a console agent, created with the users CLI.

    Needs the stack to run Rasa with --enable-api --auth-token $RASA_TOKEN, the desk with
    RASA_URL and RASA_TOKEN, and KEFU_BUSINESS_HOURS_FILE=tests/handoff/data/always_open.yml
    (so the test does not depend on the time of day).
    """
    env = {**os.environ, "REDIS_URL": stack.redis.url, "KEFU_DESK_PASSWORD": PASSWORD}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.desk.users",
            "create",
            "--name",
            "e2e.agent",
            "--role",
            "agent",
            "--display-name",
            "测试客服",
            "--update",
        ],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    yield HandoffStack(stack.rasa_url, stack.desk_url, stack.redis.url, "e2e.agent", PASSWORD)
