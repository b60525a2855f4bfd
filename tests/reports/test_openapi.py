"""The report paths of /api/openapi.json, checked by schemathesis against a real desk
process (python -m bot.desk): no 5xx, documented status codes and content types (JSON or
CSV), responses matching their schemas, invalid input refused, auth enforced."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bot.reports import openapi
from tests.conftest import ROOT, RedisServer, free_port, http_ok, wait_until

DB = 13  # ours
TOKEN = "test-token-reports"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_fragment_refers_only_to_schemas_it_defines_or_error() -> None:
    part = openapi.fragment()
    text = str(part["paths"]) + str(part["schemas"])
    refs = {r.split("'")[0] for r in text.split("#/components/schemas/")[1:]}
    assert refs <= set(part["schemas"]) | {"Error"}


@pytest.fixture(scope="module")
def desk_url(redis_server: RedisServer) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.db_url(DB),
        "DESK_HOST": "127.0.0.1",
        "DESK_PORT": str(port),
        "DESK_API_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.desk"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/healthz"), 30, "desk", [proc])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def api_schema(desk_url: str):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{desk_url}/api/openapi.json", headers=AUTH)
    schema.config.update(headers=AUTH)
    return schema.include(path_regex="^/api/reports")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    # Every check but one: a schema cannot say that `to` comes after `from` within a
    # year, so well-formed dates out of order are refused by design.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
