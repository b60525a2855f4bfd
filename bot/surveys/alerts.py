"""Low-rating alerts for supervisors: a return visit rated 2 or less, or saying the problem
is not solved, reopened its ticket; the console lists it until a supervisor acknowledges it.

Redis (prefix `kefu:surveys`), the same shape as the probable-outage alerts
(bot/outages/reports.py; both are bot.alerts's):
- `alerts`          sorted set: alert id (= the visit id) -> raised at (epoch seconds)
- `alert:<id>`      hash: id, ticket, rating, comment, owner, callback_by, at,
                    acknowledged_by, acknowledged_at

One alert per visit: an answer handled twice (a re-run turn) raises it once.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from bot.alerts import AlertKind, acknowledged_at
from bot.surveys.store import PREFIX

ALERT_TTL_S = 30 * 24 * 3600
MAX_ID = 64


def alert_key(alert_id: str) -> str:
    return KIND.key(alert_id)


async def raise_alert(
    redis: aioredis.Redis, visit_id: str, at: float, details: dict[str, str]
) -> bool:
    """Raises the visit's alert (details: ticket, rating, comment, owner, callback_by...);
    False if it was already raised."""
    raised = await KIND.raise_once(redis, at, list(details.items()), alert_id=visit_id)
    return raised is not None


def _alert(row: dict[str, str]) -> dict[str, Any]:
    rating = row.get("rating")
    return {
        "id": row.get("id", ""),
        "ticket": row.get("ticket", ""),
        "rating": int(rating) if rating else None,
        "comment": row.get("comment") or None,
        "owner": row.get("owner") or None,
        "callback_by": row.get("callback_by") or None,
        "at": float(row.get("at") or 0),
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": acknowledged_at(row),
    }


def _valid_id(alert_id: str) -> bool:
    return bool(alert_id) and len(alert_id) <= MAX_ID and alert_id.isprintable()


KIND = AlertKind(PREFIX, ALERT_TTL_S, _alert, _valid_id)
ALERTS = KIND.index
# Low-rating alerts, newest first (unacknowledged ones only by default).
alerts = KIND.alerts
# Marks the alert seen by `actor` (the first acknowledgement stays). False: no such alert.
acknowledge = KIND.acknowledge
