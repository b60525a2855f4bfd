"""Console sessions in Redis, their cookie, CSRF tokens and login throttling.

- The cookie holds a random token; Redis holds only its SHA-256, so a copy of the
  database does not give anyone a working session.
- Each session has its own CSRF token: pages carry it in a <meta> tag and in forms, and
  every state-changing request must send it back (X-CSRF-Token header or csrf_token field).
- The login form (no session yet) uses a double-submit token: a cookie and a form field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from bot.desk.users import PREFIX, User

COOKIE = "kefu_session"
LOGIN_CSRF_COOKIE = "kefu_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
IDLE_TTL_S = 8 * 3600  # a shift; every request extends it
MAX_AGE_S = 12 * 3600  # and no session outlives this


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_key(token: str) -> str:
    return f"{PREFIX}session:{_hash(token)}"


def tokens_equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


@dataclass(frozen=True)
class Session:
    token: str
    username: str
    csrf: str
    created_at: float


class SessionStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._r = redis

    async def create(self, user: User) -> Session:
        token = secrets.token_urlsafe(32)
        session = Session(token, user.username, secrets.token_urlsafe(32), time.time())
        key = session_key(token)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "username": session.username,
                    "csrf": session.csrf,
                    "created_at": repr(session.created_at),
                },
            )
            pipe.expire(key, IDLE_TTL_S)
            await pipe.execute()
        return session

    async def get(self, token: str | None) -> Session | None:
        if not token or len(token) > 100:
            return None
        key = session_key(token)
        raw = await self._r.hgetall(key)
        if not raw.get("username"):
            return None
        created = float(raw.get("created_at") or 0)
        if time.time() - created > MAX_AGE_S:
            await self._r.delete(key)
            return None
        await self._r.expire(key, IDLE_TTL_S)
        return Session(token, raw["username"], raw["csrf"], created)

    async def delete(self, token: str) -> None:
        await self._r.delete(session_key(token))


def cookie_secure(request: web.Request, setting: str) -> bool:
    if setting in ("1", "true", "yes"):
        return True
    if setting in ("0", "false", "no"):
        return False
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    setting: str,
    max_age: int,
    path: str = "/console",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request, setting),
    )


class LoginThrottle:
    """Failed logins per user name and per client address, in a sliding-ish window.

    Counting by name stops guessing one agent's password from many addresses; counting by
    address stops one client trying many names. A success clears the name's counter.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        per_user: int = 5,
        per_address: int = 30,
        window_s: int = 900,
    ) -> None:
        self._r = redis
        self.per_user = per_user
        self.per_address = per_address
        self.window_s = window_s

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (
            f"{PREFIX}throttle:user:{username[:64]}",
            f"{PREFIX}throttle:addr:{address[:64]}",
        )

    async def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        user_key, addr_key = self._keys(username, address)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.get(user_key)
            pipe.ttl(user_key)
            pipe.get(addr_key)
            pipe.ttl(addr_key)
            user_count, user_ttl, addr_count, addr_ttl = await pipe.execute()
        waits = [0]
        if int(user_count or 0) >= self.per_user:
            waits.append(max(int(user_ttl), 1))
        if int(addr_count or 0) >= self.per_address:
            waits.append(max(int(addr_ttl), 1))
        return max(waits)

    async def failed(self, username: str, address: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            for key in self._keys(username, address):
                pipe.incr(key)
                pipe.expire(key, self.window_s, nx=True)
            await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self._r.delete(self._keys(username, "")[0])
