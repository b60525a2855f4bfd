"""Reads what a report needs from Redis: the resolutions in the range (the stream the
ticket store writes atomically with every move to `resolved`), their tickets, and their
return visits (bot.surveys.store.VisitStore)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from bot.reports.metrics import Resolution, VisitLike
from bot.tickets.models import Ticket
from bot.tickets.store import RESOLUTIONS_FIELD, Keys

RESOLUTIONS = Keys().resolutions  # entries: number, resolution, at (bot/tickets/store.py)
BATCH = 1000


class VisitSource(Protocol):
    """The part of bot.surveys.store.VisitStore a report uses."""

    async def get(self, visit_id: str) -> VisitLike | None: ...
    async def in_range(self, start: float, end: float) -> Sequence[VisitLike]: ...


@dataclass
class Records:
    resolutions: list[Resolution]
    tickets: dict[str, Ticket]
    visits: dict[str, VisitLike]
    latest: dict[str, int]  # each ticket's number of resolutions so far


async def resolutions_between(redis: aioredis.Redis, start: float, end: float) -> list[Resolution]:
    """Resolutions with start <= at < end. The stream's ids are Redis server time while
    `at` is the desk's (injectable) clock, so the filter is on `at`: one pass over the
    stream, which grows by one short entry per resolution."""
    out: list[Resolution] = []
    cursor = "-"
    while True:
        rows = await redis.xrange(RESOLUTIONS, min=cursor, max="+", count=BATCH)
        for _, fields in rows:
            try:
                res = Resolution(
                    str(fields["number"]), int(fields["resolution"]), float(fields["at"])
                )
            except (KeyError, ValueError):
                continue  # a malformed entry is not a resolution
            if start <= res.at < end:
                out.append(res)
        if len(rows) < BATCH:
            return out
        cursor = f"({rows[-1][0]}"


async def tickets_of(
    redis: aioredis.Redis, numbers: Sequence[str]
) -> tuple[dict[str, Ticket], dict[str, int]]:
    """The tickets, and how many times each has been resolved so far."""
    keys = Keys()
    out: dict[str, Ticket] = {}
    latest: dict[str, int] = {}
    unique = list(dict.fromkeys(numbers))
    for offset in range(0, len(unique), BATCH):
        chunk = unique[offset : offset + BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for number in chunk:
                pipe.hgetall(keys.ticket(number))
            rows = await pipe.execute()
        for number, raw in zip(chunk, rows, strict=True):
            if raw:
                out[number] = Ticket.from_redis(raw)
                latest[number] = int(raw.get(RESOLUTIONS_FIELD) or 0)
    return out, latest


async def gather(redis: aioredis.Redis, visits: VisitSource, start: float, end: float) -> Records:
    resolutions = await resolutions_between(redis, start, end)
    tickets, latest = await tickets_of(redis, [r.number for r in resolutions])
    found = {v.id: v for v in await visits.in_range(start, end)}
    # A visit stores its resolution's time; look up by id any whose time differs slightly.
    for res in resolutions:
        if res.visit_id not in found:
            visit = await visits.get(res.visit_id)
            if visit is not None:
                found[res.visit_id] = visit
    return Records(resolutions, tickets, found, latest)
