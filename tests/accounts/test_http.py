"""The HTTP backend against a local fake customer-data API (aiohttp, started by the test):
the documented paths and shapes, 404 as none, retries with backoff on timeouts, connection
errors and 5xx, none on other 4xx, and BackendUnavailable when the retries are used up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal as D

import pytest
import pytest_asyncio
from aiohttp import web

from bot.accounts.backend import BackendUnavailable
from bot.accounts.http import HttpBackend
from bot.accounts.models import Account, Bill, Reading
from tests.conftest import free_port

ACCOUNT = {
    "id": "A1",
    "holder_phone": "+8613800000001",
    "name": "王芳",
    "address": "北京市朝阳区建国路1号",
    "area": "chaoyang",
    "tariff": "residential_tiered",
    "language": "zh",
}
OTHER = {**ACCOUNT, "id": "A2", "area": "haidian", "holder_phone": "+8613800000002"}


@dataclass
class FakeApi:
    url: str
    hits: list[str] = field(default_factory=list)
    # path -> list of behaviours consumed one per request; the last one repeats.
    plan: dict[str, list[str]] = field(default_factory=dict)
    body: dict[str, object] = field(default_factory=dict)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeApi]:
    port = free_port()
    fake = FakeApi(f"http://127.0.0.1:{port}/v1")

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path  # decoded: "+8613800000001" arrives as sent, %2B decoded
        fake.hits.append(request.raw_path)
        steps = fake.plan.get(path, ["ok"])
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if step == "slow":
            await asyncio.sleep(2)
        elif step == "500":
            return web.json_response({"error": "boom"}, status=500)
        elif step == "503":
            return web.Response(status=503, text="busy")
        elif step == "400":
            return web.json_response({"error": "bad"}, status=400)
        elif step == "garbage":
            return web.Response(text="<html>not json</html>")
        elif step == "drop":
            # Close the connection without an answer: a connection error for the client.
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if path not in fake.body:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(fake.body[path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    fake.body = {
        "/v1/phones/+8613800000001/accounts": {"accounts": [ACCOUNT]},
        "/v1/accounts/A1": ACCOUNT,
        "/v1/accounts/A1/readings": {
            "readings": [
                {"period": "2026-11", "kwh": "412", "peak_kwh": "280", "valley_kwh": "132"},
                {"period": "2026-10", "kwh": 300, "peak_kwh": 200, "valley_kwh": 100},
            ]
        },
        "/v1/accounts/A1/bills": {
            "bills": [
                {
                    "account_id": "A1",
                    "period": "2026-11",
                    "kwh": "412",
                    "amount": "201.18",
                    "issued_on": "2026-12-01",
                    "due_on": "2026-12-25",
                    "paid_on": None,
                },
                {
                    "account_id": "A1",
                    "period": "2026-10",
                    "kwh": "300",
                    "amount": "146.49",
                    "issued_on": "2026-11-01",
                    "due_on": "2026-11-25",
                    "paid_on": "2026-11-03",
                },
            ]
        },
        "/v1/areas/chaoyang/holders": {"accounts": [ACCOUNT]},
        "/v1/areas/haidian/holders": {"accounts": [OTHER, ACCOUNT]},
    }
    yield fake
    await runner.cleanup()


@pytest_asyncio.fixture
async def backend(api: FakeApi) -> AsyncIterator[HttpBackend]:
    client = HttpBackend(api.url + "/", timeout_s=0.5, retries=2, backoff_s=0.01)
    yield client
    await client.close()


async def test_the_documented_paths_and_shapes(api: FakeApi, backend: HttpBackend) -> None:
    account = Account(**ACCOUNT)  # type: ignore[arg-type]
    assert await backend.accounts_for_phone("+8613800000001") == [account]
    assert api.hits[-1] == "/v1/phones/%2B8613800000001/accounts"
    assert await backend.account("A1") == account
    assert await backend.readings("A1") == [
        Reading("2026-10", D(300), D(200), D(100)),
        Reading("2026-11", D(412), D(280), D(132)),
    ]
    bills = await backend.bills("A1")
    assert [b.period for b in bills] == ["2026-10", "2026-11"]  # oldest first
    assert bills[1] == Bill(
        "A1", "2026-11", D(412), D("201.18"), date(2026, 12, 1), date(2026, 12, 25), None
    )
    assert bills[0].paid_on == date(2026, 11, 3)
    holders = await backend.holders_in_areas(["chaoyang", "haidian"])
    assert [a.id for a in holders] == ["A1", "A2"]  # each once


async def test_404_means_none(api: FakeApi, backend: HttpBackend) -> None:
    assert await backend.accounts_for_phone("+8613900000000") == []
    assert await backend.account("nope") is None
    assert await backend.readings("nope") == []
    assert await backend.bills("nope") == []
    assert await backend.holders_in_areas(["atlantis"]) == []
    assert len(api.hits) == 5  # no retries on a 404


async def test_a_flaky_server_is_retried(api: FakeApi, backend: HttpBackend) -> None:
    api.plan["/v1/accounts/A1"] = ["500", "drop", "ok"]
    assert (await backend.account("A1")) == Account(**ACCOUNT)  # type: ignore[arg-type]
    assert api.hits == ["/v1/accounts/A1"] * 3


async def test_a_slow_server_times_out_then_recovers(api: FakeApi, backend: HttpBackend) -> None:
    api.plan["/v1/accounts/A1/bills"] = ["slow", "ok"]
    bills = await backend.bills("A1")
    assert len(bills) == 2 and len(api.hits) == 2


async def test_retries_used_up_is_backend_unavailable(api: FakeApi, backend: HttpBackend) -> None:
    api.plan["/v1/accounts/A1"] = ["slow"]
    with pytest.raises(BackendUnavailable, match="TimeoutError after 3 attempts"):
        await backend.account("A1")
    assert len(api.hits) == 3
    api.hits.clear()
    api.plan["/v1/accounts/A1/readings"] = ["503"]
    with pytest.raises(BackendUnavailable, match="HTTP 503 after 3 attempts"):
        await backend.readings("A1")
    assert len(api.hits) == 3


async def test_other_4xx_is_not_retried(api: FakeApi, backend: HttpBackend) -> None:
    api.plan["/v1/accounts/A1"] = ["400"]
    with pytest.raises(BackendUnavailable, match="400"):
        await backend.account("A1")
    assert len(api.hits) == 1


async def test_a_malformed_answer_is_backend_unavailable(
    api: FakeApi, backend: HttpBackend
) -> None:
    api.plan["/v1/accounts/A1"] = ["garbage"]
    with pytest.raises(BackendUnavailable, match="not JSON"):
        await backend.account("A1")
    api.body["/v1/accounts/A1/bills"] = {"bills": [{"account_id": "A1", "period": "2026-11"}]}
    with pytest.raises(BackendUnavailable, match="malformed"):
        await backend.bills("A1")
    api.body["/v1/accounts/A1/readings"] = {"readings": [{"period": "2026-11", "kwh": "x"}]}
    with pytest.raises(BackendUnavailable, match="malformed"):
        await backend.readings("A1")
    api.body["/v1/phones/+8613800000001/accounts"] = {"accounts": "A1"}
    with pytest.raises(BackendUnavailable, match="malformed"):
        await backend.accounts_for_phone("+8613800000001")


async def test_nobody_listening_is_backend_unavailable() -> None:
    client = HttpBackend(f"http://127.0.0.1:{free_port()}", timeout_s=0.5, retries=1, backoff_s=0)
    try:
        with pytest.raises(BackendUnavailable, match="after 2 attempts"):
            await client.account("A1")
    finally:
        await client.close()


async def test_phones_are_masked_in_logs(
    api: FakeApi, backend: HttpBackend, caplog: pytest.LogCaptureFixture
) -> None:
    api.plan["/v1/phones/+8613800000001/accounts"] = ["500", "ok"]
    await backend.accounts_for_phone("+8613800000001")
    assert "13800000001" not in caplog.text and "retrying" in caplog.text
