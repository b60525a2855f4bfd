"""The reports API's part of the desk's OpenAPI document (/api/openapi.json), merged with
bot.openapi.merge_into (which refuses a path or schema already taken)."""

from __future__ import annotations

from typing import Any

from bot.openapi import JSON, error_response, ref
from bot.reports.dates import MAX_DAYS

CSV = "text/csv"
FORMATS = ("json", "csv")
_ERRORS = {
    "400": "A bad query; `field` names the parameter",
    "401": "Missing or wrong bearer token",
    "503": "Redis is unavailable; retry later",
}


def parameters(*, with_format: bool) -> list[dict[str, Any]]:
    day = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    params: list[dict[str, Any]] = [
        {
            "name": "from",
            "in": "query",
            "required": True,
            "schema": day,
            "description": "First day (YYYY-MM-DD, company time zone KEFU_TIMEZONE).",
        },
        {
            "name": "to",
            "in": "query",
            "required": True,
            "schema": day,
            "description": f"Last day, inclusive; at most {MAX_DAYS} days after `from`.",
        },
    ]
    if with_format:
        params.append(
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(FORMATS), "default": "json"},
                "description": "csv: the same figures as /api/reports/satisfaction.csv.",
            }
        )
    return params


def _errors() -> dict[str, Any]:
    return {code: error_response(text) for code, text in _ERRORS.items()}


def _schemas() -> dict[str, Any]:
    rate = {
        "type": "object",
        "required": ["numerator", "denominator", "percent"],
        "properties": {
            "numerator": {"type": "integer", "minimum": 0},
            "denominator": {"type": "integer", "minimum": 0},
            "percent": {
                "type": "number",
                "nullable": True,
                "description": "100 * numerator / denominator rounded half-up to 0.1; null "
                "when the denominator is 0",
            },
        },
    }
    figures = {
        "type": "object",
        "required": [
            "resolutions",
            "tickets",
            "surveys_sent",
            "responses",
            "ratings",
            "satisfaction",
            "response",
            "coverage",
            "first_response_sla",
            "resolution_sla",
            "median_resolve_s",
        ],
        "properties": {
            "resolutions": {"type": "integer", "minimum": 0},
            "tickets": {"type": "integer", "minimum": 0},
            "surveys_sent": {"type": "integer", "minimum": 0},
            "responses": {"type": "integer", "minimum": 0},
            "ratings": {"type": "object", "additionalProperties": {"type": "integer"}},
            "satisfaction": ref("ReportRate"),
            "response": ref("ReportRate"),
            "coverage": ref("ReportRate"),
            "first_response_sla": ref("ReportRate"),
            "resolution_sla": ref("ReportRate"),
            "median_resolve_s": {"type": "number", "nullable": True},
        },
    }
    groups = {"type": "object", "additionalProperties": ref("ReportFigures")}
    report = {
        "type": "object",
        "required": [
            "from",
            "to",
            "timezone",
            "generated_at",
            "overall",
            "by_category",
            "by_grade",
            "by_agent",
            "by_day",
            "coverage",
        ],
        "properties": {
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "timezone": {"type": "string"},
            "generated_at": {"type": "number"},
            "overall": ref("ReportFigures"),
            "by_category": groups,
            "by_grade": groups,
            "by_agent": groups,
            "by_day": groups,
            "coverage": {
                "type": "object",
                "required": ["complete", "pending", "missing"],
                "properties": {
                    "complete": {"type": "boolean"},
                    "pending": {"type": "integer", "minimum": 0},
                    "missing": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["number", "resolution", "resolved_at", "visit_status"],
                            "properties": {
                                "number": {"type": "string"},
                                "resolution": {"type": "integer", "minimum": 1},
                                "resolved_at": {"type": "number"},
                                "visit_status": {"type": "string", "nullable": True},
                            },
                        },
                    },
                },
            },
        },
    }
    return {"ReportRate": rate, "ReportFigures": figures, "SatisfactionReport": report}


def fragment() -> dict[str, Any]:
    """{"paths": ..., "schemas": ...} to merge into the desk's document."""
    csv_ok = {"description": "The report as CSV", "content": {CSV: {"schema": {"type": "string"}}}}
    return {
        "paths": {
            "/api/reports/satisfaction": {
                "get": {
                    "operationId": "getSatisfactionReport",
                    "summary": "Satisfaction, response rate, return-visit coverage, SLA "
                    "compliance and median time to resolve for a date range, overall and per "
                    "category, grade, agent and day",
                    "parameters": parameters(with_format=True),
                    "responses": {
                        "200": {
                            "description": "The report (CSV with format=csv)",
                            "content": {
                                JSON: {"schema": ref("SatisfactionReport")},
                                CSV: {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(),
                    },
                }
            },
            "/api/reports/satisfaction.csv": {
                "get": {
                    "operationId": "getSatisfactionReportCsv",
                    "summary": "The satisfaction report as CSV",
                    "parameters": parameters(with_format=False),
                    "responses": {"200": csv_ok, **_errors()},
                }
            },
        },
        "schemas": _schemas(),
    }
