"""The outage paths of /api/openapi.json, checked by schemathesis against a real desk
process (python -m bot.desk): no 5xx, documented status codes, responses matching their
schemas, invalid input refused, auth enforced; then stateful runs following the links
(publish -> get / change / notices)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bot.outages import openapi
from tests.conftest import ROOT, RedisServer, free_port, http_ok, wait_until

DB = 6  # ours
TOKEN = "test-token-outages"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_merge_refuses_a_path_or_schema_defined_twice() -> None:
    document = {"paths": {"/api/x": {}}, "components": {"schemas": {"Error": {}}}}
    openapi.merge_into(document, openapi.fragment())
    assert (
        "/api/outages/{id}" in document["paths"] and "Outage" in document["components"]["schemas"]
    )
    with pytest.raises(ValueError, match="defined twice"):
        openapi.merge_into(document, openapi.fragment())
    with pytest.raises(ValueError, match="Error"):
        openapi.merge_into({"paths": {}, "components": {"schemas": {}}}, openapi.fragment())


def test_validation_schemas_accept_null_where_openapi_says_nullable() -> None:
    schema = openapi.for_validation(openapi.request_schemas()["NewOutage"])
    assert schema["properties"]["eta"]["type"] == ["string", "null"]
    assert "nullable" not in str(schema)


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
    return schema.include(path_regex="^/api/outages")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    # Every check but one: a schema cannot say that eta must come after starts_at, so a
    # well-formed outage ending before it starts is refused by design.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_schemathesis_stateful_outage_workflows(api_schema) -> None:  # type: ignore[no-untyped-def]
    """Publish outages, then follow the document's links: get, change, notices."""
    base = api_schema.as_state_machine()

    class Workflows(base):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, additional_checks=None, **kwargs):  # type: ignore[no-untyped-def]
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
                transport_kwargs=kwargs,
            )

    Workflows.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
