"""Outage test helpers: a settable clock (aware datetimes) and a valid outage to publish."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bot.outages.registry import OutageRegistry

START = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def outage_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "areas": ["chaoyang"],
        "kind": "planned",
        "starts_at": START + timedelta(days=1),
        "eta": START + timedelta(days=1, hours=4),
        "cause": "线路检修 line maintenance",
        "text": {
            "zh": "朝阳区明日10:00-14:00计划停电检修。",
            "en": "Planned outage in Chaoyang tomorrow 10:00-14:00 for maintenance.",
        },
        "actor": "boss",
    }
    fields.update(overrides)
    return fields


async def publish(registry: OutageRegistry, **overrides: Any):  # type: ignore[no-untyped-def]
    return await registry.publish(**outage_fields(**overrides))
