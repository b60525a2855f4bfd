"""Billing periods: calendar months written "YYYY-MM"."""

from __future__ import annotations

from datetime import date


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(period: str, months: int) -> str:
    """`period` moved by `months` (negative: back): add_months("2026-01", -1) == "2025-12"."""
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
