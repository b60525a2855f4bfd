"""The sender against Twilio's published API contract: the official twilio client, routed
to a Stoplight Prism mock of twilio_api_v2010.json through a thin fault-injecting proxy."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import web

from bot.sms import optout, outbox, sender
from bot.sms.settings import SmsSettings
from bot.tasks import Workers
from tests.conftest import free_port
from tests.support.sms import ACCOUNT_SID, CUSTOMER, OUR_NUMBER, TOKEN, Prism, eventually


@dataclass
class Exchange:
    method: str
    path: str
    form: dict[str, list[str]]
    status: int
    headers: dict[str, str]


@dataclass
class FaultProxy:
    """Forwards to Prism, except for the canned failures queued in `faults`."""

    upstream: str
    url: str = ""
    faults: list[tuple[int, dict]] = field(default_factory=list)
    slow_first_create: float = 0.0  # forward, then answer late: the client times out
    list_override: list[dict] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    injected: int = 0

    def created(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.status == 201]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.faults and request.method == "POST":
            status, payload = self.faults.pop(0)
            self.injected += 1
            return web.json_response(payload, status=status)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type", "accept")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            payload = await upstream.read()
            self.exchanges.append(
                Exchange(
                    request.method,
                    request.path,
                    parse_qs(body.decode(), keep_blank_values=True),
                    upstream.status,
                    dict(upstream.headers),
                )
            )
        if request.method == "GET" and self.list_override is not None:
            data = json.loads(payload)
            data["messages"] = self.list_override
            payload = json.dumps(data).encode()
        if request.method == "POST" and self.slow_first_create:
            delay, self.slow_first_create = self.slow_first_create, 0.0
            await asyncio.sleep(delay)
        return web.Response(body=payload, status=upstream.status, content_type="application/json")


@pytest_asyncio.fixture
async def proxy(prism: Prism) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy(prism.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fault_proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fault_proxy.url = f"http://127.0.0.1:{port}"
    yield fault_proxy
    await runner.cleanup()


@pytest_asyncio.fixture
async def live(
    settings: SmsSettings, proxy: FaultProxy, redis: aioredis.Redis
) -> AsyncIterator[sender.Sender]:
    """A Sender in Twilio mode whose API calls go to the proxy (then Prism)."""
    twilio_settings = replace(
        settings,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_number=OUR_NUMBER,
        api_base=proxy.url,
        public_url="https://kefu.example.com",
        send_timeout_s=2.0,
    )
    transport = sender.TwilioTransport(twilio_settings)
    yield sender.Sender(redis, twilio_settings, transport)
    await transport.close()


def twilio_error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {"code": code, "message": message, "more_info": "", "status": status}


async def run_until_settled(worker: sender.Sender, redis: aioredis.Redis, message_id: str) -> dict:
    """Runs the real worker loops until the message reaches a final state."""
    tasks = worker.start(Workers())
    try:

        async def settled() -> dict | None:
            record = await outbox.get(redis, message_id)
            return record if record["status"] in ("sent", "failed", "skipped") else None

        return await eventually(settled, timeout=30)
    finally:
        await worker.stop(tasks)


async def test_what_the_outbox_sends_passes_the_specs_request_validation(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(
        redis, CUSTOMER, "您的投诉已登记，工单号TK20261127-0042。", kind="reply"
    )
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent" and record["attempts"] == "1"
    assert record["twilio_sid"].startswith("SM") and record["twilio_status"] == "queued"
    [exchange] = proxy.exchanges
    assert exchange.status == 201 and "sl-violations" not in {k.lower() for k in exchange.headers}
    assert exchange.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert exchange.form == {
        "To": [CUSTOMER],
        "From": [OUR_NUMBER],
        "Body": ["您的投诉已登记，工单号TK20261127-0042。"],
        "StatusCallback": [f"https://kefu.example.com/webhooks/sms/status?id={message_id}"],
    }
    assert await redis.get(outbox.sid_key(record["twilio_sid"])) == message_id


async def test_a_request_that_breaks_the_spec_is_rejected_and_not_retried(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    # The spec requires MessagingServiceSid to match ^MG[0-9a-fA-F]{32}$.
    live.transport.settings = replace(live.transport.settings, messaging_service_sid="MG-not-a-sid")
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hello", kind="notice")
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "failed"
    assert record["error_code"] == "422" and "HTTP 422" in record["error"]
    assert record["attempts"] == "1"
    assert [e.status for e in proxy.exchanges] == [422]
    assert await redis.zcard(outbox.DELAYED) == 0


@pytest.mark.parametrize("failures", [[429], [500], [429, 503, 500]])
async def test_429_and_5xx_are_retried_then_delivered_exactly_once(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis, failures: list[int]
) -> None:
    proxy.faults = [twilio_error(s, 20429 if s == 429 else 20500, "try later") for s in failures]
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "Power is back on.", kind="notice")
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent"
    assert int(record["attempts"]) == len(failures) + 1
    assert proxy.injected == len(failures)
    assert len(proxy.created()) == 1  # exactly one message reached Twilio
    history = [e["event"] for e in await outbox.history(redis, message_id)]
    assert history == ["enqueued", *["deferred"] * len(failures), "sent"]


@pytest.mark.parametrize(("code", "opted_out"), [(21610, True), (21211, False), (21614, False)])
async def test_permanent_twilio_errors_are_recorded_without_retry(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis, code: int, opted_out: bool
) -> None:
    proxy.faults = [twilio_error(400, code, "permanent")]
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="reply")
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "failed" and record["error_code"] == str(code)
    assert record["attempts"] == "1" and proxy.exchanges == []
    assert sender.PERMANENT_ERRORS[code] in record["error"]
    assert await optout.is_opted_out(redis, CUSTOMER) is opted_out


async def test_gives_up_after_max_attempts(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    live.settings = replace(live.settings, max_attempts=3)
    proxy.faults = [twilio_error(503, 20503, "unavailable")] * 5
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "hi", kind="notice")
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "failed" and record["attempts"] == "3"
    assert record["error"].startswith("gave up after 3 attempts")
    assert proxy.created() == []


async def test_a_timed_out_send_that_reached_twilio_is_not_sent_again(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    body = "Your outage report OUT-7 is being handled."
    proxy.slow_first_create = 3.0  # Twilio creates the message but answers after our timeout
    [message_id] = await outbox.enqueue(redis, CUSTOMER, body, kind="notice")
    # When asked, Twilio (the list endpoint, shaped by the spec) shows the message exists.
    proxy.list_override = [
        {
            "sid": "SM" + "5a" * 16,
            "to": CUSTOMER,
            "body": body,
            "status": "sent",
            "date_created": "Thu, 01 Jan 2099 00:00:00 +0000",
        }
    ]
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent" and record["twilio_sid"] == "SM" + "5a" * 16
    assert len(proxy.created()) == 1
    assert [e.method for e in proxy.exchanges] == ["POST", "GET"]
    assert proxy.exchanges[1].status == 200  # the list request passed validation too


async def test_a_timed_out_send_that_never_arrived_is_sent_again(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    proxy.faults = []
    proxy.list_override = []
    [message_id] = await outbox.enqueue(redis, CUSTOMER, "retry me", kind="notice")
    original = live.transport.send
    calls = 0

    async def first_call_times_out(message: outbox.OutboxMessage) -> tuple[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:  # lost before reaching Twilio
            raise sender.SendError(True, "network", "TimeoutError", verify=True)
        return await original(message)

    live.transport.send = first_call_times_out  # type: ignore[method-assign]
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent" and record["attempts"] == "2"
    assert [e.method for e in proxy.exchanges] == ["GET", "POST"]


MESSAGING_SERVICE_SID = "MG" + "0123456789abcdef" * 2


async def test_a_messaging_service_sid_replaces_from_and_validity_goes_along(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    """With TWILIO_MESSAGING_SERVICE_SID set, Twilio picks the number from the service; a
    notice's validity travels as ValidityPeriod (seconds left), and both pass the spec."""
    live.transport.settings = replace(
        live.transport.settings, messaging_service_sid=MESSAGING_SERVICE_SID
    )
    valid_until = time.time() + 600
    [message_id] = await outbox.enqueue(
        redis, CUSTOMER, "朝阳区已恢复供电。", kind="notice", urgent=True, valid_until=valid_until
    )
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent"
    [exchange] = proxy.exchanges
    assert exchange.status == 201 and "sl-violations" not in {k.lower() for k in exchange.headers}
    assert exchange.form["MessagingServiceSid"] == [MESSAGING_SERVICE_SID]
    assert "From" not in exchange.form
    assert 590 <= int(exchange.form["ValidityPeriod"][0]) <= 600


async def test_a_validity_beyond_twilios_maximum_is_clamped(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(
        redis,
        CUSTOMER,
        "Planned outage on Friday.",
        kind="notice",
        urgent=True,
        valid_until=time.time() + 3 * 86400,
    )
    record = await run_until_settled(live, redis, message_id)
    assert record["status"] == "sent"
    [exchange] = proxy.exchanges
    assert exchange.form["ValidityPeriod"] == [str(sender.VALIDITY_MAX_S)]
    assert exchange.form["From"] == [OUR_NUMBER]


async def test_an_expired_notice_is_never_sent(
    live: sender.Sender, proxy: FaultProxy, redis: aioredis.Redis
) -> None:
    [message_id] = await outbox.enqueue(
        redis, CUSTOMER, "Power is back.", kind="notice", urgent=True, valid_until=time.time() - 1
    )
    tasks = live.start(Workers())
    try:

        async def finished() -> dict | None:
            record = await outbox.get(redis, message_id)
            return record if record["status"] == "expired" else None

        record = await eventually(finished, timeout=30)
    finally:
        await live.stop(tasks)
    assert record["reason"] == "expired" and record["attempts"] == "0"
    assert proxy.exchanges == []
