"""One-time codes and verified phones against a real Redis (DB 6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from bot.identity import otp, verification
from bot.settings import SettingsError
from bot.sms import optout, outbox, segments
from bot.sms.sender import Sender
from bot.sms.settings import QuietHours, SmsSettings
from tests.conftest import RedisServer

DB = 6  # ours; other tests use DB 0-4
PHONE = "+8613800138000"
CONVERSATION = "web:" + "a" * 32


@pytest_asyncio.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.db_url(DB), decode_responses=True)
    await client.flushdb()
    yield client
    await client.close()


async def sent_code(redis: aioredis.Redis, conversation: str = CONVERSATION) -> str:
    """The code in the newest OTP the outbox holds for `conversation` (the SMS text)."""
    for message_id in reversed(await redis.zrange(outbox.RECENT, 0, -1)):
        fields = await redis.hgetall(outbox.msg_key(message_id))
        if fields["kind"] == "otp" and fields["conversation_id"] == conversation:
            code = "".join(c for c in fields["body"] if c in "0123456789")
            return code[:6]
    raise AssertionError("no OTP queued")


async def test_a_sent_code_verifies_once_and_only_its_hash_is_stored(
    redis: aioredis.Redis,
) -> None:
    result = await otp.send_code(redis, CONVERSATION, PHONE, "zh")
    assert result.outcome is otp.Outcome.SENT
    code = await sent_code(redis)
    stored = await redis.hgetall(otp.code_key(CONVERSATION))
    assert code not in str(stored) and stored["phone"] == PHONE
    assert 0 < await redis.ttl(otp.code_key(CONVERSATION)) <= 300

    verified = await otp.check_code(redis, CONVERSATION, code)
    assert verified.outcome is otp.Outcome.VERIFIED and verified.phone == PHONE
    again = await otp.check_code(redis, CONVERSATION, code)
    assert again.outcome is otp.Outcome.EXPIRED  # used up


async def test_the_code_belongs_to_its_conversation(redis: aioredis.Redis) -> None:
    await otp.send_code(redis, CONVERSATION, PHONE, "zh")
    code = await sent_code(redis)
    other = "web:" + "b" * 32
    assert (await otp.check_code(redis, other, code)).outcome is otp.Outcome.EXPIRED


async def test_five_wrong_tries_lock_the_code(redis: aioredis.Redis) -> None:
    await otp.send_code(redis, CONVERSATION, PHONE, "en")
    code = await sent_code(redis)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    tries = [await otp.check_code(redis, CONVERSATION, wrong) for _ in range(5)]
    assert [t.outcome for t in tries] == [otp.Outcome.WRONG] * 4 + [otp.Outcome.LOCKED]
    assert [t.tries_left for t in tries[:4]] == [4, 3, 2, 1]
    # Locked: even the right code no longer works.
    assert (await otp.check_code(redis, CONVERSATION, code)).outcome is otp.Outcome.LOCKED


async def test_concurrent_guesses_cannot_get_past_the_lock(redis: aioredis.Redis) -> None:
    await otp.send_code(redis, CONVERSATION, PHONE, "en")
    code = await sent_code(redis)
    guesses = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 41)]
    results = await asyncio.gather(*(otp.check_code(redis, CONVERSATION, g) for g in guesses))
    assert sum(r.outcome is otp.Outcome.WRONG for r in results) == 4
    assert (await otp.check_code(redis, CONVERSATION, code)).outcome is otp.Outcome.LOCKED


async def test_the_code_expires(redis: aioredis.Redis) -> None:
    policy = replace(otp.load_policy(), ttl_s=1)
    await otp.send_code(redis, CONVERSATION, PHONE, "zh", policy)
    code = await sent_code(redis)
    await redis.pexpire(otp.code_key(CONVERSATION), 1)  # time passes
    await asyncio.sleep(0.05)
    assert (await otp.check_code(redis, CONVERSATION, code, policy)).outcome is otp.Outcome.EXPIRED


async def test_resends_are_limited_per_conversation_and_per_phone(redis: aioredis.Redis) -> None:
    policy = otp.load_policy()
    per_conversation = policy.resend_per_conversation.count
    outcomes = [
        (await otp.send_code(redis, CONVERSATION, PHONE, "zh")).outcome
        for _ in range(per_conversation + 1)
    ]
    assert outcomes == [otp.Outcome.SENT] * per_conversation + [otp.Outcome.LIMITED]
    limited = await otp.send_code(redis, CONVERSATION, PHONE, "zh")
    assert limited.retry_after_s > 0

    # New conversations (a fresh web id each) still hit the per-phone limit.
    sent = per_conversation
    for i in range(20):
        result = await otp.send_code(redis, f"web:{i:032x}", PHONE, "zh")
        if result.outcome is otp.Outcome.LIMITED:
            break
        sent += 1
    assert sent == policy.resend_per_phone.count
    # Another phone is not affected.
    other = await otp.send_code(redis, "web:" + "c" * 32, "+8613900139000", "zh")
    assert other.outcome is otp.Outcome.SENT


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_sms_is_one_segment(language: str) -> None:
    text = otp.load_policy().sms_text("123456", language)
    assert "123456" in text and segments.count(text).segments == 1


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        ("１２３４５６", "123456"),
        ("12345", None),
        ("abcdef", None),
        ("٣٣٣٣٣٣", None),
        ("1234567", None),
    ],
)
def test_typed_codes(typed: str, code: str | None) -> None:
    assert otp.as_code(typed, 6) == code


async def test_otp_skips_quiet_hours_and_reaches_an_opted_out_number_only_when_asked(
    redis: aioredis.Redis,
) -> None:
    await optout.opt_out(redis, PHONE, source="test")
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    window = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    quiet = replace(SmsSettings.from_env(), quiet_hours=QuietHours.parse(window, "Asia/Shanghai"))
    sender = Sender(redis, quiet)  # offline: delivers to the local sink
    [notice] = await outbox.enqueue(redis, "+8613900139000", "notice", kind="notice")
    assert await sender.process(None, notice) == "deferred"  # it is quiet now
    asked = await otp.send_code(redis, CONVERSATION, PHONE, "zh")
    assert asked.outcome is otp.Outcome.SENT
    [asked_id] = await redis.zrange(outbox.RECENT, -1, -1)
    assert (await redis.hgetall(outbox.msg_key(asked_id)))["kind"] == "otp"
    assert await sender.process(None, asked_id) == "delivered"

    # The same kind without the customer's request is not sent to an opted-out number.
    [unasked_id] = await outbox.enqueue(redis, PHONE, "code 000000", kind="otp")
    assert await sender.process(None, unasked_id) == "skipped"


async def test_verified_phone_record(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await verification.verified_phone(redis, CONVERSATION) is None
    monkeypatch.setenv("KEFU_VERIFIED_PHONE_TTL_S", "120")
    stored = await verification.record_verified(redis, CONVERSATION, "138 0013 8000")
    assert stored == PHONE
    assert await verification.verified_phone(redis, CONVERSATION) == PHONE
    assert 0 < await redis.ttl(verification.verified_key(CONVERSATION)) <= 120
    assert await verification.verified_phone(redis, "web:" + "d" * 32) is None
    monkeypatch.setenv("KEFU_VERIFIED_PHONE_TTL_S", "①")  # not a number: refused, by name
    with pytest.raises(SettingsError, match="^KEFU_VERIFIED_PHONE_TTL_S: "):
        verification.ttl_s()
    monkeypatch.delenv("KEFU_VERIFIED_PHONE_TTL_S")
    assert verification.ttl_s() == verification.DEFAULT_TTL_S
