"""GET /api/reports/satisfaction on a simulated month: the figures equal what the
simulation produced; coverage is exactly 100 % and a missing visit is listed by number;
the bearer token, the 4xx naming the field, the CSV export, the OpenAPI paths."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.surveys.store import visit_key
from bot.tickets.service import Policies, TicketService
from tests.support.reports import MONTH_END, Known, simulate_month
from tests.support.tickets import FakeClock

AUTH = {"Authorization": "Bearer desk-api-token"}
MONTH = "/api/reports/satisfaction?from=2026-11-01&to=2026-11-30"
END = MONTH_END.timestamp()


def fraction(rate: dict[str, Any]) -> tuple[int, int]:
    return rate["numerator"], rate["denominator"]


@pytest.fixture
async def month(redis: aioredis.Redis, ticket_policies: Policies) -> Known:
    clock = FakeClock()
    service = TicketService.build(redis, ticket_policies, clock=clock)
    return await simulate_month(redis, service, clock)


# `month` before `desk` in every test: the desk starts after the simulation (see
# tests/support/reports.py).
async def test_a_simulated_month_gives_the_rates_it_was_built_with(
    month: Known, desk: TestClient
) -> None:
    assert len(month.numbers) == 1000 and month.reopened > 50 and month.withdrawn > 10
    response = await desk.get(MONTH, headers=AUTH)
    assert response.status == 200, await response.text()
    report = await response.json()
    overall = report["overall"]
    assert (report["from"], report["to"], report["timezone"]) == (
        "2026-11-01",
        "2026-11-30",
        "Asia/Shanghai",
    )
    assert overall["resolutions"] == month.resolutions > 900
    assert overall["tickets"] == month.tickets
    assert fraction(overall["satisfaction"]) == (month.satisfied, month.responses)
    assert fraction(overall["response"]) == (month.responses, month.surveys_sent)
    assert overall["satisfaction"]["percent"] == round(
        100 * month.satisfied / month.responses + 1e-9, 1
    )
    assert fraction(overall["first_response_sla"]) == (month.fr_met, month.fr_total)
    assert fraction(overall["resolution_sla"]) == (month.rs_met, month.rs_total)
    assert 0 < month.fr_met < month.fr_total  # some deadlines met, some missed
    assert overall["median_resolve_s"] == month.median_resolve_s
    assert overall["ratings"] == {str(r): month.ratings[r] for r in range(1, 6)}
    for category, (satisfied, responses) in month.by_category.items():
        assert fraction(report["by_category"][category]["satisfaction"]) == (
            satisfied,
            responses,
        )
    assert sum(g["resolutions"] for g in report["by_agent"].values()) == month.resolutions
    assert sum(g["resolutions"] for g in report["by_grade"].values()) == month.resolutions
    assert len(report["by_day"]) == 30
    assert sum(d["resolutions"] for d in report["by_day"].values()) == month.resolutions

    coverage = report["coverage"]
    assert fraction(coverage) == (month.attempted, month.attempted)
    assert coverage["percent"] == 100.0 and coverage["complete"] is True
    assert coverage["missing"] == [] and coverage["withdrawn"] == month.withdrawn


async def test_a_resolution_without_a_visit_is_listed_by_number(
    month: Known, desk: TestClient, redis: aioredis.Redis
) -> None:
    lost = next(e for e in month.log if e.visit.status == "answered" and e.at < END)
    await redis.delete(visit_key(f"{lost.number}:{lost.resolution}"))
    report = await (await desk.get(MONTH, headers=AUTH)).json()
    coverage = report["coverage"]
    assert fraction(coverage) == (month.attempted - 1, month.attempted)
    assert coverage["complete"] is False and coverage["percent"] < 100
    assert coverage["missing"] == [
        {
            "number": lost.number,
            "resolution": lost.resolution,
            "resolved_at": lost.at,
            "visit_status": None,
        }
    ]
    export = await desk.get(MONTH.replace("satisfaction?", "satisfaction.csv?"), headers=AUTH)
    assert export.status == 200
    rows = list(csv.reader(io.StringIO(await export.text())))
    assert ["missing_visit", f"{lost.number}:{lost.resolution}"] == rows[-1][:2]


async def test_csv_export_has_the_same_figures(month: Known, desk: TestClient) -> None:
    for path in (MONTH + "&format=csv", MONTH.replace("satisfaction?", "satisfaction.csv?")):
        response = await desk.get(path, headers=AUTH)
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        overall = rows[0]
        assert overall["scope"] == "overall"
        assert int(overall["satisfied"]) == month.satisfied
        assert int(overall["responses"]) == month.responses
        assert int(overall["surveys_sent"]) == month.surveys_sent
        assert overall["coverage_pct"] == "100.0"
        assert {r["scope"] for r in rows} == {"overall", "category", "grade", "agent", "day"}


async def test_an_empty_range_has_no_rates(desk: TestClient) -> None:
    response = await desk.get(
        "/api/reports/satisfaction?from=2020-01-01&to=2020-01-01", headers=AUTH
    )
    report = await response.json()
    assert report["overall"]["resolutions"] == 0
    assert report["overall"]["satisfaction"] == {"numerator": 0, "denominator": 0, "percent": None}
    assert report["overall"]["median_resolve_s"] is None


async def test_the_bearer_token_is_required(desk: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await desk.get(MONTH, headers=headers)
        assert response.status == 401
    csv_response = await desk.get(MONTH.replace("satisfaction?", "satisfaction.csv?"))
    assert csv_response.status == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-11-30", "from"),
        ("from=2026-11-01", "to"),
        ("from=2026-13-01&to=2026-11-30", "from"),
        ("from=2026-11-01&to=30.11.2026", "to"),
        ("from=2026-11-01&to=２０２６-11-30", "to"),
        ("from=2026-11-30&to=2026-11-01", "to"),
        ("from=2024-01-01&to=2026-11-30", "to"),
        ("from=2026-11-01&to=2026-11-30&format=xml", "format"),
        ("from=2026-11-01&to=2026-11-30&agent=x", "agent"),
        ("from=2026-11-01&from=2026-11-02&to=2026-11-30", "from"),
    ],
)
async def test_bad_queries_name_the_field(desk: TestClient, query: str, field: str) -> None:
    response = await desk.get(f"/api/reports/satisfaction?{query}", headers=AUTH)
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["field"] == field and body["error"]


async def test_a_year_is_accepted_and_other_methods_are_json_errors(desk: TestClient) -> None:
    year = await desk.get("/api/reports/satisfaction?from=2024-01-01&to=2024-12-31", headers=AUTH)
    assert year.status == 200  # 366 days: a leap year
    posted = await desk.post(MONTH, headers=AUTH)
    assert posted.status == 405 and (await posted.json())["field"] == "method"


async def test_the_openapi_document_has_the_report_paths(desk: TestClient) -> None:
    document = await (await desk.get("/api/openapi.json", headers=AUTH)).json()
    operation = document["paths"]["/api/reports/satisfaction"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "format"}
    assert "/api/reports/satisfaction.csv" in document["paths"]
    assert "SatisfactionReport" in document["components"]["schemas"]
