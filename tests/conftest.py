"""Shared fixtures: a real Redis server and the running Kefu stack.

Everything is started by the tests themselves on free ports, so the suite runs
on a fresh machine (after scripts/setup.sh --dev) and never touches a developer's
Redis or a running `scripts/start.sh`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sanic import Sanic

# Several test modules start Rasa's channels in an in-process Sanic server. Sanic rewrites
# its protocol's methods at the first start ("TouchUp"); in test mode it keeps the
# originals, so a second app in the same session can start too.
Sanic.test_mode = True

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "latest.tar.gz"
SMS_TEST_TOKEN = "kefu-test-auth-token-0123456789ab"
DESK_TEST_TOKEN = "kefu-test-desk-token"
# Hex like start.sh's (secrets.token_hex(32)); the entry points refuse shorter secrets.
RASA_TOKEN = "7e57" + "a" * 60  # Rasa's HTTP API, passed in the environment only
ACTION_TOKEN = "7e57" + "b" * 60  # KEFU_ACTION_TOKEN: Rasa -> action server
REDIS_PASSWORD = "7e57" + "c" * 60  # requirepass of the test redis-server
WEB_SESSION_SECRET = "7e57" + "d" * 60  # KEFU_WEB_SESSION_SECRET: signs web session tokens
METRICS_TOKEN = "7e57" + "e" * 60  # KEFU_METRICS_TOKEN: Prometheus's scrape token

# The handoff/desk fixtures (Redis DB 3, the stand-in Rasa, desk apps and processes) serve
# tests/handoff, tests/desk, tests/actions, tests/channels, tests/bot and the stack suites.
pytest_plugins = ["tests.support.handoff"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, procs: list[subprocess.Popen] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: process {proc.args[:3]} exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
        return response.status == 200


@dataclass
class RedisServer:
    port: int
    url: str
    process: subprocess.Popen
    password: str = REDIS_PASSWORD

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def db_url(self, db: int) -> str:
        """The URL of another database on this server (with the password)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"


def start_redis(
    data: Path, *config: str, password: str | None = REDIS_PASSWORD, port: int | None = None
) -> RedisServer:
    """A real redis-server with the project's redis.conf plus `config` lines, data in `data`
    (`port`: a free one unless given, e.g. to start a stopped server again).

    Configuration goes in on stdin, like start.sh does: the password stays off the command
    line, which every local user can read.
    """
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed; run scripts/setup.sh")
    port = port or free_port()
    proc = subprocess.Popen(
        ["redis-server", "-", "--port", str(port), "--dir", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdin is not None
    lines = [f"include {ROOT / 'redis.conf'}", *config]
    if password:
        lines.append(f"requirepass {password}")
    proc.stdin.write(("\n".join(lines) + "\n").encode())
    proc.stdin.close()
    auth = f":{password}@" if password else ""
    server = RedisServer(port, f"redis://{auth}127.0.0.1:{port}/0", proc)
    wait_until(lambda: server.client().ping(), 10, "redis-server", [proc])
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The suite's Redis: durable configuration, fsync relaxed (tests need speed more than
    power-cut safety)."""
    server = start_redis(tmp_path_factory.mktemp("redis"), "appendfsync everysec")
    yield server
    server.process.terminate()
    server.process.wait(10)


@dataclass
class Stack:
    rasa_url: str
    desk_url: str
    redis: RedisServer
    logs: Path
    actions_url: str = ""
    # The processes, for tests of what they expose (bound addresses, cmdlines).
    procs: tuple[subprocess.Popen, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def kill(self, name: str) -> None:
        """SIGKILLs the stack's process `name` (a STACK_COMMANDS key), like a crash: no
        shutdown hook runs. Start it again with `start(name)` before the test ends."""
        [proc] = [p for p in self.procs if p.args == STACK_COMMANDS[name] and p.poll() is None]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)
        self.procs = tuple(p for p in self.procs if p is not proc)

    def start(self, name: str) -> None:
        """Starts `name` again as the stack started it; returns once it answers."""
        health = {
            "actions": f"{self.actions_url}/health",
            "rasa": f"{self.rasa_url}/",
            "desk": f"{self.desk_url}/healthz",
        }[name]
        proc = start_process(name, self.env, self.logs, append=True)
        self.procs = (*self.procs, proc)
        wait_until(lambda: http_ok(health), 240, name, [proc])


def _spawn(
    args: list[str], env: dict[str, str], log: Path, append: bool = False
) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab" if append else "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stack_env(
    redis_server: RedisServer, rasa_port: int, actions_port: int, desk_port: int, db: int = 0
) -> dict[str, str]:
    """The environment of the stack's processes (Redis database `db`)."""
    return {
        **os.environ,
        "REDIS_URL": redis_server.db_url(db),
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_server.port),
        "REDIS_DB": str(db),
        "REDIS_PASSWORD": REDIS_PASSWORD,
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_PUBLIC_URL": f"http://127.0.0.1:{rasa_port}",
        "DESK_HOST": "127.0.0.1",
        "DESK_PORT": str(desk_port),
        # The SMS channel checks signatures with this token (tests sign like Twilio);
        # with no Twilio account the desk delivers SMS to the local sink in Redis.
        "TWILIO_AUTH_TOKEN": SMS_TEST_TOKEN,
        "DESK_API_TOKEN": DESK_TEST_TOKEN,
        # The send rate paces the local sink too (bot/sms/ratelimit.py); an outage notice
        # to a whole demo area must not hold the tests' replies up for a minute.
        "SMS_RATE_PER_SEC": "100",
        # The stack's tests must not depend on the time of day they run at (quiet hours
        # hold notices and return visits; their own tests use an injected clock).
        "SMS_QUIET_HOURS": "off",
        # Handoff: the desk calls Rasa's HTTP API; agents around the clock for the tests.
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        # Secrets travel in the environment only (tests/test_processes.py checks cmdlines).
        "RASA_TOKEN": RASA_TOKEN,
        "KEFU_ACTION_TOKEN": ACTION_TOKEN,
        "KEFU_WEB_SESSION_SECRET": WEB_SESSION_SECRET,
        "KEFU_METRICS_TOKEN": METRICS_TOKEN,
        "ACTIONS_PORT": str(actions_port),
        "RASA_PORT": str(rasa_port),
        "KEFU_CORS_ORIGINS": f"http://127.0.0.1:{desk_port} http://localhost:{desk_port}",
        "KEFU_BUSINESS_HOURS_FILE": str(ROOT / "tests" / "handoff" / "data" / "always_open.yml"),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
    }


# The stack's processes; tests that restart one (tests/integration/test_sms_crash.py)
# start it the same way.
STACK_COMMANDS = {
    "actions": [sys.executable, "-m", "actions.server"],
    "rasa": [sys.executable, "-m", "bot.rasa_server", "--model", str(MODEL)],
    "desk": [sys.executable, "-m", "bot.desk"],
}


def start_process(
    name: str, env: dict[str, str], logs: Path, append: bool = False
) -> subprocess.Popen:
    return _spawn(STACK_COMMANDS[name], env, logs / f"{name}.log", append)


def stop_processes(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Action server, Rasa (socket.io channel, Redis tracker and lock stores) and the desk."""
    if not MODEL.exists():
        pytest.fail("no trained model; run scripts/train.sh (scripts/test.sh does)")
    logs = tmp_path_factory.mktemp("logs")
    rasa_port, actions_port, desk_port = free_port(), free_port(), free_port()
    env = stack_env(redis_server, rasa_port, actions_port, desk_port)
    procs = [start_process(name, env, logs) for name in ("actions", "rasa", "desk")]
    stack = Stack(
        f"http://127.0.0.1:{rasa_port}",
        f"http://127.0.0.1:{desk_port}",
        redis_server,
        logs,
        f"http://127.0.0.1:{actions_port}",
        tuple(procs),
        env,
    )
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{actions_port}/health"), 60, "action server", procs
        )
        wait_until(lambda: http_ok(f"http://127.0.0.1:{desk_port}/healthz"), 30, "desk", procs)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{rasa_port}/"), 180, "rasa", procs)
        yield stack
    except BaseException:
        for log in sorted(logs.iterdir()):
            sys.stderr.write(
                f"\n===== {log.name} =====\n{log.read_text(errors='replace')[-4000:]}\n"
            )
        raise
    finally:
        stop_processes([*procs, *stack.procs])  # and any a test started again


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (one per test module)."""
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def open_widget(browser: Browser, desk_url: str) -> Page:
    """A new visitor on the demo website, once the chat widget is connected."""
    page = browser.new_context(locale="zh-CN").new_page()
    page.set_default_timeout(30_000)
    page.goto(desk_url + "/")
    expect(page.locator("#kefu-chat")).to_have_attribute("data-state", "online")
    return page


def type_in_widget(page: Page, text: str) -> None:
    """What a visitor does: type in the widget's box and press Enter."""
    page.fill("#kefu-input", text)
    page.press("#kefu-input", "Enter")
