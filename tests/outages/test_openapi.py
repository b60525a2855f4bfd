"""The outage paths of /api/openapi.json, checked by schemathesis against a real desk
process (python -m bot.desk): no 5xx, documented status codes, responses matching their
schemas, invalid input refused, auth enforced; then stateful runs following the links
(publish -> get / change / notices)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bot.openapi import for_validation, merge_into
from bot.outages import openapi
from tests.support.openapi import desk_openapi, run_stateful

DB = 6  # ours
TOKEN = "test-token-outages"


def test_merge_refuses_a_path_or_schema_defined_twice() -> None:
    document = {"paths": {"/api/x": {}}, "components": {"schemas": {"Error": {}}}}
    merge_into(document, openapi.fragment())
    assert (
        "/api/outages/{id}" in document["paths"] and "Outage" in document["components"]["schemas"]
    )
    with pytest.raises(ValueError, match="defined twice"):
        merge_into(document, openapi.fragment())
    with pytest.raises(ValueError, match="Error"):
        merge_into({"paths": {}, "components": {"schemas": {}}}, openapi.fragment())


def test_validation_schemas_accept_null_where_openapi_says_nullable() -> None:
    schema = for_validation(openapi.request_schemas()["NewOutage"])
    assert schema["properties"]["eta"]["type"] == ["string", "null"]
    assert "nullable" not in str(schema)


desk_url, api_schema, schema = desk_openapi(DB, TOKEN, path_regex="^/api/outages")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    # Every check but one: a schema cannot say that eta must come after starts_at, so a
    # well-formed outage ending before it starts is refused by design.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_schemathesis_stateful_outage_workflows(api_schema) -> None:  # type: ignore[no-untyped-def]
    """Publish outages, then follow the document's links: get, change, notices."""
    run_stateful(api_schema, [schemathesis.checks.positive_data_acceptance])
