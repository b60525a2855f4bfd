"""schemathesis against a real desk process's /api/openapi.json (tests/tickets,
tests/outages, tests/reports): the document with the API token, the fixtures of a module
that checks some of its paths, and stateful runs following the document's links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import RedisServer
from tests.support.desk_process import desk_env, desk_process


def api_schema(desk_url: str, token: str):  # type: ignore[no-untyped-def]
    """The desk's OpenAPI document, loaded by schemathesis with the API token. The token
    goes in through the config (not call kwargs), so cases that test a missing token go
    without it."""
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{desk_url}/api/openapi.json", headers=auth)
    schema.config.update(headers=auth)
    return schema


def desk_openapi(db: int, token: str, path_regex: str) -> tuple[Any, Any, Any]:
    """For a test module: its `desk_url` fixture (a desk process on Redis database `db`,
    module-scoped), its `api_schema` fixture (the paths matching `path_regex`) and the lazy
    schemathesis schema built on that fixture, to parametrize its tests with. Assign the
    fixtures to module names so pytest finds them."""

    @pytest.fixture(scope="module", name="desk_url")
    def desk_url(redis_server: RedisServer) -> Iterator[str]:
        with desk_process(desk_env(redis_server.db_url(db), token)) as url:
            yield url

    @pytest.fixture(name="api_schema")
    def paths(desk_url: str):  # type: ignore[no-untyped-def]
        return api_schema(desk_url, token).include(path_regex=path_regex)

    return desk_url, paths, schemathesis.pytest.from_fixture("api_schema")


def run_stateful(schema: Any, excluded_checks: list[Any]) -> None:
    """schemathesis's state machine over `schema`'s links (15 runs of up to 8 steps), every
    response checked but for `excluded_checks`."""

    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response, case, additional_checks=None, **kwargs):  # type: ignore[no-untyped-def]
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=excluded_checks,
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
