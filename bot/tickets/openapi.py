"""The ticket API's OpenAPI 3.0 document.

The request schemas here are also what the handlers validate against (api.py), so the
document describes exactly what the service accepts. Enumerations (categories, grades,
agents) come from the loaded YAML policies.
"""

from __future__ import annotations

from typing import Any

from bot import openapi as oas
from bot.tickets.models import LANGUAGES, Status
from bot.tickets.service import Policies
from bot.tickets.validation import (
    ACCOUNT_PATTERN,
    ACTOR_PATTERN,
    CHANNEL_PATTERN,
    CURSOR_PATTERN,
    DEFAULT_LIMIT,
    MAX_COMMENT,
    MAX_DESCRIPTION,
    MAX_LIMIT,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_PHONE_TEXT,
    NUMBER_PATTERN,
)

STATUSES = [s.value for s in Status]


def request_schemas(policies: Policies) -> dict[str, dict[str, Any]]:
    actor = {
        "type": "string",
        "pattern": ACTOR_PATTERN,
        "description": "Who does this (agent id); recorded in the history. Default: desk.",
    }
    note = oas.nonblank_text(MAX_NOTE, "Optional note recorded in the history.")
    return {
        "CreateTicket": {
            "type": "object",
            "additionalProperties": False,
            "required": ["category", "description", "phone"],
            "properties": {
                "category": {"type": "string", "enum": list(policies.roster.categories)},
                "description": oas.nonblank_text(
                    MAX_DESCRIPTION, "What happened, in the customer's words."
                ),
                "location": {
                    "type": "string",
                    "maxLength": MAX_LOCATION,
                    "description": "Address or place; may be empty.",
                },
                "account_id": {"type": "string", "pattern": ACCOUNT_PATTERN},
                "phone": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_PHONE_TEXT,
                    "description": "Contact phone, any common format; stored as E.164. "
                    "A number that is not a valid phone number gets 400.",
                },
                "language": {"type": "string", "enum": list(LANGUAGES), "default": "zh"},
                "channel": {"type": "string", "pattern": CHANNEL_PATTERN, "default": "desk"},
                "phone_verified": {
                    "type": "boolean",
                    "default": False,
                    "description": "The agent checked that the customer owns this phone. "
                    "Unverified tickets are not listed to that phone (by the bot) and do not "
                    "count toward its repeat-complaint grade.",
                },
                "actor": actor,
            },
        },
        "StatusChange": {
            "type": "object",
            "additionalProperties": False,
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": STATUSES},
                "note": note,
                "actor": actor,
            },
        },
        "Reassign": {
            "type": "object",
            "additionalProperties": False,
            "required": ["owner"],
            "properties": {
                "owner": {"type": "string", "enum": list(policies.roster.agents)},
                "note": note,
                "actor": actor,
            },
        },
        "NewNote": {
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "properties": {"text": oas.nonblank_text(MAX_NOTE, "The note."), "actor": actor},
        },
        "Rating": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rating"],
            "properties": {
                "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": oas.nonblank_text(MAX_COMMENT, "The customer's comment."),
                "actor": actor,
            },
        },
    }


def list_parameters(policies: Policies) -> list[dict[str, Any]]:
    return [
        oas.query_parameter(
            "status", {"type": "string", "enum": STATUSES}, "Only tickets in this status."
        ),
        oas.query_parameter(
            "grade", {"type": "string", "enum": list(policies.grader.grades)}, "Only this grade."
        ),
        oas.query_parameter(
            "phone",
            {"type": "string", "minLength": 1, "maxLength": MAX_PHONE_TEXT},
            "Only tickets of this contact phone (any format; invalid numbers get 400).",
        ),
        oas.query_parameter(
            "owner", {"type": "string", "pattern": ACTOR_PATTERN}, "Only this owner (agent id)."
        ),
        oas.query_parameter(
            "category",
            {"type": "string", "enum": list(policies.roster.categories)},
            "Only this category.",
        ),
        oas.query_parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "Page size.",
        ),
        oas.query_parameter(
            "cursor",
            {"type": "string", "pattern": CURSOR_PATTERN},
            "next_cursor of the previous page.",
        ),
    ]


def _response_schemas(policies: Policies) -> dict[str, dict[str, Any]]:
    date_time = {"type": "string", "format": "date-time"}
    text = {"type": "string"}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What is wrong, for a human."},
                "field": {"type": "string", "description": "The input to fix."},
            },
        },
        "GradeReason": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rule", "grade", "zh", "en", "match"],
            "properties": {
                "rule": text,
                "grade": {"type": "string", "enum": list(policies.grader.grades)},
                "zh": text,
                "en": text,
                "match": oas.nullable(text),
            },
        },
        "Ticket": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "number",
                "kind",
                "category",
                "description",
                "location",
                "account_id",
                "channel",
                "phone",
                "language",
                "grade",
                "grade_reasons",
                "owner",
                "status",
                "created_at",
                "updated_at",
                "first_response_due",
                "resolve_due",
                "first_response_at",
                "resolved_at",
                "closed_at",
                "escalations",
                "reopen_count",
                "rating",
                "rating_comment",
                "conversation_id",
                "phone_verified",
            ],  # fmt: skip
            "properties": {
                "number": {"type": "string", "pattern": NUMBER_PATTERN},
                "kind": text,
                "category": {"type": "string", "enum": list(policies.roster.categories)},
                "description": text,
                "location": text,
                "account_id": oas.nullable(text),
                "channel": text,
                "phone": {"type": "string", "description": "E.164"},
                "language": {"type": "string", "enum": list(LANGUAGES)},
                "grade": {"type": "string", "enum": list(policies.grader.grades)},
                "grade_reasons": {"type": "array", "items": oas.ref("GradeReason")},
                "owner": oas.nullable(text),
                "status": {"type": "string", "enum": STATUSES},
                "created_at": date_time,
                "updated_at": date_time,
                "first_response_due": date_time,
                "resolve_due": date_time,
                "first_response_at": oas.nullable(date_time),
                "resolved_at": oas.nullable(date_time),
                "closed_at": oas.nullable(date_time),
                "escalations": {"type": "integer", "minimum": 0},
                "reopen_count": {"type": "integer", "minimum": 0},
                "rating": oas.nullable({"type": "integer", "minimum": 1, "maximum": 5}),
                "rating_comment": oas.nullable(text),
                "conversation_id": oas.nullable(
                    {
                        "type": "string",
                        "description": "The bot conversation that filed it "
                        "(web:<hex>, sms:+E164); null for desk tickets.",
                    }
                ),
                "phone_verified": {
                    "type": "boolean",
                    "description": "Whether the filer proved they own `phone` (SMS: the "
                    "carrier; web: a one-time code). Unverified tickets are shown here to staff "
                    "but are not listed to that phone by the bot and do not count toward its "
                    "repeat-complaint grade.",
                },
            },
        },
        "HistoryEntry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "at", "actor", "action", "data"],
            "properties": {
                "id": text,
                "at": date_time,
                "actor": text,
                "action": {
                    "type": "string",
                    "enum": ["created", "assigned", "status", "note", "rated", "escalated"],
                },
                "data": {"type": "object"},
            },
        },
        "TicketDetail": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ticket", "history"],
            "properties": {
                "ticket": oas.ref("Ticket"),
                "history": {"type": "array", "items": oas.ref("HistoryEntry")},
            },
        },
        "TicketPage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": oas.ref("Ticket")},
                "next_cursor": oas.nullable({"type": "string", "pattern": CURSOR_PATTERN}),
            },
        },
    }


_responses = oas.Responses(
    {
        "404": "No ticket with that number.",
        "409": "Not allowed in the ticket's current state (e.g. an illegal status transition).",
        "503": "The ticket store (Redis) is unavailable; retry.",
    }
)


def _with_links(responses: dict[str, Any], operation_ids: tuple[str, ...]) -> dict[str, Any]:
    responses["200"]["links"] = _links(*operation_ids)
    return responses


NUMBER_PARAM = oas.path_parameter("number", NUMBER_PATTERN, "Ticket number, e.g. TK20261127-0042.")


def _links(*operation_ids: str) -> dict[str, Any]:
    """OpenAPI links: the ticket in this response is the `number` of the next call."""
    return oas.links("number", operation_ids)


FOLLOW_UPS = ("getTicket", "changeStatus", "reassignTicket", "addNote", "rateTicket")


def build_document(policies: Policies) -> dict[str, Any]:
    schemas = {**_response_schemas(policies), **request_schemas(policies)}
    one = [NUMBER_PARAM]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Kefu desk API",
            "version": "1.0.0",
            "description": "Complaint tickets: graded (P1-P4), owned, SLA-timed, audited; "
            "outages and their SMS notices (bot/outages/openapi.py adds those paths). "
            "Errors are JSON {error, field}.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI document",
                            "content": {oas.JSON: {"schema": {"type": "object"}}},
                        },
                        "401": _responses.error("401"),
                    },
                }
            },
            "/api/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "List tickets, newest first, with filters and cursor pagination",
                    "parameters": list_parameters(policies),
                    "responses": _responses("200", "TicketPage", "A page of tickets", "400"),
                },
                "post": {
                    "operationId": "createTicket",
                    "summary": "Create a complaint ticket (graded, assigned, SLA set)",
                    "requestBody": oas.request_body("CreateTicket"),
                    "responses": {
                        **_responses("201", "Ticket", "Created", "400", "413"),
                        "201": {
                            "description": "Created",
                            "headers": oas.location("URL of the new ticket"),
                            "content": {oas.JSON: {"schema": oas.ref("Ticket")}},
                            "links": _links(*FOLLOW_UPS),
                        },
                    },
                },
            },
            "/api/tickets/{number}": {
                "get": {
                    "operationId": "getTicket",
                    "summary": "A ticket with its full history",
                    "parameters": one,
                    "responses": _responses("200", "TicketDetail", "The ticket", "400", "404"),
                }
            },
            "/api/tickets/{number}/status": {
                "post": {
                    "operationId": "changeStatus",
                    "summary": "Move the ticket along an allowed status transition",
                    "description": "new→assigned→in_progress→resolved→closed; resolved|closed→"
                    "reopened→assigned|in_progress. Others get 409.",
                    "parameters": one,
                    "requestBody": oas.request_body("StatusChange"),
                    "responses": _with_links(
                        _responses("200", "Ticket", "Changed", "400", "404", "409", "413"),
                        FOLLOW_UPS,
                    ),
                }
            },
            "/api/tickets/{number}/owner": {
                "post": {
                    "operationId": "reassignTicket",
                    "summary": "Give the ticket another owner (new→assigned)",
                    "parameters": one,
                    "requestBody": oas.request_body("Reassign"),
                    "responses": _responses(
                        "200", "Ticket", "Reassigned", "400", "404", "409", "413"
                    ),
                }
            },
            "/api/tickets/{number}/notes": {
                "post": {
                    "operationId": "addNote",
                    "summary": "Add a note to the history",
                    "parameters": one,
                    "requestBody": oas.request_body("NewNote"),
                    "responses": _responses(
                        "201", "HistoryEntry", "Recorded", "400", "404", "409", "413"
                    ),
                }
            },
            "/api/tickets/{number}/rating": {
                "post": {
                    "operationId": "rateTicket",
                    "summary": "Record the customer's 1-5 rating of a resolved/closed ticket",
                    "parameters": one,
                    "requestBody": oas.request_body("Rating"),
                    "responses": _responses("200", "Ticket", "Rated", "400", "404", "409", "413"),
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }
