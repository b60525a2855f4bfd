"""Console users: argon2 hashes, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from bot.desk.users import UserError, UserStore, user_key
from tests.conftest import ROOT, RedisServer
from tests.support.handoff import PASSWORD, db_url


async def test_passwords_are_argon2_hashed_and_verified(redis: aioredis.Redis) -> None:
    users = UserStore(redis)
    user = await users.create("wang.fang", "agent", PASSWORD, "王芳")
    stored = await redis.hgetall(user_key("wang.fang"))
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(stored)
    assert (await users.verify("wang.fang", PASSWORD)) == user
    assert await users.verify("wang.fang", PASSWORD + "x") is None
    assert await users.verify("nobody", PASSWORD) is None
    assert await users.verify("wang.fang", "x" * 10_000) is None
    await users.set_disabled("wang.fang", True)
    assert await users.verify("wang.fang", PASSWORD) is None


async def test_bad_input_names_the_field(redis: aioredis.Redis) -> None:
    users = UserStore(redis)
    await users.create("wang.fang", "agent", PASSWORD)
    cases = [
        (("wang.fang", "agent", PASSWORD), "name"),  # exists
        (("Bad Name", "agent", PASSWORD), "name"),
        (("li.na", "admin", PASSWORD), "role"),
        (("li.na", "agent", "short"), "password"),
    ]
    for args, field in cases:
        with pytest.raises(UserError) as exc:
            await users.create(*args)
        assert exc.value.field == field


def test_cli_creates_users_with_the_password_from_the_environment(
    redis_server: RedisServer,
) -> None:
    env = {**os.environ, "REDIS_URL": db_url(redis_server), "KEFU_DESK_PASSWORD": PASSWORD}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot.desk.users", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    import redis as sync_redis

    sync_redis.Redis.from_url(db_url(redis_server)).flushdb()
    created = cli("create", "--name", "li.na", "--role", "supervisor")
    assert created.returncode == 0, created.stderr
    assert "created supervisor li.na" in created.stdout
    listed = cli("list")
    assert "li.na\tsupervisor\t李娜" in listed.stdout  # display name from the roster
    again = cli("create", "--name", "li.na", "--role", "agent")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert cli("create", "--name", "li.na", "--role", "agent", "--update").returncode == 0
    env.pop("KEFU_DESK_PASSWORD")
    no_password = cli("passwd", "--name", "li.na")  # no terminal, no environment variable
    assert no_password.returncode == 2 and "KEFU_DESK_PASSWORD" in no_password.stderr
