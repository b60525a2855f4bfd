"""A 401 from Twilio (our credentials rejected, e.g. a rotated auth token) pauses sending for
every desk and raises one supervisor alert; messages stay queued and go out exactly once
when the credentials work again (bot/sms/pause.py). Against the Prism mock of Twilio's
API, through a fault-injecting proxy (tests/support/twilio_proxy.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest_asyncio
import redis.asyncio as aioredis
from twilio.base.exceptions import TwilioRestException

from bot import db
from bot.sms import outbox, pause, sender
from bot.sms.settings import SmsSettings
from bot.tasks import Workers
from tests.support.sms import ACCOUNT_SID, OUR_NUMBER, TOKEN, Prism, eventually
from tests.support.twilio_proxy import TwilioProxy, twilio_error

UNAUTHORIZED = twilio_error(401, 20003, "Authenticate")
PHONES = [f"+86139{n:08d}" for n in range(8)]


@pytest_asyncio.fixture
async def proxy(prism: Prism) -> AsyncIterator[TwilioProxy]:
    fault_proxy = TwilioProxy(prism.url)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.close()


@pytest_asyncio.fixture
async def desks(
    settings: SmsSettings, proxy: TwilioProxy, sms_redis_url: str
) -> AsyncIterator[list[sender.Sender]]:
    """Two senders in Twilio mode, each with its own Redis client: two desks."""
    twilio = replace(
        settings,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_number=OUR_NUMBER,
        api_base=proxy.url,
        public_url="https://kefu.example.com",
        send_timeout_s=2.0,
        retry_base_s=0.05,
        retry_cap_s=0.3,  # a probe every 0.3 s (SmsSettings.auth_probe_s)
        max_attempts=2,
    )
    made: list[tuple[sender.Sender, sender.TwilioTransport, aioredis.Redis]] = []
    for i in range(2):
        client = db.connect(sms_redis_url)
        transport = sender.TwilioTransport(twilio)
        made.append(
            (sender.Sender(client, twilio, transport, consumer=f"desk{i}"), transport, client)
        )
    yield [worker for worker, _, _ in made]
    for _, transport, client in made:
        await transport.close()
        await client.close()


def test_a_401_is_an_authentication_error_not_a_permanent_failure() -> None:
    err = sender.classify(
        TwilioRestException(401, "https://api.twilio.com/x", "Authenticate", 20003)
    )
    assert err.auth and err.retry and err.code == "20003"
    assert not sender.classify(TwilioRestException(400, "u", "bad", 21211)).auth


async def test_a_rotated_token_pauses_every_desk_then_all_go_out_exactly_once(
    desks: list[sender.Sender], proxy: TwilioProxy, redis: aioredis.Redis
) -> None:
    proxy.refuse = lambda _form: UNAUTHORIZED  # every call refused until the token is fixed
    ids = []
    for i, phone in enumerate(PHONES):
        ids += await outbox.enqueue(redis, phone, f"停电通知 {i}", kind="notice")
    tasks = [(d, d.start(Workers())) for d in desks]
    try:
        await eventually(lambda: pause.paused(redis), timeout=10)
        await asyncio.sleep(0.5)  # the sends already under way when it paused end
        before = proxy.injected()
        await asyncio.sleep(1.5)  # paused: one probe per 0.3 s, from either desk
        probes = proxy.injected() - before
        assert 1 <= probes <= 1.5 / 0.3 + 1, probes  # not every message, again and again
        records = [await outbox.get(redis, i) for i in ids]
        assert {r["status"] for r in records} <= {"pending", "deferred"}  # queued, not failed
        assert proxy.created() == []
        [alert] = await pause.alerts(redis, time.time())
        assert alert["kind"] == "twilio_auth" and "401" in alert["error"]
        assert alert["resolved_at"] is None

        proxy.refuse = None  # the operator fixed the token: the next probe gets through

        async def all_sent() -> bool:
            records = [await outbox.get(redis, i) for i in ids]
            return all(r is not None and r["status"] == "sent" for r in records)

        await eventually(all_sent, timeout=30)
    finally:
        for worker, started in tasks:
            await worker.stop(started)
    created = [e.form["To"][0] for e in proxy.created()]
    assert sorted(created) == sorted(PHONES)  # each message reached Twilio exactly once
    assert await pause.paused(redis) is None
    [alert] = await pause.alerts(redis, time.time())
    assert alert["resolved_at"] is not None  # one alert for the whole episode, resolved
    for message_id in ids:
        events = [e["event"] for e in await outbox.history(redis, message_id)]
        assert "failed" not in events and events[-1] == "sent"


async def test_401s_beyond_max_attempts_never_fail_the_message(
    desks: list[sender.Sender], proxy: TwilioProxy, redis: aioredis.Redis
) -> None:
    proxy.faults = [UNAUTHORIZED] * 4  # max_attempts is 2
    [message_id] = await outbox.enqueue(redis, PHONES[0], "您的工单已受理", kind="reply")
    worker = desks[0]
    started = worker.start(Workers())
    try:

        async def settled() -> dict[str, str] | None:
            record = await outbox.get(redis, message_id)
            return record if record and record["status"] in ("sent", "failed") else None

        record = await eventually(settled, timeout=30)
    finally:
        await worker.stop(started)
    assert record["status"] == "sent" and proxy.injected() == 4
    assert len(proxy.created()) == 1
    assert await pause.paused(redis) is None
    assert len(await pause.alerts(redis, time.time())) == 1  # four 401s, one episode, one alert
