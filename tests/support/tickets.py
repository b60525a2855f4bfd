"""Ticket test helpers: Redis DB 1, a settable clock, two customers' phones, a complaint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bot.tickets.models import Ticket
from bot.tickets.service import TicketService
from tests.conftest import RedisServer

DB = 1  # ours; other tests use DB 0
START = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def db_url(redis_server: RedisServer) -> str:
    return redis_server.db_url(DB)


PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"


async def complaint(
    service: TicketService, text: str = "电费单金额不对", **overrides: Any
) -> Ticket:
    fields: dict[str, Any] = {
        "category": "billing",
        "description": text,
        "location": "幸福路 12 号",
        "phone": PHONE,
        "language": "zh",
        "channel": "socketio",
        "phone_verified": True,  # the usual case; the unverified web case is tested explicitly
    }
    fields.update(overrides)
    return await service.create_complaint(**fields)
