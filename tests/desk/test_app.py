from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from bot.desk.app import create_app
from bot.settings import Settings

SETTINGS = Settings(
    redis_url="redis://127.0.0.1:1/0",
    desk_host="127.0.0.1",
    desk_port=0,
    rasa_public_url='https://chat.example.com"><script>alert(1)</script>',
)


async def client() -> TestClient:
    test_client = TestClient(TestServer(create_app(SETTINGS)))
    await test_client.start_server()
    return test_client


async def test_website_serves_widget_with_escaped_config_and_csp() -> None:
    c = await client()
    try:
        response = await c.get("/")
        body = await response.text()
        assert response.status == 200
        assert 'id="kefu-chat"' in body
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;" in body
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "wss://chat.example.com" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await c.close()


async def test_serves_pinned_socket_io_client_and_widget_assets() -> None:
    c = await client()
    try:
        vendor = await c.get("/vendor/socket.io.min.js")
        assert vendor.status == 200
        assert "Socket.IO v4.8.4" in (await vendor.text())[:200]
        widget = await c.get("/static/widget.js")
        assert widget.status == 200
        assert "innerHTML" not in await widget.text()
        assert (await c.get("/static/../app.py")).status == 404
        assert (await c.get("/healthz")).status == 200
    finally:
        await c.close()


async def test_api_routes_need_the_bearer_token() -> None:
    settings = Settings(**{**SETTINGS.__dict__, "api_token": "s3cret"})
    app = create_app(settings)

    async def ping(_):  # a stand-in protected route
        from aiohttp import web

        return web.json_response({"ok": True})

    app.router.add_get("/api/ping", ping)
    c = TestClient(TestServer(app))
    await c.start_server()
    try:
        missing = await c.get("/api/ping")
        assert missing.status == 401
        assert (await missing.json())["field"] == "Authorization"
        wrong = await c.get("/api/ping", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await c.get("/api/ping", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
    finally:
        await c.close()


async def test_healthz_lists_every_worker_and_counts_its_errors() -> None:
    c = await client()  # Redis unreachable: the workers fail, are counted, and go on
    try:
        for _ in range(100):
            health = await (await c.get("/healthz")).json()
            if health["workers"]["live_view"]["errors"]:
                break
            await asyncio.sleep(0.05)
        workers = health["workers"]
        expected = {"live_view", "handoff_sync", "handoff_retry", "sla_monitor"}
        assert expected | {"redis_memory_watch"} <= set(workers)
        assert all(worker["running"] for worker in workers.values())
        live = workers["live_view"]
        assert live["errors"] >= 1 and "Error" in live["last_error"]
    finally:
        await c.close()
