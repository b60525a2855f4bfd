"""The report as CSV: one row per scope (overall, each category, grade, agent and day),
then one row per resolution without a return visit."""

from __future__ import annotations

import csv
import io

from bot.reports.metrics import Figures, Rate, Report

COLUMNS = (
    "scope",
    "key",
    "resolutions",
    "tickets",
    "surveys_sent",
    "responses",
    "satisfied",
    "satisfaction_pct",
    "response_pct",
    "visits_attempted",
    "coverage_denominator",
    "coverage_pct",
    "first_response_met",
    "first_response_total",
    "first_response_pct",
    "resolution_met",
    "resolution_total",
    "resolution_pct",
    "median_resolve_s",
)


def _pct(rate: Rate) -> str:
    percent = rate.percent
    return "" if percent is None else f"{percent:.1f}"


def safe_cell(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (an agent name like "=HYPERLINK(...)"):
    such text gets a leading apostrophe (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _row(scope: str, key: str, f: Figures) -> list[str]:
    median = "" if f.median_resolve_s is None else f"{f.median_resolve_s:.0f}"
    return [
        scope,
        safe_cell(key),
        str(f.resolutions),
        str(f.tickets),
        str(f.surveys_sent),
        str(f.responses),
        str(f.satisfaction.numerator),
        _pct(f.satisfaction),
        _pct(f.response),
        str(f.coverage.numerator),
        str(f.coverage.denominator),
        _pct(f.coverage),
        str(f.first_response_sla.numerator),
        str(f.first_response_sla.denominator),
        _pct(f.first_response_sla),
        str(f.resolution_sla.numerator),
        str(f.resolution_sla.denominator),
        _pct(f.resolution_sla),
        median,
    ]


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(_row("overall", "", report.overall))
    for scope, groups in (
        ("category", report.by_category),
        ("grade", report.by_grade),
        ("agent", report.by_agent),
        ("day", report.by_day),
    ):
        for key, figures in groups.items():
            writer.writerow(_row(scope, key, figures))
    for missing in report.missing:
        writer.writerow(
            ["missing_visit", f"{missing.number}:{missing.resolution}"] + [""] * (len(COLUMNS) - 2)
        )
    return out.getvalue()
