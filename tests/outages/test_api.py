"""The outage API through the desk app (the `desk` fixture: tests/support/handoff.py)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.notices import progress, subscriptions
from bot.outages.registry import CHANGES
from bot.sms.segments import count
from tests.support.handoff import eventually

AUTH = {"Authorization": "Bearer desk-api-token"}  # tests/support/handoff.py desk_settings
NEW: dict[str, Any] = {
    "areas": ["chaoyang", "haidian"],
    "kind": "planned",
    "starts_at": "2030-12-02T09:00:00+08:00",
    "eta": "2030-12-02T17:00:00+08:00",
    "cause": "线路检修",
    "text": {"zh": "明日9-17时计划停电检修。", "en": "Planned maintenance tomorrow 9-17."},
}


async def expect_error(response, status: int, field: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["field"] == field and body["error"], body
    return body


async def create(desk: TestClient, **overrides: Any) -> dict[str, Any]:
    response = await desk.post("/api/outages", json={**NEW, **overrides}, headers=AUTH)
    assert response.status == 201, await response.text()
    return await response.json()


ROUTES = [
    ("GET", "/api/outages"),
    ("POST", "/api/outages"),
    ("POST", "/api/outages/preview"),
    ("GET", "/api/outages/OG20301201-0001"),
    ("PATCH", "/api/outages/OG20301201-0001"),
    ("GET", "/api/outages/OG20301201-0001/notices"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_the_token(desk: TestClient, method: str, path: str) -> None:
    response = await desk.request(method, path, json={})
    await expect_error(response, 401, "Authorization")
    wrong = await desk.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
    await expect_error(wrong, 401, "Authorization")


async def test_publish_get_list_and_change(desk: TestClient, redis: aioredis.Redis) -> None:
    created = await create(desk, actor="ops.li")
    ident = created["id"]
    assert created["status"] == "announced" and created["revision"] == 1
    assert created["starts_at"] == "2030-12-02T01:00:00Z"
    assert created["history"][0]["actor"] == "ops.li"
    got = await (await desk.get(f"/api/outages/{ident}", headers=AUTH)).json()
    assert got == created
    fault = await create(desk, kind="fault", areas=["tongzhou"], eta=None)
    assert fault["eta"] is None and fault["history"][0]["actor"] == "desk"

    listed = await (await desk.get("/api/outages", headers=AUTH)).json()
    assert [o["id"] for o in listed["items"]] == [fault["id"], ident]
    by_area = await (await desk.get("/api/outages?area=haidian", headers=AUTH)).json()
    assert [o["id"] for o in by_area["items"]] == [ident]

    patched = await desk.patch(
        f"/api/outages/{ident}",
        json={"eta": "2030-12-02T19:00:00+08:00", "actor": "ops.li"},
        headers=AUTH,
    )
    assert patched.status == 200, await patched.text()
    body = await patched.json()
    assert body["eta"] == "2030-12-02T11:00:00Z" and body["revision"] == 2
    text = await desk.patch(
        f"/api/outages/{ident}", json={"text": {"en": "Maintenance until 19:00."}}, headers=AUTH
    )
    assert (await text.json())["text"] == {
        "zh": NEW["text"]["zh"],
        "en": "Maintenance until 19:00.",
    }
    done = await desk.patch(f"/api/outages/{ident}", json={"status": "restored"}, headers=AUTH)
    assert (await done.json())["status"] == "restored"
    restored = await (await desk.get("/api/outages?status=restored", headers=AUTH)).json()
    assert [o["id"] for o in restored["items"]] == [ident]

    stream = [f for _, f in await redis.xrange(CHANGES)]
    assert [(f["outage_id"], f["change"], f["revision"]) for f in stream] == [
        (ident, "published", "1"),
        (fault["id"], "published", "1"),
        (ident, "eta_changed", "2"),
        (ident, "text_changed", "3"),
        (ident, "restored", "4"),
    ]


async def test_illegal_transitions_are_409(desk: TestClient) -> None:
    ident = (await create(desk))["id"]
    await desk.patch(f"/api/outages/{ident}", json={"status": "cancelled"}, headers=AUTH)
    again = await desk.patch(f"/api/outages/{ident}", json={"status": "in_progress"}, headers=AUTH)
    await expect_error(again, 409, "status")
    eta = await desk.patch(
        f"/api/outages/{ident}", json={"eta": "2030-12-03T10:00:00Z"}, headers=AUTH
    )
    await expect_error(eta, 409, "status")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"areas": ["atlantis"]}, "areas"),
        ({"areas": []}, "areas"),
        ({"kind": "sometimes"}, "kind"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"starts_at": "2030-12-02T09:00:00"}, "starts_at"),
        ({"eta": "2030-12-01T09:00:00Z"}, "eta"),
        ({"cause": ""}, "cause"),
        ({"cause": "x" * 201}, "cause"),
        ({"text": {"zh": "停电"}}, "text.en"),
        ({"text": {"zh": " ", "en": "Outage"}}, "text.zh"),
        ({"text": {"zh": "停电", "en": "a" * 501}}, "text.en"),
        ({"text": {"zh": "停电", "en": "Outage", "ja": "停電"}}, "text.ja"),
        ({"actor": "two words"}, "actor"),
        ({"status": "restored"}, "status"),  # unknown field on creation
    ],
)
async def test_bad_fields_are_400_naming_the_field(
    desk: TestClient, redis: aioredis.Redis, override: dict, field: str
) -> None:
    response = await desk.post("/api/outages", json={**NEW, **override}, headers=AUTH)
    await expect_error(response, 400, field)
    assert await redis.xlen(CHANGES) == 0


@pytest.mark.parametrize("missing", ["areas", "kind", "starts_at", "cause", "text"])
async def test_missing_fields_are_named(desk: TestClient, missing: str) -> None:
    body = {k: v for k, v in NEW.items() if k != missing}
    await expect_error(await desk.post("/api/outages", json=body, headers=AUTH), 400, missing)


async def test_malformed_requests(desk: TestClient) -> None:
    for raw in (b"{", b"[]", b"null", b"", b"\xff\xfe", b'{"a": NaN}'):
        response = await desk.post("/api/outages", data=raw, headers=AUTH)
        await expect_error(response, 400, "body")
    ident = (await create(desk))["id"]
    bad_patch = await desk.patch(f"/api/outages/{ident}", json={"owner": "x"}, headers=AUTH)
    await expect_error(bad_patch, 400, "owner")
    bad_status = await desk.patch(f"/api/outages/{ident}", json={"status": "gone"}, headers=AUTH)
    await expect_error(bad_status, 400, "status")
    for query, field in (
        ("status=gone", "status"),
        ("area=atlantis", "area"),
        ("limit=0", "limit"),
        ("limit=①", "limit"),
        ("limit=1&limit=2", "limit"),
        ("colour=red", "colour"),
    ):
        await expect_error(await desk.get(f"/api/outages?{query}", headers=AUTH), 400, field)
    too_big = await desk.post("/api/outages", data=b"x" * 70_000, headers=AUTH)
    await expect_error(too_big, 413, "body")
    wrong_method = await desk.delete(f"/api/outages/{ident}", headers=AUTH)
    await expect_error(wrong_method, 405, "method")


async def test_unknown_and_malformed_ids(desk: TestClient) -> None:
    await expect_error(await desk.get("/api/outages/OG20301201-0042", headers=AUTH), 404, "id")
    await expect_error(
        await desk.patch("/api/outages/OG20301201-0042", json={"status": "restored"}, headers=AUTH),
        404,
        "id",
    )
    await expect_error(
        await desk.get("/api/outages/OG20301201-0042/notices", headers=AUTH), 404, "id"
    )
    await expect_error(await desk.get("/api/outages/TK20301201-0001", headers=AUTH), 400, "id")
    await expect_error(await desk.get("/api/outages/%E2%91%A0", headers=AUTH), 400, "id")


async def test_notices_show_the_broadcast_progress(desk: TestClient) -> None:
    body = {"areas": ["dongcheng"], "kind": "fault", "text": NEW["text"]}
    preview = await (await desk.post("/api/outages/preview", json=body, headers=AUTH)).json()
    ident = (await create(desk, **body, eta=None))["id"]

    async def everyone_notified() -> dict[str, int] | None:
        # The desk's broadcast worker (bot.notices) consumes the change stream.
        response = await desk.get(f"/api/outages/{ident}/notices", headers=AUTH)
        shown = await response.json()
        assert shown["outage_id"] == ident and set(shown["progress"]) == set(progress.KEYS)
        done = shown["progress"]["recipients"] == preview["recipients"]
        return shown["progress"] if done else None

    counts = await eventually(everyone_notified)
    assert preview["recipients"] > 0
    # One published notice per phone, each in exactly one column.
    in_columns = sum(v for k, v in counts.items() if k != "recipients")
    assert in_columns == preview["recipients"]


async def test_preview_counts_recipients_and_segments(
    desk: TestClient, redis: aioredis.Redis
) -> None:
    body = {"areas": ["chaoyang"], "kind": "planned", "text": NEW["text"]}
    response = await desk.post("/api/outages/preview", json=body, headers=AUTH)
    assert response.status == 200, await response.text()
    data = await response.json()
    assert data["recipients"] >= 1  # the demo holder +8613800000001 lives in chaoyang
    assert data["segments"]["zh"] >= 1 and data["segments"]["en"] >= 1
    # The counts are those of the notice as it would be sent (bot.sms.segments).
    for language in ("zh", "en"):
        assert data["segments"][language] == count(data["bodies"][language]).segments
    # Subscribers add to the account holders.
    await subscriptions.subscribe(
        redis, "+8613900000077", topic="outage", area="chaoyang", language="en"
    )
    more = await (await desk.post("/api/outages/preview", json=body, headers=AUTH)).json()
    assert more["recipients"] == data["recipients"] + 1
    bad = await desk.post("/api/outages/preview", json={**body, "areas": ["x"]}, headers=AUTH)
    await expect_error(bad, 400, "areas")


async def test_the_openapi_document_has_the_outage_paths(desk: TestClient) -> None:
    doc = await (await desk.get("/api/openapi.json", headers=AUTH)).json()
    assert {"/api/tickets", "/api/outages", "/api/outages/{id}"} <= set(doc["paths"])
    assert set(doc["paths"]["/api/outages/{id}"]) == {"get", "patch"}
    assert "NewOutage" in doc["components"]["schemas"]
    assert "Error" in doc["components"]["schemas"]
