"""Satisfaction reports (每案必访 measured) and complaint pre-warning (投诉预警).

metrics: the figures, computed from plain records; source: reads those records from Redis
(tickets, the resolutions stream, return visits); api/openapi: GET /api/reports/...;
export: CSV; charts: server-side SVG; console: the supervisors' page; prewarning: EARS C2
spike detection on daily complaint counts, its alerts and its hourly desk worker.
"""
