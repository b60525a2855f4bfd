"""K6: while Redis is down, the desk's /api/sms/* routes answer 503 JSON naming the storage,
like the other desk APIs, not a plain-text 500.

A real desk process on its own redis-server, which the test stops (the shared one stays up
for every other test)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    DESK_TEST_TOKEN,
    RedisServer,
    free_port,
    http_ok,
    stack_env,
    start_process,
    start_redis,
    stop_processes,
    wait_until,
)

ROUTES = ("/api/sms/outbox", "/api/sms/outbox/OB0123456789abcdef", "/api/sms/sink?limit=5")


@pytest.fixture
def desk_alone(tmp_path: Path) -> Iterator[tuple[str, RedisServer]]:
    redis = start_redis(tmp_path)
    desk_port = free_port()
    env = stack_env(redis, free_port(), free_port(), desk_port)
    desk = start_process("desk", env, tmp_path)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{desk_port}/healthz"), 30, "desk", [desk])
        yield f"http://127.0.0.1:{desk_port}", redis
    finally:
        stop_processes([desk])
        if redis.process.poll() is None:
            redis.process.terminate()
            redis.process.wait(10)


def _get(url: str) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {DESK_TEST_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.mark.stack
def test_sms_api_answers_503_json_while_redis_is_down(
    desk_alone: tuple[str, RedisServer],
) -> None:
    desk_url, redis = desk_alone
    status, _type, body = _get(desk_url + "/api/sms/outbox")
    assert status == 200 and json.loads(body) == {"messages": []}

    redis.process.terminate()
    redis.process.wait(10)
    for route in ROUTES:
        status, content_type, body = _get(desk_url + route)
        assert status == 503, (route, status, body)
        assert content_type.startswith("application/json")
        assert json.loads(body)["field"] == "storage"
