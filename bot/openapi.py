"""OpenAPI 3.0 building blocks of the desk's one document (/api/openapi.json).

bot.tickets.openapi builds the document; bot.outages.openapi and bot.reports.openapi
build fragments that merge_into() adds to it. All of them describe their operations with
these pieces, so references, error responses and parameters have one shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JSON = "application/json"
# Error responses worded the same by every API with a JSON body (by HTTP status).
ERRORS = {
    "400": "Invalid input; `field` names it.",
    "401": "Missing or wrong bearer token.",
    "413": "Request body too large.",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def nonblank_text(max_len: int, description: str) -> dict[str, Any]:
    """A string of 1 to `max_len` characters, not all blank."""
    # \S: at least one non-space character (blank text is rejected).
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_len,
        "pattern": r"\S",
        "description": description,
    }


def query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def path_parameter(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": pattern},
        "description": description,
    }


def request_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}


def error_response(description: str) -> dict[str, Any]:
    """A response with the desk's JSON error body (the Error schema)."""
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


class Responses:
    """One API's operation responses: a JSON `ok` response, then error responses worded
    by status (ERRORS, with `descriptions` for the rest: 404, 409, 503 ...)."""

    def __init__(self, descriptions: Mapping[str, str]) -> None:
        self.descriptions = {**ERRORS, **descriptions}

    def error(self, code: str) -> dict[str, Any]:
        return error_response(self.descriptions[code])

    def __call__(
        self, ok: str, ok_schema: str, ok_description: str, *errors: str
    ) -> dict[str, Any]:
        """The `ok` response with a JSON body of `ok_schema`, then 401, 503 and `errors`."""
        out: dict[str, Any] = {
            ok: {"description": ok_description, "content": {JSON: {"schema": ref(ok_schema)}}}
        }
        for code in ("401", "503", *errors):
            out[code] = self.error(code)
        return out


def location(description: str) -> dict[str, Any]:
    """The Location header of a 201."""
    return {"Location": {"description": description, "schema": {"type": "string"}}}


def links(parameter: str, operation_ids: Iterable[str]) -> dict[str, Any]:
    """OpenAPI links: the response body's `parameter` is the same parameter of the next call."""
    return {
        op: {"operationId": op, "parameters": {parameter: f"$response.body#/{parameter}"}}
        for op in operation_ids
    }


def merge_into(document: dict[str, Any], part: dict[str, Any]) -> None:
    """Adds `part`'s paths and schemas to the desk's document; a name already taken is a
    programming error (two APIs claiming one path), raised at startup."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in schemas:
        raise ValueError("the desk's OpenAPI document has no Error schema to refer to")
    for path, item in part["paths"].items():
        if path in document["paths"]:
            raise ValueError(f"OpenAPI path {path} is defined twice")
        document["paths"][path] = item
    for name, schema in part["schemas"].items():
        if name in schemas:
            raise ValueError(f"OpenAPI schema {name} is defined twice")
        schemas[name] = schema


def for_validation(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema for jsonschema: `nullable: true` becomes a
    "null" type (jsonschema ignores the OpenAPI keyword)."""
    if isinstance(schema, list):
        return [for_validation(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: for_validation(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") and "type" in schema:
        out["type"] = [schema["type"], "null"]
    return out
