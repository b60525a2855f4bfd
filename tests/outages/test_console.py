"""The supervisors' outage page and its /console/api/outages routes (session + CSRF)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.outages.registry import CHANGES
from bot.outages.reports import record_report
from tests.support.handoff import create_user, eventually, login, post

NEW: dict[str, Any] = {
    "areas": ["xicheng"],
    "kind": "fault",
    "starts_at": "2030-12-02T09:00:00+08:00",
    "cause": "电缆故障 <b>cable</b>",
    "text": {"zh": "西城区故障停电，抢修中。", "en": "<script>alert(1)</script> Fault in Xicheng."},
}


async def boss(desk: TestClient, redis: aioredis.Redis) -> str:
    await create_user(redis, "zhang.boss", "supervisor")
    return await login(desk, "zhang.boss")


async def test_agents_are_refused(desk: TestClient, redis: aioredis.Redis) -> None:
    await create_user(redis, "wang.fang", "agent")
    csrf = await login(desk, "wang.fang")
    page = await desk.get("/console/outages", allow_redirects=False)
    assert page.status == 403
    listed = await desk.get("/console/api/outages")
    assert listed.status == 403 and (await listed.json())["field"] == "role"
    published = await post(desk, csrf, "/console/api/outages", NEW)
    assert published.status == 403
    previewed = await post(desk, csrf, "/console/api/outages/preview", NEW)
    assert previewed.status == 403
    assert await redis.xlen(CHANGES) == 0
    queue = await (await desk.get("/console/")).text()
    assert "/console/outages" not in queue  # the link is for supervisors


async def test_without_a_session(desk: TestClient) -> None:
    page = await desk.get("/console/outages", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/console/login")
    api = await desk.get("/console/api/outages")
    assert api.status == 401 and (await api.json())["field"] == "session"


async def test_the_page_has_the_publish_form(desk: TestClient, redis: aioredis.Redis) -> None:
    await boss(desk, redis)
    page = await desk.get("/console/outages")
    assert page.status == 200
    html = await page.text()
    assert 'data-page="outages"' in html and 'href="/console/outages"' in html
    assert 'value="chaoyang"' in html and 'value="tongzhou"' in html
    assert '<script src="/console/static/outages.js"' in html and "<script>" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = await desk.get("/console/static/outages.js")
    assert script.status == 200 and "innerHTML" not in await script.text()


async def test_publish_change_and_progress_as_a_supervisor(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    csrf = await boss(desk, redis)
    no_csrf = await desk.post("/console/api/outages", json=NEW)
    assert no_csrf.status == 403
    preview = await post(desk, csrf, "/console/api/outages/preview", {**NEW, "actor": "x"})
    assert preview.status == 400  # preview takes no actor
    preview = await post(
        desk, csrf, "/console/api/outages/preview", {k: NEW[k] for k in ("areas", "kind", "text")}
    )
    assert preview.status == 200, await preview.text()
    assert set(await preview.json()) >= {"recipients", "segments"}

    created = await post(desk, csrf, "/console/api/outages", {**NEW, "actor": "someone.else"})
    assert created.status == 201, await created.text()
    outage = await created.json()
    assert outage["history"][0]["actor"] == "zhang.boss"  # never whoever the body names
    assert outage["text"]["en"] == NEW["text"]["en"]  # stored as typed; the page shows text

    audience = (await preview.json())["recipients"]

    async def broadcast_reached_everyone() -> dict[str, Any] | None:
        # The desk's broadcast worker (bot.notices) notifies the area; the page shows it.
        data = await (await desk.get("/console/api/outages")).json()
        done = data["outages"][0]["progress"]["recipients"] == audience
        return data if done else None

    overview = await eventually(broadcast_reached_everyone)
    [listed] = overview["outages"]
    assert listed["id"] == outage["id"] and audience > 0
    assert {a["id"] for a in overview["areas"]} >= {"xicheng", "chaoyang"}

    path = f"/console/api/outages/{outage['id']}"
    eta = await desk.patch(
        path, json={"eta": "2030-12-02T12:00:00+08:00"}, headers={"X-CSRF-Token": csrf}
    )
    assert eta.status == 200 and (await eta.json())["history"][-1]["actor"] == "zhang.boss"
    done = await desk.patch(path, json={"status": "restored"}, headers={"X-CSRF-Token": csrf})
    assert (await done.json())["status"] == "restored"
    again = await desk.patch(path, json={"status": "in_progress"}, headers={"X-CSRF-Token": csrf})
    assert again.status == 409 and (await again.json())["field"] == "status"
    bad = await post(desk, csrf, "/console/api/outages", {**NEW, "areas": ["mars"]})
    assert bad.status == 400 and (await bad.json())["field"] == "areas"
    missing = await desk.patch(
        "/console/api/outages/OG20301201-0999",
        json={"status": "restored"},
        headers={"X-CSRF-Token": csrf},
    )
    assert missing.status == 404
    changes = [f["change"] for _, f in await redis.xrange(CHANGES)]
    assert changes == ["published", "eta_changed", "restored"]


async def test_probable_outage_alerts_until_acknowledged(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    csrf = await boss(desk, redis)
    for n in range(3):
        await record_report(redis, "haidian", f"+861380000011{n}", 1_900_000_000.0 + n)
    # Kept in Redis: a reload (a new GET) still shows it.
    for _ in range(2):
        [alert] = (await (await desk.get("/console/api/outages")).json())["alerts"]
    assert alert["area"] == "haidian" and alert["reports"] == 3
    ack = await post(desk, csrf, f"/console/api/outages/alerts/{alert['id']}/ack", {})
    assert ack.status == 200
    assert (await (await desk.get("/console/api/outages")).json())["alerts"] == []
    unknown = await post(desk, csrf, "/console/api/outages/alerts/12345/ack", {})
    assert unknown.status == 404 and (await unknown.json())["field"] == "alert"
