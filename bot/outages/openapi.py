"""The outage API's part of the desk's OpenAPI document (/api/openapi.json).

The desk serves one document; the ticket package builds it (bot.tickets.openapi) and each
other API merges its fragment (paths and component schemas) into it with
bot.openapi.merge_into(), which refuses a path or schema name that is already taken. The
request schemas are also what the handlers validate against, so the document describes
exactly what is accepted.
"""

from __future__ import annotations

from typing import Any

from bot import openapi as oas
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

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
PROGRESS_KEYS = ("recipients", "queued", "sent", "delivered", "failed", "expired", "skipped")


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
            lang: oas.nonblank_text(
                MAX_TEXT, f"Public text in {lang}, sent in notices and told by the bot."
            )
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
                "eta": oas.nullable(
                    {**DATE_TIME, "description": "Estimated restoration, after starts_at."}
                ),
                "cause": oas.nonblank_text(MAX_CAUSE, "The cause, for staff and customers."),
                "text": _texts(required=True),
                "actor": actor,
            },
        },
        "OutageChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "eta": oas.nullable(
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
                "eta": oas.nullable(DATE_TIME),
            },
        },
    }


def list_parameters() -> list[dict[str, Any]]:
    return [
        oas.query_parameter(
            "status", {"type": "string", "enum": list(STATUSES)}, "Only outages in this status."
        ),
        oas.query_parameter(
            "area", {"type": "string", "enum": list(load_areas())}, "Only outages covering it."
        ),
        oas.query_parameter(
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
                "eta": oas.nullable(DATE_TIME),
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
                "history": {"type": "array", "items": oas.ref("OutageHistoryEntry")},
                "created_at": oas.nullable(DATE_TIME),
                "updated_at": oas.nullable(DATE_TIME),
            },
        },
        "OutageList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": oas.ref("Outage")}},
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


_responses = oas.Responses(
    {
        "404": "No outage with that id.",
        "409": "Not allowed in the outage's current status (e.g. a change to a restored one).",
        "503": "Storage (Redis) or the account backend is unavailable; retry.",
    }
)


ID_PARAM = oas.path_parameter("id", ID_PATTERN, "Outage id, e.g. OG20261201-0001.")
FOLLOW_UPS = ("getOutage", "changeOutage", "getOutageNotices")


def _links() -> dict[str, Any]:
    """OpenAPI links: the outage in this response is the `id` of the next call."""
    return oas.links("id", FOLLOW_UPS)


def fragment() -> dict[str, Any]:
    """{"paths": ..., "schemas": ...} to merge into the desk's document."""
    created = _responses("201", "Outage", "Published", "400", "413")
    created["201"]["links"] = _links()
    created["201"]["headers"] = oas.location("URL of the new outage")
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
                    "requestBody": oas.request_body("NewOutage"),
                    "responses": created,
                },
            },
            "/api/outages/preview": {
                "post": {
                    "operationId": "previewOutage",
                    "summary": "Recipients and SMS segments per language, before publishing",
                    "requestBody": oas.request_body("OutagePreviewRequest"),
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
                    "requestBody": oas.request_body("OutageChange"),
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
