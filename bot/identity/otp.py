"""One-time codes that prove a web visitor holds a phone.

Policy and texts: content/identity/verification.yml.

One pending code per conversation, in the hash kefu:identity:otp:{conversation_id}
(phone, salt, digest, wrong), expiring with the code. Only a salted SHA-256 of the code is
stored: a reader of Redis cannot type it in. Each check reserves its try in Redis before
comparing, so concurrent guesses cannot get past max_wrong. Sending is limited per
conversation and per phone (bot.ratelimit, GCRA in Redis). The SMS goes through the outbox as
kind "otp": exempt from quiet hours, and flagged `customer_requested` because the customer
asked for it in this conversation (the one reason it may reach an opted-out number).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

import redis.asyncio as aioredis
import yaml

from bot.ratelimit import Limiter, Quota
from bot.sms import outbox
from bot.text import is_ascii_digits

POLICY_FILE = Path(__file__).resolve().parents[2] / "content" / "identity" / "verification.yml"
PREFIX = "kefu:identity:otp:"
QUOTA_PREFIX = "kefu:identity:quota:"


@dataclass(frozen=True)
class Limit:
    count: int
    period_s: float


@dataclass(frozen=True)
class OtpPolicy:
    digits: int
    ttl_s: int
    max_wrong: int
    resend_per_conversation: Limit
    resend_per_phone: Limit
    unverified_lookup_per_conversation: Limit
    resend_words: tuple[str, ...]
    words_max_chars: int
    sms: dict[str, str]

    def sms_text(self, code: str, language: str) -> str:
        template = self.sms.get(language) or self.sms["zh"]
        return template.format(code=code, minutes=max(1, self.ttl_s // 60))

    def is_resend(self, text: str) -> bool:
        t = normalise(text)
        return len(t) <= self.words_max_chars and any(w in t for w in self.resend_words)


def normalise(text: str) -> str:
    """NFKC + casefold: full-width digits from a Chinese IME ("１２３") read as ASCII."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def as_code(text: object, digits: int) -> str | None:
    """The code a reply spells ("123 456", "１２３４５６" -> "123456"), or None."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    candidate = normalise(text).replace(" ", "").replace("-", "")
    return candidate if is_ascii_digits(candidate) and len(candidate) == digits else None


@lru_cache(maxsize=4)
def load_policy(path: Path = POLICY_FILE) -> OtpPolicy:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))

    def limit(item: dict[str, float]) -> Limit:
        return Limit(int(item["count"]), float(item["period_s"]))

    return OtpPolicy(
        digits=int(raw["code"]["digits"]),
        ttl_s=int(raw["code"]["ttl_s"]),
        max_wrong=int(raw["code"]["max_wrong"]),
        resend_per_conversation=limit(raw["resend"]["per_conversation"]),
        resend_per_phone=limit(raw["resend"]["per_phone"]),
        unverified_lookup_per_conversation=limit(raw["unverified_lookup"]["per_conversation"]),
        resend_words=tuple(normalise(w) for w in raw["words"]["resend"]),
        words_max_chars=int(raw["words"]["max_chars"]),
        sms={lang: str(text) for lang, text in raw["sms"].items()},
    )


def code_key(conversation_id: str) -> str:
    return f"{PREFIX}{conversation_id}"


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


class Outcome(str, Enum):
    SENT = "sent"
    LIMITED = "limited"  # too many codes for this conversation or this phone
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"  # max_wrong wrong tries: the code is dead
    EXPIRED = "expired"  # no live code (expired, used, or never sent)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    phone: str | None = None
    tries_left: int = 0
    retry_after_s: float = 0.0


def quota(limit: Limit, subject: str) -> Quota:
    """The Redis quota for `subject` (e.g. "send:phone:+86...") under `limit`."""
    return Quota(QUOTA_PREFIX + subject, limit.count, limit.period_s)


async def send_code(
    redis: aioredis.Redis,
    conversation_id: str,
    phone: str,
    language: str,
    policy: OtpPolicy | None = None,
) -> Result:
    """Sends a fresh code to `phone` (E.164), replacing any earlier one of this conversation.

    Call it only when the customer asked for a code in this conversation: the SMS is
    flagged customer_requested, which lets it reach a number that opted out.
    Raises outbox.OutboxError for a number the outbox cannot send to.
    """
    policy = policy or load_policy()
    wait = await Limiter(redis).try_acquire(
        quota(policy.resend_per_conversation, f"send:conversation:{conversation_id}"),
        quota(policy.resend_per_phone, f"send:phone:{phone}"),
    )
    if wait > 0:
        return Result(Outcome.LIMITED, phone, retry_after_s=wait)
    code = f"{secrets.randbelow(10**policy.digits):0{policy.digits}d}"
    salt = secrets.token_hex(16)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(code_key(conversation_id))
        pipe.hset(
            code_key(conversation_id),
            mapping={"phone": phone, "salt": salt, "digest": _digest(salt, code), "wrong": 0},
        )
        pipe.expire(code_key(conversation_id), policy.ttl_s)
        await pipe.execute()
    await outbox.enqueue(
        redis,
        phone,
        policy.sms_text(code, language),
        kind="otp",
        urgent=True,
        idempotency_key=f"otp:{salt}",
        conversation_id=conversation_id,
        customer_requested=True,
    )
    return Result(Outcome.SENT, phone, tries_left=policy.max_wrong)


# KEYS[1] = the code hash; ARGV[1] = max_wrong. Reserves one try before the comparison:
# returns {} (no code), {'locked'} or {'try', phone, salt, digest, wrong-after-this-try}.
_RESERVE_TRY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local wrong = tonumber(redis.call('HGET', KEYS[1], 'wrong') or '0')
if wrong >= tonumber(ARGV[1]) then return {'locked'} end
wrong = redis.call('HINCRBY', KEYS[1], 'wrong', 1)
local f = redis.call('HMGET', KEYS[1], 'phone', 'salt', 'digest')
return {'try', f[1], f[2], f[3], tostring(wrong)}
"""


async def check_code(
    redis: aioredis.Redis, conversation_id: str, code: str, policy: OtpPolicy | None = None
) -> Result:
    """VERIFIED (with the phone the code was sent to; the code is used up), WRONG (with the
    tries left), LOCKED or EXPIRED."""
    policy = policy or load_policy()
    reply = await redis.register_script(_RESERVE_TRY)(
        keys=[code_key(conversation_id)], args=[policy.max_wrong]
    )
    if not reply:
        return Result(Outcome.EXPIRED)
    if reply[0] == "locked":
        return Result(Outcome.LOCKED)
    _, phone, salt, digest, wrong = reply
    if hmac.compare_digest(_digest(salt, code), digest):
        await redis.delete(code_key(conversation_id))
        return Result(Outcome.VERIFIED, phone)
    tries_left = max(0, policy.max_wrong - int(wrong))
    if tries_left == 0:
        return Result(Outcome.LOCKED, phone)
    return Result(Outcome.WRONG, phone, tries_left=tries_left)


async def pending_phone(redis: aioredis.Redis, conversation_id: str) -> str | None:
    """The phone a live code of this conversation was sent to (for "resend")."""
    phone: str | None = await redis.hget(code_key(conversation_id), "phone")
    return phone
