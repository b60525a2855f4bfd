"""Shared fixtures: a real Redis server and the running Kefu stack.

Everything is started by the tests themselves on free ports, so the suite runs
on a fresh machine (after scripts/setup.sh) and never touches a developer's
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
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "latest.tar.gz"
SMS_TEST_TOKEN = "kefu-test-auth-token-0123456789ab"
DESK_TEST_TOKEN = "kefu-test-desk-token"
RASA_TOKEN = "kefu-test-rasa-token"  # Rasa's HTTP API (--enable-api --auth-token)


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

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server with the project's durable configuration."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed; run scripts/setup.sh")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            "redis-server",
            str(ROOT / "redis.conf"),
            "--port",
            str(port),
            "--dir",
            str(data),
            "--appendfsync",
            "everysec",
        ],  # tests need speed more than power-cut safety
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(port, f"redis://127.0.0.1:{port}/0", proc)
    wait_until(lambda: server.client().ping(), 10, "redis-server", [proc])
    yield server
    proc.terminate()
    proc.wait(10)


@dataclass
class Stack:
    rasa_url: str
    desk_url: str
    redis: RedisServer
    logs: Path


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Action server, Rasa (socket.io channel, Redis tracker and lock stores) and the desk."""
    if not MODEL.exists():
        pytest.fail("no trained model; run scripts/train.sh (scripts/test.sh does)")
    logs = tmp_path_factory.mktemp("logs")
    rasa_port, actions_port, desk_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_server.port),
        "REDIS_DB": "0",
        "REDIS_PASSWORD": "",
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_PUBLIC_URL": f"http://127.0.0.1:{rasa_port}",
        "DESK_HOST": "127.0.0.1",
        "DESK_PORT": str(desk_port),
        # The SMS channel checks signatures with this token (tests sign like Twilio);
        # with no Twilio account the desk delivers SMS to the local sink in Redis.
        "TWILIO_AUTH_TOKEN": SMS_TEST_TOKEN,
        "DESK_API_TOKEN": DESK_TEST_TOKEN,
        # Handoff: the desk calls Rasa's HTTP API; agents around the clock for the tests.
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "RASA_TOKEN": RASA_TOKEN,
        "KEFU_BUSINESS_HOURS_FILE": str(ROOT / "tests" / "handoff" / "data" / "always_open.yml"),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
    }
    bin_dir = Path(sys.executable).parent
    procs = [
        _spawn(
            [
                str(bin_dir / "rasa"),
                "run",
                "actions",
                "--actions",
                "actions",
                "--port",
                str(actions_port),
            ],
            env,
            logs / "actions.log",
        ),
        _spawn(
            [
                str(bin_dir / "rasa"),
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                "credentials.yml",
                "--port",
                str(rasa_port),
                "--cors",
                "*",
                "--enable-api",
                "--auth-token",
                RASA_TOKEN,
            ],
            env,
            logs / "rasa.log",
        ),
        _spawn([sys.executable, "-m", "bot.desk"], env, logs / "desk.log"),
    ]
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{actions_port}/health"), 60, "action server", procs
        )
        wait_until(lambda: http_ok(f"http://127.0.0.1:{desk_port}/healthz"), 30, "desk", procs)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{rasa_port}/"), 180, "rasa", procs)
        yield Stack(
            f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{desk_port}", redis_server, logs
        )
    except BaseException:
        for log in sorted(logs.iterdir()):
            sys.stderr.write(
                f"\n===== {log.name} =====\n{log.read_text(errors='replace')[-4000:]}\n"
            )
        raise
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


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
