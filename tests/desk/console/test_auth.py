"""Console security: sessions on every route, CSRF, throttling, cookies, headers."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.desk.console.guard import safe_next
from bot.desk.users import UserStore
from bot.handoff.store import HandoffStore
from tests.support.handoff import PASSWORD, create_user, login, policy

PUBLIC = ("/console/login", "/console/static/")


def console_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every console route the app registers (new ones are covered automatically)."""
    routes = []
    for route in client.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        if not path.startswith("/console") or path.startswith(PUBLIC) or route.method == "HEAD":
            continue
        routes.append((route.method, path.replace("{id}", "web-1234abcd")))
    return sorted(set(routes))


async def test_every_protected_route_needs_a_session(desk: TestClient) -> None:
    routes = console_routes(desk)
    assert ("POST", "/console/api/conversations/web-1234abcd/reply") in routes
    assert ("GET", "/console/ws") in routes and ("GET", "/console/") in routes
    assert len(routes) >= 15
    for method, path in routes:
        response = await desk.request(method, path, allow_redirects=False)
        if path.startswith("/console/api/") or path == "/console/ws":
            assert response.status == 401, (method, path)
            assert (await response.json())["field"] == "session"
        else:
            assert response.status in (302, 401), (method, path, response.status)
            if response.status == 302:
                assert response.headers["Location"].startswith("/console/login?next=")
    # XHR from a page gets JSON, not a redirect.
    xhr = await desk.get("/console/", headers={"X-Requested-With": "fetch"})
    assert xhr.status == 401
    # A forged or stale cookie is no session.
    desk.session.cookie_jar.update_cookies({"kefu_session": "forged"})
    assert (await desk.get("/console/api/queue")).status == 401


async def test_login_page_widget_and_assets_stay_public(desk: TestClient) -> None:
    assert (await desk.get("/console/login")).status == 200
    assert (await desk.get("/console/static/console.js")).status == 200
    assert (await desk.get("/")).status == 200
    assert (await desk.get("/static/widget.js")).status == 200


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(
    proxied_desk: TestClient, redis: aioredis.Redis
) -> None:
    desk = proxied_desk
    await create_user(redis, "wang.fang")
    form = await desk.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    response = await desk.post(
        "/console/login",
        data={"username": "Wang.Fang ", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/console/"
    cookie = next(c for c in response.headers.getall("Set-Cookie") if "kefu_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" in cookie  # https at the trusted proxy (so this client will not send it)

    await login(desk, "wang.fang")
    page = await desk.get("/console/")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', await page.text()).group(1)

    # Logout without the CSRF token is refused; with it the session is gone.
    sessions = [k async for k in redis.scan_iter("kefu:desk:session:*")]
    assert len(sessions) == 2  # the https one and this one
    assert (await desk.post("/console/logout", data={}, allow_redirects=False)).status == 403
    out = await desk.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await desk.get("/console/api/queue")).status == 401
    assert len([k async for k in redis.scan_iter("kefu:desk:session:*")]) == 1


async def test_plain_http_cookie_is_not_secure(desk: TestClient, redis: aioredis.Redis) -> None:
    """Without a trusted proxy, a client's own X-Forwarded-Proto is ignored."""
    await create_user(redis, "wang.fang")
    form = await desk.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    response = await desk.post(
        "/console/login",
        data={"username": "wang.fang", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    cookie = next(c for c in response.headers.getall("Set-Cookie") if "kefu_session=" in c)
    assert "Secure" not in cookie


async def test_wrong_or_missing_csrf_token_is_rejected(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang")
    csrf = await login(desk, "wang.fang")
    store = HandoffStore(redis, policy())
    await store.enqueue("web-1", channel="socketio", language="zh", grade=None, reason="x")
    url = "/console/api/conversations/web-1/claim"
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf + "x"}):
        response = await desk.post(url, headers=headers)
        assert response.status == 403, headers
        assert (await response.json())["field"] == "csrf_token"
    assert (await store.get("web-1")).state == "queued"  # nothing happened
    # A form post with a wrong field is refused too.
    response = await desk.post(
        "/console/api/conversations/web-1/notes", data={"csrf_token": "nope", "text": "x"}
    )
    assert response.status == 403
    ok = await desk.post(url, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200


async def test_login_form_needs_its_own_csrf_token(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")
    await desk.get("/console/login")
    response = await desk.post(
        "/console/login",
        data={"username": "wang.fang", "password": PASSWORD, "csrf_token": "guess"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert (await desk.get("/console/api/queue")).status == 401


async def test_login_throttling(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")

    async def attempt(password: str, name: str = "wang.fang"):  # type: ignore[no-untyped-def]
        form = await desk.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
        return await desk.post(
            "/console/login",
            data={"username": name, "password": password, "csrf_token": token},
            allow_redirects=False,
        )

    for _ in range(5):
        wrong = await attempt("wrong password")
        assert wrong.status == 401
        assert "用户名或密码错误" in await wrong.text()
    blocked = await attempt(PASSWORD)  # even the right password waits now
    assert blocked.status == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 900
    # Unknown names are throttled the same way and give the same answer.
    unknown = await attempt("whatever", name="nobody")
    assert unknown.status == 401 and "用户名或密码错误" in await unknown.text()


async def test_disabled_users_lose_their_session(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")
    await login(desk, "wang.fang")
    await UserStore(redis).set_disabled("wang.fang", True)
    assert (await desk.get("/console/api/queue")).status == 401


async def test_supervisor_pages_are_for_supervisors(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    await create_user(redis, "wang.fang")
    await login(desk, "wang.fang")
    assert (await desk.get("/console/supervisor")).status == 403
    assert (await desk.get("/console/api/supervisor")).status == 403


async def test_cross_site_websocket_is_refused(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")
    await login(desk, "wang.fang")
    response = await desk.get(
        "/console/ws",
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 403


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/console/"),
        ("/console/conversations/web-1", "/console/conversations/web-1"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/elsewhere", "/console/"),
        ("/console/\\evil", "/console/"),
    ],
)
def test_login_only_redirects_inside_the_console(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


async def test_unknown_conversation_is_404_not_500(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang")
    csrf = await login(desk, "wang.fang")
    headers = {"X-CSRF-Token": csrf}
    assert (await desk.get("/console/api/conversations/nobody")).status == 404
    assert (await desk.get("/console/conversations/nobody")).status == 404
    bad = await desk.post("/console/api/conversations/a%20b/claim", headers=headers)
    assert bad.status == 404
