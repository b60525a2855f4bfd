"""The process entry points' settings (bot/settings.py, bot/rasa_server.py, actions/server.py)
and the desk's Redis memory watch, without the whole stack."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from actions.server import token_error
from bot import db
from bot.desk.redis_watch import RedisMemoryWatch
from bot.rasa_server import rasa_argv
from bot.settings import SettingsError
from tests.conftest import ROOT, free_port, start_redis

TOKEN = "ab" * 32
ENV = {"RASA_TOKEN": TOKEN, "KEFU_ACTION_TOKEN": "cd" * 32}


def test_rasa_runs_on_loopback_with_the_token_in_memory_and_desk_cors() -> None:
    args, extra = rasa_argv([], {**ENV, "DESK_PORT": "8100"})
    assert args[args.index("--interface") + 1] == "127.0.0.1"
    assert f"--auth-token={TOKEN}" in args
    cors = args[args.index("--cors") + 1 :]
    assert cors == ["http://localhost:8100", "http://127.0.0.1:8100"]
    assert extra == {
        "SANIC_REQUEST_MAX_SIZE": "1048576",
        "KEFU_TRACKER_RETENTION_S": "2592000",
        "TICKET_LOCK_LIFETIME": "30",
    }


def test_rasa_settings_from_the_environment() -> None:
    env = {
        **ENV,
        "RASA_HOST": "10.0.0.5",
        "KEFU_CORS_ORIGINS": "https://kefu.example.com https://www.example.com",
        "KEFU_MAX_REQUEST_BYTES": "65536",
        "KEFU_TRACKER_RETENTION_S": "86400",
        "TICKET_LOCK_LIFETIME": "45",
    }
    args, extra = rasa_argv(["--debug"], env)
    assert args[args.index("--interface") + 1] == "10.0.0.5"
    assert args[-3:] == ["https://kefu.example.com", "https://www.example.com", "--debug"]
    assert extra == {
        "SANIC_REQUEST_MAX_SIZE": "65536",
        "KEFU_TRACKER_RETENTION_S": "86400",
        "TICKET_LOCK_LIFETIME": "45",
    }


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        ([], {"KEFU_ACTION_TOKEN": "cd" * 32}, "RASA_TOKEN"),
        ([], {**ENV, "RASA_TOKEN": "short"}, "RASA_TOKEN"),
        ([], {"RASA_TOKEN": TOKEN}, "KEFU_ACTION_TOKEN"),
        (["--auth-token", TOKEN], ENV, "RASA_TOKEN"),
        ([], {**ENV, "KEFU_CORS_ORIGINS": "*"}, "KEFU_CORS_ORIGINS"),
        ([], {**ENV, "KEFU_MAX_REQUEST_BYTES": "①"}, "KEFU_MAX_REQUEST_BYTES"),
        ([], {**ENV, "KEFU_TRACKER_RETENTION_S": "0"}, "KEFU_TRACKER_RETENTION_S"),
        ([], {**ENV, "KEFU_TRACKER_RETENTION_S": "30d"}, "KEFU_TRACKER_RETENTION_S"),
    ],
)
def test_rasa_refuses_unsafe_or_malformed_settings(argv: list, env: dict, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        rasa_argv(argv, env)


@pytest.mark.parametrize("module", ["actions.server", "bot.rasa_server"])
def test_entry_points_refuse_to_start_without_their_secret(module: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert ("KEFU_ACTION_TOKEN" if module == "actions.server" else "RASA_TOKEN") in done.stderr


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        ("Basic " + TOKEN, 401),
        ("Bearer ", 401),
        ("Bearer " + TOKEN[:-1], 403),
        ("Bearer " + TOKEN + "0", 403),
        ("Bearer ①" + TOKEN[1:], 403),
    ],
)
def test_action_token_check(header: str | None, status: int) -> None:
    refusal = token_error(header, TOKEN)
    assert refusal is not None and refusal.status == status
    assert token_error("Bearer " + TOKEN, TOKEN) is None
    assert token_error("bearer " + TOKEN, TOKEN) is None


@pytest.fixture(scope="module")
def small_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A throwaway Redis with the project's redis.conf (the shared one must not fill up)."""
    server = start_redis(tmp_path_factory.mktemp("r"), "appendonly no", password=None)
    yield server.port
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
async def watch(small_redis: int) -> AsyncIterator[RedisMemoryWatch]:
    client = db.connect(f"redis://127.0.0.1:{small_redis}/0")
    await client.config_set("maxmemory", "1gb")
    await client.flushall()
    yield RedisMemoryWatch(client)
    await client.config_set("maxmemory", "1gb")
    await client.flushall()
    await client.close()


async def test_a_full_redis_refuses_writes_and_the_desk_logs_an_error(
    watch: RedisMemoryWatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = await watch.check()
    assert (first.state, first.max_bytes, first.policy) == ("ok", 1024**3, "noeviction")
    used = first.used_bytes
    await watch.redis.config_set("maxmemory", str(used + 512 * 1024))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(2000):
            await watch.redis.set(f"kefu:ticket:{i}", "x" * 1024)
    assert await watch.redis.get("kefu:ticket:0") == "x" * 1024  # nothing evicted
    with caplog.at_level(logging.WARNING, logger="bot.desk.redis_watch"):
        full = await watch.check()
    assert full.state == "full"
    assert any(r.levelno == logging.ERROR and "Redis is full" in r.message for r in caplog.records)


async def test_nearly_full_is_a_warning_and_recovery_is_noticed(
    watch: RedisMemoryWatch, caplog: pytest.LogCaptureFixture
) -> None:
    used = (await watch.check()).used_bytes
    await watch.redis.config_set("maxmemory", str(int(used / 0.95)))
    with caplog.at_level(logging.INFO, logger="bot.desk.redis_watch"):
        assert (await watch.check()).state == "near_full"
        await watch.redis.config_set("maxmemory", "1gb")
        assert (await watch.check()).state == "ok"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


async def test_an_evicting_redis_is_reported_as_misconfigured(
    watch: RedisMemoryWatch, caplog: pytest.LogCaptureFixture
) -> None:
    await watch.redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level(logging.WARNING, logger="bot.desk.redis_watch"):
            status = await watch.check()
    finally:
        await watch.redis.config_set("maxmemory-policy", "noeviction")
    assert status.policy == "allkeys-lru"
    assert "noeviction" in caplog.text


async def test_unreachable_redis_is_unknown() -> None:
    client = db.connect(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert (await RedisMemoryWatch(client).check()).state == "unknown"
    finally:
        await client.close()
