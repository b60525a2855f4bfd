"""The CSV export: one row per scope, missing visits last, no spreadsheet formulas."""

from __future__ import annotations

import csv
import io

from bot.reports.export import COLUMNS, safe_cell, to_csv
from bot.reports.metrics import Figures, Missing, Rate, Report


def test_rows_and_columns() -> None:
    overall = Figures(resolutions=4, satisfaction=Rate(1, 3), coverage=Rate(3, 4))
    report = Report(
        overall=overall,
        by_category={"billing": overall},
        by_grade={},
        by_agent={"=cmd|' /C calc'!A0": Figures()},
        by_day={"2026-11-01": Figures()},
        missing=[Missing("TK20261101-0001", 2, 0.0, None)],
        pending=0,
        withdrawn=0,
    )
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert tuple(rows[0]) == COLUMNS
    assert [r[0] for r in rows[1:]] == ["overall", "category", "agent", "day", "missing_visit"]
    overall_row = dict(zip(COLUMNS, rows[1], strict=True))
    assert overall_row["satisfaction_pct"] == "33.3" and overall_row["coverage_pct"] == "75.0"
    assert overall_row["response_pct"] == ""  # nothing sent: no percentage
    assert rows[3][1].startswith("'=")
    assert rows[-1][:2] == ["missing_visit", "TK20261101-0001:2"]


def test_safe_cell() -> None:
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("wang.fang") == "wang.fang"
