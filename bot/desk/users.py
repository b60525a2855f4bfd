"""Console users (agents and supervisors) with argon2id password hashes, in Redis.

    python -m bot.desk.users create --name wang.fang --role agent [--display-name 王芳]
    python -m bot.desk.users passwd --name wang.fang
    python -m bot.desk.users disable --name wang.fang
    python -m bot.desk.users list

`passwd` and `disable` end every console session of that user at once (the console's
websockets notice within seconds).

The password comes from KEFU_DESK_PASSWORD or, if unset, a prompt (asked twice). Use the
roster's agent ids (content/policy/roster.yml) as user names: that is how a ticket's owner is
recognised in the console and gets first claim on their customer's chats.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot import db, settings
from bot.handoff.agent_ops import Staff
from bot.tickets.roster import Roster

PREFIX = "kefu:desk:"
USERS = PREFIX + "users"
ROLES = ("agent", "supervisor")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_DISPLAY_NAME = 40
SESSION_PREFIX = PREFIX + "session:"  # + SHA-256 of the cookie (bot.desk.console.sessions)


def user_key(username: str) -> str:
    return f"{PREFIX}user:{username}"


def user_sessions_key(username: str) -> str:
    """The index of a user's sessions: what a password change or `disable` revokes."""
    return f"{PREFIX}user_sessions:{username}"


# KEYS[1] = the user's session index; ARGV[1] = the session key prefix.
_REVOKE = """
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return #ids
"""


async def revoke_sessions(redis: aioredis.Redis, username: str) -> int:
    """Ends every console session of `username`; returns how many there were."""
    return int(await redis.eval(_REVOKE, 1, user_sessions_key(username), SESSION_PREFIX))


class UserError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False
    # Sessions created before this (epoch s) are void: set by a password change or
    # `disable`, so a session created in a race with the revocation dies too.
    sessions_after: float = 0.0

    @property
    def staff(self) -> Staff:
        return Staff(self.username, self.display_name, self.role)


def _seconds(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            "password", f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )


class UserStore:
    def __init__(self, redis: aioredis.Redis, hasher: PasswordHasher | None = None) -> None:
        self._r = redis
        self._hasher = hasher or PasswordHasher()
        # Verifying against this for unknown users makes their timing look like a real one.
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        # argon2 is deliberately slow (tens of ms): keep it off the event loop.
        return await asyncio.to_thread(self._hasher.hash, password)

    async def create(
        self,
        username: str,
        role: str,
        password: str,
        display_name: str | None = None,
        *,
        replace: bool = False,
    ) -> User:
        if not USERNAME.fullmatch(username or ""):
            raise UserError("name", "user names are 2-32 of a-z 0-9 . _ - (lower case)")
        if role not in ROLES:
            raise UserError("role", f"role must be one of {', '.join(ROLES)}")
        display = (display_name or username).strip()
        if not display or len(display) > MAX_DISPLAY_NAME:
            raise UserError("display-name", f"display names have 1-{MAX_DISPLAY_NAME} characters")
        _check_password(password)
        user = User(username, display, role, await self._hash(password))
        fields = {
            "username": username,
            "display_name": display,
            "role": role,
            "password_hash": user.password_hash,
            "disabled": "0",
            "created_at": repr(time.time()),
        }
        key = user_key(username)
        if replace:  # a new password (and maybe role): the old sessions end
            fields["sessions_after"] = fields["created_at"]
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)
                pipe.sadd(USERS, username)
                await pipe.execute()
            await revoke_sessions(self._r, username)
            return user
        created = await self._r.hsetnx(key, "username", username)
        if not created:
            raise UserError("name", f"user {username} already exists")
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.sadd(USERS, username)
            await pipe.execute()
        return user

    async def get(self, username: str) -> User | None:
        if not USERNAME.fullmatch(username or ""):
            return None
        raw = await self._r.hgetall(user_key(username))
        if not raw.get("password_hash"):
            return None
        return User(
            raw["username"],
            raw.get("display_name") or raw["username"],
            raw.get("role", "agent"),
            raw["password_hash"],
            raw.get("disabled") == "1",
            _seconds(raw.get("sessions_after")),
        )

    async def list(self) -> list[User]:
        users = [await self.get(name) for name in sorted(await self._r.smembers(USERS))]
        return [u for u in users if u is not None]

    async def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        if await self.get(username) is None:
            raise UserError("name", f"no user {username}")
        fields = {"password_hash": await self._hash(password), "sessions_after": repr(time.time())}
        await self._r.hset(user_key(username), mapping=fields)
        await revoke_sessions(self._r, username)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        if await self.get(username) is None:
            raise UserError("name", f"no user {username}")
        fields = {"disabled": "1" if disabled else "0"}
        if disabled:
            fields["sessions_after"] = repr(time.time())
        await self._r.hset(user_key(username), mapping=fields)
        if disabled:
            await revoke_sessions(self._r, username)

    async def verify(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled; else None."""
        user = await self.get(username)
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return None
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash("not-a-real-password-0000")
            await asyncio.to_thread(self._safe_verify, self._dummy_hash, password)
            return None
        if not await asyncio.to_thread(self._safe_verify, user.password_hash, password):
            return None
        if user.disabled:
            return None
        if self._hasher.check_needs_rehash(user.password_hash):
            await self._r.hset(user_key(username), "password_hash", await self._hash(password))
        return user

    def _safe_verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


# ---- command line ---------------------------------------------------------------------


def _read_password() -> str:
    from_env = settings.get().secret("desk_password")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise UserError("password", "set KEFU_DESK_PASSWORD or run in a terminal")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise UserError("password", "the passwords differ")
    return first


def _default_display_name(username: str) -> str:
    try:
        roster = Roster.from_dir(settings.get().policy_dir)
        return roster.display_name(username, "zh") or username
    except Exception:  # noqa: BLE001 - a display name is a nicety, not a reason to fail
        return username


async def _main(args: argparse.Namespace) -> int:
    redis = db.connect(settings.get().redis_url)
    store = UserStore(redis)
    try:
        if args.command == "create":
            user = await store.create(
                args.name,
                args.role,
                _read_password(),
                args.display_name or _default_display_name(args.name),
                replace=args.update,
            )
            print(f"{'updated' if args.update else 'created'} {user.role} {user.username}")
        elif args.command == "passwd":
            await store.set_password(args.name, _read_password())
            print(f"password changed for {args.name}")
        elif args.command in ("disable", "enable"):
            await store.set_disabled(args.name, args.command == "disable")
            print(f"{args.name} {args.command}d")
        else:
            for user in await store.list():
                state = " (disabled)" if user.disabled else ""
                print(f"{user.username}\t{user.role}\t{user.display_name}{state}")
        return 0
    except UserError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await redis.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.desk.users", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a console user")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--display-name", help="shown to customers (default: roster name)")
    create.add_argument("--update", action="store_true", help="replace an existing user")
    for command in ("passwd", "disable", "enable"):
        sub.add_parser(command).add_argument("--name", required=True)
    sub.add_parser("list")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
