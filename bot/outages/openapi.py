"""The outage API's part of the desk's OpenAPI document (/api/openapi.json).

The desk serves one document; the ticket package builds it (bot.tickets.openapi) and each
other API merges its fragment (paths and component schemas) into it with merge_into(),
which refuses a path or schema name that is already taken. The request schemas are also
what the handlers validate against, so the document describes exactly what is accepted.
"""

from __future__ import annotations

from typing import Any

from bot.accounts.areas import load_areas
from bot.outages.models import (
    ACTOR_PATTERN,
    CHANGES,
    ID_PATTERN,
    KINDS,
    LANGUAGES,
    MAX_AREAS,
    MAX_CAUSE,
    MAX_TEXT,
    STATUSES,
)

JSON = "application/json"
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
PROGRESS_KEYS = ("recipients", "queued", "sent", "delivered", "failed", "expired", "skipped")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _line(max_len: int, description: str) -> dict[str, Any]:
    # \S: at least one non-space character (blank text is rejected).
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_len,
        "pattern": r"\S",
        "description": description,
    }


DATE_TIME = {"type": "string", "format": "date-time"}


def _areas() -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_AREAS,
        "uniqueItems": True,
        "items": {"type": "string", "enum": list(load_areas())},
        "description": "Affected areas (ids of content/accounts/areas.yml).",
    }


def _texts(required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            lang: _line(MAX_TEXT, f"Public text in {lang}, sent in notices and told by the bot.")
            for lang in LANGUAGES
        },
    }
    if required:
        schema["required"] = list(LANGUAGES)
    else:
        schema["minProperties"] = 1
        schema["description"] = "A language left out keeps its current text."
    return schema


def request_schemas() -> dict[str, dict[str, Any]]:
    actor = {
        "type": "string",
        "pattern": ACTOR_PATTERN,
        "description": "Who does this (staff id); recorded in the history. Default: desk.",
    }
    return {
        "NewOutage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["areas", "kind", "starts_at", "cause", "text"],
            "properties": {
                "areas": _areas(),
                "kind": {"type": "string", "enum": list(KINDS)},
                "starts_at": {**DATE_TIME, "description": "Start (RFC 3339, with offset)."},
                "eta": _nullable(
                    {**DATE_TIME, "description": "Estimated restoration, after starts_at."}
                ),
                "cause": _line(MAX_CAUSE, "The cause, for staff and customers."),
                "text": _texts(required=True),
                "actor": actor,
            },
        },
        "OutageChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "eta": _nullable(
                    {**DATE_TIME, "description": "New estimated restoration (null: unknown)."}
                ),
                "text": _texts(required=False),
                "status": {
                    "type": "string",
                    "enum": list(STATUSES),
                    "description": "announced→in_progress|restored|cancelled; "
                    "in_progress→restored. Restored and cancelled are final (409).",
                },
                "actor": actor,
            },
        },
        "OutagePreviewRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["areas", "kind", "text"],
            "properties": {
                "areas": _areas(),
                "kind": {"type": "string", "enum": list(KINDS)},
                "text": _texts(required=True),
                "starts_at": {
                    **DATE_TIME,
                    "description": "As it will be published (the notice names the times); "
                    "default: a typical planned day.",
                },
                "eta": _nullable(DATE_TIME),
            },
        },
    }


def list_parameters() -> list[dict[str, Any]]:
    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }

    return [
        query("status", {"type": "string", "enum": list(STATUSES)}, "Only outages in this status."),
        query("area", {"type": "string", "enum": list(load_areas())}, "Only outages covering it."),
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "At most this many, newest first.",
        ),
    ]


def _response_schemas() -> dict[str, dict[str, Any]]:
    text = {"type": "string"}
    count = {"type": "integer", "minimum": 0}
    return {
        "OutageHistoryEntry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["at", "actor", "change", "from", "to"],
            "properties": {
                "at": DATE_TIME,
                "actor": text,
                "change": {"type": "string", "enum": list(CHANGES)},
                "from": {"description": "The value before (a status, an ETA, the texts)."},
                "to": {"description": "The value after."},
            },
        },
        "Outage": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "areas",
                "kind",
                "starts_at",
                "eta",
                "cause",
                "text",
                "status",
                "revision",
                "history",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN},
                "areas": {"type": "array", "items": text},
                "kind": {"type": "string", "enum": list(KINDS)},
                "starts_at": DATE_TIME,
                "eta": _nullable(DATE_TIME),
                "cause": text,
                "text": {
                    "type": "object",
                    "required": list(LANGUAGES),
                    "properties": {lang: text for lang in LANGUAGES},
                },
                "status": {"type": "string", "enum": list(STATUSES)},
                "revision": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Bumped by every change (one per change-stream entry).",
                },
                "history": {"type": "array", "items": _ref("OutageHistoryEntry")},
                "created_at": _nullable(DATE_TIME),
                "updated_at": _nullable(DATE_TIME),
            },
        },
        "OutageList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("Outage")}},
        },
        "OutagePreview": {
            "type": "object",
            "required": ["recipients", "segments"],
            "properties": {
                "recipients": {**count, "description": "Phones a notice would go to."},
                "segments": {
                    "type": "object",
                    "description": "SMS segments of one notice, per language.",
                    "required": list(LANGUAGES),
                    "properties": {lang: count for lang in LANGUAGES},
                },
                "bodies": {
                    "type": "object",
                    "description": "The notice's text per language, as it would be sent.",
                    "properties": {lang: text for lang in LANGUAGES},
                },
            },
        },
        "OutageNotices": {
            "type": "object",
            "required": ["outage_id", "progress"],
            "properties": {
                "outage_id": {"type": "string", "pattern": ID_PATTERN},
                "progress": {
                    "type": "object",
                    "required": list(PROGRESS_KEYS),
                    "properties": {key: count for key in PROGRESS_KEYS},
                },
            },
        },
    }


_ERRORS = {
    "400": "Invalid input; `field` names it.",
    "401": "Missing or wrong bearer token.",
    "404": "No outage with that id.",
    "409": "Not allowed in the outage's current status (e.g. a change to a restored one).",
    "413": "Request body too large.",
    "503": "Storage (Redis) or the account backend is unavailable; retry.",
}


def _responses(ok: str, ok_schema: str, ok_description: str, *errors: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {"description": ok_description, "content": {JSON: {"schema": _ref(ok_schema)}}}
    }
    for code in ("401", "503", *errors):
        out[code] = {"description": _ERRORS[code], "content": {JSON: {"schema": _ref("Error")}}}
    return out


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ID_PATTERN},
    "description": "Outage id, e.g. OG20261201-0001.",
}
FOLLOW_UPS = ("getOutage", "changeOutage", "getOutageNotices")


def _links() -> dict[str, Any]:
    """OpenAPI links: the outage in this response is the `id` of the next call."""
    return {
        op: {"operationId": op, "parameters": {"id": "$response.body#/id"}} for op in FOLLOW_UPS
    }


def fragment() -> dict[str, Any]:
    """{"paths": ..., "schemas": ...} to merge into the desk's document."""
    created = _responses("201", "Outage", "Published", "400", "413")
    created["201"]["links"] = _links()
    created["201"]["headers"] = {
        "Location": {"description": "URL of the new outage", "schema": {"type": "string"}}
    }
    changed = _responses("200", "Outage", "Changed (or unchanged)", "400", "404", "409", "413")
    changed["200"]["links"] = _links()
    return {
        "paths": {
            "/api/outages": {
                "get": {
                    "operationId": "listOutages",
                    "summary": "List outages, newest first",
                    "parameters": list_parameters(),
                    "responses": _responses("200", "OutageList", "Outages", "400"),
                },
                "post": {
                    "operationId": "createOutage",
                    "summary": "Publish an outage (customers in its areas are notified)",
                    "requestBody": _body("NewOutage"),
                    "responses": created,
                },
            },
            "/api/outages/preview": {
                "post": {
                    "operationId": "previewOutage",
                    "summary": "Recipients and SMS segments per language, before publishing",
                    "requestBody": _body("OutagePreviewRequest"),
                    "responses": _responses("200", "OutagePreview", "The preview", "400", "413"),
                }
            },
            "/api/outages/{id}": {
                "get": {
                    "operationId": "getOutage",
                    "summary": "An outage with its status history",
                    "parameters": [ID_PARAM],
                    "responses": _responses("200", "Outage", "The outage", "400", "404"),
                },
                "patch": {
                    "operationId": "changeOutage",
                    "summary": "Change the ETA, the public text or the status",
                    "description": "Each actual change bumps `revision` and is broadcast to "
                    "the customers concerned. A value equal to the current one changes nothing.",
                    "parameters": [ID_PARAM],
                    "requestBody": _body("OutageChange"),
                    "responses": changed,
                },
            },
            "/api/outages/{id}/notices": {
                "get": {
                    "operationId": "getOutageNotices",
                    "summary": "The broadcast's progress (queued, sent, delivered, failed, ...)",
                    "parameters": [ID_PARAM],
                    "responses": _responses("200", "OutageNotices", "Progress", "400", "404"),
                }
            },
        },
        "schemas": {**_response_schemas(), **request_schemas()},
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
