"""Login throttling (issue 8, item 10): the attempt is counted before the password is
checked, atomically, per (user, client address) with backoff and per address; the client
address comes from X-Forwarded-For only when a trusted proxy sends it.

The parallel tests run against the real desk process (python -m bot.desk)."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import make_mocked_request

from bot.desk.auth import TrustedProxies
from bot.desk.console.sessions import FREE_ATTEMPTS, PER_ADDRESS, LoginThrottle
from tests.support.handoff import PASSWORD, TRUSTED_PROXY, DeskProcess, create_user

LOGIN_ERROR = "用户名或密码错误"


async def login_attempt(
    url: str,
    name: str,
    password: str,
    *,
    source: str = "127.0.0.1",
    forwarded_for: str | None = None,
) -> int:
    """One browser's login (own cookie jar), from the loopback address `source`."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from an IP address
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        form = await session.get(url + "/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        response = await session.post(
            url + "/console/login",
            data={"username": name, "password": password, "csrf_token": token},
            headers=headers,
            allow_redirects=False,
        )
        if response.status == 401:
            assert LOGIN_ERROR in await response.text()
        if response.status == 429:
            assert int(response.headers["Retry-After"]) > 0
        return response.status


async def test_forty_parallel_guesses_get_five_password_checks(
    desk_process: DeskProcess, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang")
    url = desk_process.url
    statuses = await asyncio.gather(
        *(login_attempt(url, "wang.fang", f"wrong password {i}") for i in range(40))
    )
    # 401 = the password was checked (and wrong); 429 = refused before argon2 ran.
    assert statuses.count(401) <= FREE_ATTEMPTS, statuses
    assert statuses.count(401) + statuses.count(429) == 40, statuses
    # The right password from the same address waits too...
    assert await login_attempt(url, "wang.fang", PASSWORD) == 429
    # ...and a forged X-Forwarded-For from an untrusted peer changes nothing.
    assert await login_attempt(url, "wang.fang", PASSWORD, forwarded_for="198.51.100.7") == 429
    # The agent, elsewhere, still logs in: nobody can lock them out from one address.
    assert await login_attempt(url, "wang.fang", PASSWORD, source="127.0.0.2") == 303
    # Behind the trusted proxy the client is the address the proxy saw.
    proxied = await login_attempt(
        url, "wang.fang", PASSWORD, source=TRUSTED_PROXY, forwarded_for="203.0.113.9"
    )
    assert proxied == 303


async def test_the_address_limit_covers_every_name(
    desk_process: DeskProcess, redis: aioredis.Redis
) -> None:
    """One client trying many names meets the per-address limit (here via the proxy)."""
    await create_user(redis, "wang.fang")
    url = desk_process.url

    async def guess(name: str) -> int:
        return await login_attempt(
            url, name, "wrong password", source=TRUSTED_PROXY, forwarded_for="203.0.113.50"
        )

    statuses = await asyncio.gather(*(guess(f"user{i:02d}") for i in range(40)))
    assert statuses.count(401) == PER_ADDRESS and statuses.count(429) == 40 - PER_ADDRESS
    # Another client behind the same proxy is not affected.
    ok = await login_attempt(
        url, "wang.fang", PASSWORD, source=TRUSTED_PROXY, forwarded_for="203.0.113.51"
    )
    assert ok == 303


async def next_attempt(throttle: LoginThrottle) -> None:
    """Polls until the pair may try again (and so counts that attempt)."""
    for _ in range(100):
        if not await throttle.reserve("wang.fang", "10.0.0.1"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("still locked after 5 s")


async def test_backoff_doubles_and_success_starts_afresh(redis: aioredis.Redis) -> None:
    throttle = LoginThrottle(redis, free=2, base_lock_s=0.4, max_lock_s=1.0)
    assert await throttle.reserve("wang.fang", "10.0.0.1") == 0
    assert await throttle.reserve("wang.fang", "10.0.0.1") == 0  # the 2nd locks the pair
    assert await throttle.reserve("wang.fang", "10.0.0.1") == 1  # (rounded up to 1 s)
    assert await throttle.reserve("wang.fang", "10.0.0.2") == 0  # another address: free
    await asyncio.sleep(0.45)
    started = time.monotonic()
    assert await throttle.reserve("wang.fang", "10.0.0.1") == 0  # one more try...
    await next_attempt(throttle)  # ...then twice as long
    assert 0.7 <= time.monotonic() - started <= 1.2
    # Capped: the next lock is max_lock_s, not 1.6 s.
    started = time.monotonic()
    await next_attempt(throttle)
    assert time.monotonic() - started <= 1.2
    await throttle.succeeded("wang.fang", "10.0.0.1")
    assert await throttle.reserve("wang.fang", "10.0.0.1") == 0


def _request(peer: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    request = make_mocked_request("GET", "/", headers=headers)
    request._transport_peername = (peer, 1234)  # type: ignore[attr-defined]
    return request


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", "198.51.100.1", "192.0.2.1"),  # not a proxy: the header is ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client wrote 6.6.6.6
        ("10.0.0.5", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two proxies of ours
        ("10.0.0.5", "not-an-ip", "10.0.0.5"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"),
    ],
)
def test_client_address_trusts_only_configured_proxies(
    peer: str, forwarded: str, expected: str
) -> None:
    proxies = TrustedProxies.parse(["10.0.0.0/24"])
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert proxies.client_address(_request(peer, headers)) == expected


def test_forwarded_proto_only_from_a_trusted_proxy() -> None:
    proxies = TrustedProxies.parse(["10.0.0.5"])
    https = {"X-Forwarded-Proto": "https"}
    assert proxies.is_https(_request("10.0.0.5", https))
    assert not proxies.is_https(_request("192.0.2.1", https))
    assert not proxies.is_https(_request("10.0.0.5", {}))
    assert not TrustedProxies().is_https(_request("10.0.0.5", https))


def test_a_bad_proxy_setting_names_the_variable() -> None:
    with pytest.raises(ValueError, match="KEFU_TRUSTED_PROXIES"):
        TrustedProxies.parse(["10.0.0.0/33"])
