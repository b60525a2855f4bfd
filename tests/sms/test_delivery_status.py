"""Twilio delivery status callbacks on the desk (bot.sms.delivery_status): signed like the
inbound webhook, recorded on the outbox message, in a real aiohttp server and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import web

from bot import db
from bot.http import REDIS
from bot.sms import delivery_status, optout, outbox
from bot.sms.settings import STATUS_PATH, SmsSettings
from tests.conftest import free_port
from tests.support.sms import CUSTOMER, TOKEN, post_signed, post_status

PUBLIC = "https://kefu.example.com"


async def _serve(settings: SmsSettings) -> AsyncIterator[str]:
    app = web.Application(client_max_size=64 * 1024)  # as the desk (bot.desk.app)

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = db.connect(settings.redis_url)
        yield
        await app[REDIS].close()

    app.cleanup_ctx.append(redis_ctx)
    delivery_status.setup(app, settings)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def desk(sms_redis_url: str) -> AsyncIterator[str]:
    """The status route as the desk serves it, with no public URL configured."""
    async for url in _serve(SmsSettings(redis_url=sms_redis_url, auth_token=TOKEN)):
        yield url


async def test_status_callbacks_are_recorded_per_outbox_message(
    desk: str, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "您的工单已受理", kind="notice")
    twilio_sid = "SM" + "ab" * 16
    await outbox.mark_sent(redis, message_id, None, twilio_sid=twilio_sid, twilio_status="queued")
    sent = await post_status(http, desk, message_id, twilio_sid, "sent")
    delivered = await post_status(http, desk, message_id, twilio_sid, "delivered")
    late_sent = await post_status(http, desk, message_id, twilio_sid, "sent")  # out of order
    assert [r.status for r in (sent, delivered, late_sent)] == [204, 204, 204]
    record = await outbox.get(redis, message_id)
    assert record["status"] == "delivered" and record["twilio_status"] == "delivered"
    history = [
        e["status"] for e in await outbox.history(redis, message_id) if e["event"] == "callback"
    ]
    assert history == ["sent", "delivered", "sent"]

    # Without ?id= the Twilio SID finds the message; ErrorCode is recorded.
    [other] = await outbox.enqueue(redis, CUSTOMER, "提醒", kind="reminder")
    other_sid = "SM" + "cd" * 16
    await outbox.mark_sent(redis, other, None, twilio_sid=other_sid, twilio_status="queued")
    failed = await post_status(http, desk, None, other_sid, "undelivered", "30003")
    assert failed.status == 204
    record = await outbox.get(redis, other)
    assert record["status"] == "undelivered" and record["twilio_error_code"] == "30003"


async def test_status_callback_is_signature_checked_and_validated(
    desk: str, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    sid = "SM" + "ef" * 16
    forged = await post_status(http, desk, message_id, sid, "delivered", token="bad")
    assert forged.status == 403
    assert (await outbox.get(redis, message_id))["status"] == "pending"
    unknown = await post_status(http, desk, "OB" + "0" * 22, sid, "delivered")
    assert unknown.status == 404 and (await unknown.json())["field"] == "id"
    bad_status = await post_status(http, desk, message_id, sid, "exploded")
    assert bad_status.status == 400 and (await bad_status.json())["field"] == "MessageStatus"
    bad_id = await post_status(http, desk, "../../etc", sid, "sent")
    assert bad_id.status == 400 and (await bad_id.json())["field"] == "id"
    for code in ("①", "٣", "３0001"):
        bad_code = await post_status(http, desk, message_id, sid, "failed", code)
        assert bad_code.status == 400 and (await bad_code.json())["field"] == "ErrorCode"


async def test_twilio_21610_callback_opts_the_number_out(
    desk: str, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    response = await post_status(http, desk, message_id, "SM" + "12" * 16, "failed", "21610")
    assert response.status == 204
    assert await optout.is_opted_out(redis, CUSTOMER)


async def test_signed_over_the_public_url_behind_the_proxy(
    sms_redis_url: str, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    """The StatusCallback Twilio calls is SMS_PUBLIC_URL + /webhooks/sms/status?id=...; the
    desk checks the signature over that URL, not the one it sees."""
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    sid = "SM" + "34" * 16
    params = {"MessageSid": sid, "MessageStatus": "delivered", "To": CUSTOMER}
    path = f"{STATUS_PATH}?id={message_id}"
    settings = SmsSettings(redis_url=sms_redis_url, auth_token=TOKEN, public_url=PUBLIC)
    async for url in _serve(settings):
        internal = await post_signed(http, url, params, path=path)
        assert internal.status == 403
        public = await post_signed(http, url, params, path=path, signed_url=PUBLIC + path)
        assert public.status == 204
    assert (await outbox.get(redis, message_id))["status"] == "delivered"


async def test_refuses_unsigned_and_non_form_requests(
    desk: str, http: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    url = f"{desk}{STATUS_PATH}?id={message_id}"
    async with http.post(url, data={"MessageSid": "SM" + "56" * 16}) as unsigned:
        assert unsigned.status == 403
        assert (await unsigned.json())["field"] == "X-Twilio-Signature"
    params = {"MessageSid": "SM" + "56" * 16, "MessageStatus": "sent"}
    as_json = await post_signed(
        http,
        desk,
        params,
        path=f"{STATUS_PATH}?id={message_id}",
        body=b"{}",
        headers={"Content-Type": "application/json"},
    )
    assert as_json.status == 415
    huge = await post_signed(
        http, desk, params, path=f"{STATUS_PATH}?id={message_id}", body=b"a" * 100_000
    )
    assert huge.status == 413
    assert (await outbox.get(redis, message_id))["status"] == "pending"
