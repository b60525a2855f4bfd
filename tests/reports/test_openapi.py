"""The report paths of /api/openapi.json, checked by schemathesis against a real desk
process (python -m bot.desk): no 5xx, documented status codes and content types (JSON or
CSV), responses matching their schemas, invalid input refused, auth enforced."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from bot.reports import openapi
from tests.support.openapi import desk_openapi

DB = 13  # ours
TOKEN = "test-token-reports"


def test_the_fragment_refers_only_to_schemas_it_defines_or_error() -> None:
    part = openapi.fragment()
    text = str(part["paths"]) + str(part["schemas"])
    refs = {r.split("'")[0] for r in text.split("#/components/schemas/")[1:]}
    assert refs <= set(part["schemas"]) | {"Error"}


desk_url, api_schema, schema = desk_openapi(DB, TOKEN, path_regex="^/api/reports")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    # Every check but one: a schema cannot say that `to` comes after `from` within a
    # year, so well-formed dates out of order are refused by design.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
