"""Console sessions in Redis, their cookie, CSRF tokens and login throttling.

- The cookie holds a random token; Redis holds only its SHA-256, so a copy of the
  database does not give anyone a working session.
- Each session has its own CSRF token: pages carry it in a <meta> tag and in forms, and
  every state-changing request must send it back (X-CSRF-Token header or csrf_token field).
- The login form (no session yet) uses a double-submit token: a cookie and a form field.
- Each user has an index of their sessions (bot.desk.users.user_sessions_key), so a
  password change or `disable` ends all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from bot.desk.auth import TrustedProxies
from bot.desk.users import PREFIX, SESSION_PREFIX, User, user_sessions_key

COOKIE = "kefu_session"
LOGIN_CSRF_COOKIE = "kefu_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
IDLE_TTL_S = 8 * 3600  # a shift; every request extends it
MAX_AGE_S = 12 * 3600  # and no session outlives this


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_key(token: str) -> str:
    return SESSION_PREFIX + _hash(token)


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
        index = user_sessions_key(user.username)
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
            pipe.sadd(index, _hash(token))
            pipe.expire(index, MAX_AGE_S)  # outlives every session in it
            await pipe.execute()
        return session

    async def get(self, token: str | None) -> Session | None:
        if not token or len(token) > 100:
            return None
        key = session_key(token)
        raw = await self._r.hgetall(key)
        if not raw.get("username"):
            return None
        try:
            created = float(raw.get("created_at") or 0)
        except ValueError:
            created = 0.0
        if time.time() - created > MAX_AGE_S:
            await self._r.delete(key)
            return None
        await self._r.expire(key, IDLE_TTL_S)
        return Session(token, raw["username"], raw["csrf"], created)

    def valid_for(self, session: Session, user: User | None) -> bool:
        """The session still belongs to an enabled user and predates no revocation."""
        return (
            user is not None
            and not user.disabled
            and user.username == session.username
            and session.created_at > user.sessions_after
        )

    async def delete(self, session: Session) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(session_key(session.token))
            pipe.srem(user_sessions_key(session.username), _hash(session.token))
            await pipe.execute()


def cookie_secure(request: web.Request, setting: str, proxies: TrustedProxies) -> bool:
    if setting in ("1", "true", "yes"):
        return True
    if setting in ("0", "false", "no"):
        return False
    return proxies.is_https(request)


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    setting: str,
    max_age: int,
    proxies: TrustedProxies,
    path: str = "/console",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request, setting, proxies),
    )


# KEYS[1] = (user, address) hash {n, locked_until}; KEYS[2] = the address's counter.
# ARGV = free attempts, base lock ms, max lock ms, attempts per address, window s.
# The attempt is counted *before* the password is checked, in one script: of 40 logins
# at once, exactly as many as allowed get to argon2, the rest are refused here.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, base, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_addr, window = tonumber(ARGV[4]), tonumber(ARGV[5])
if tonumber(redis.call('GET', KEYS[2]) or '0') >= per_addr then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 1 then ttl = 1000 end
  return ttl
end
local locked = tonumber(redis.call('HGET', KEYS[1], 'locked_until') or '0')
if locked > now then return locked - now end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local until_ms = now
if n >= free then
  local delay = base * 2 ^ (n - free)
  if delay > cap then delay = cap end
  until_ms = now + delay
  redis.call('HSET', KEYS[1], 'locked_until', string.format('%.0f', until_ms))
end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', until_ms - now + window * 1000))
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], window) end
return 0
"""

# A right password: the pair starts afresh and the attempt does not count for the address
# (a whole office behind one NAT logs in at the start of a shift).
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
"""


FREE_ATTEMPTS = 5  # password checks per (user, address) before the first lock
PER_ADDRESS = 30  # failed logins per client address per window, whatever the names


class LoginThrottle:
    """Login attempts per (user name, client address), with exponential backoff, and per
    address.

    Keyed by the pair, not by the name alone, so that nobody can lock an agent out by
    failing on their name from somewhere else; the per-address limit stops one client
    trying many names. After `free` failed attempts the pair waits `base_lock_s`, then
    twice that after each further failure, up to `max_lock_s`.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        free: int = FREE_ATTEMPTS,
        base_lock_s: float = 30.0,
        max_lock_s: float = 3600.0,
        per_address: int = PER_ADDRESS,
        window_s: int = 900,
    ) -> None:
        self._r = redis
        self.free = free
        self.base_lock_s = base_lock_s
        self.max_lock_s = max_lock_s
        self.per_address = per_address
        self.window_s = window_s
        self._reserve = redis.register_script(_RESERVE)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _keys(self, username: str, address: str) -> list[str]:
        user = hashlib.sha256(username.encode()).hexdigest()[:32]  # any text, fixed length
        return [
            f"{PREFIX}throttle:pair:{user}:{address[:64]}",
            f"{PREFIX}throttle:addr:{address[:64]}",
        ]

    async def reserve(self, username: str, address: str) -> int:
        """Counts an attempt before the password is checked. 0: go ahead and verify;
        otherwise the seconds to wait (nothing was counted)."""
        wait_ms = await self._reserve(
            keys=self._keys(username, address),
            args=[
                self.free,
                int(self.base_lock_s * 1000),
                int(self.max_lock_s * 1000),
                self.per_address,
                self.window_s,
            ],
        )
        wait_ms = int(wait_ms)
        return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))

    async def succeeded(self, username: str, address: str) -> None:
        await self._succeeded(keys=self._keys(username, address), args=[])
