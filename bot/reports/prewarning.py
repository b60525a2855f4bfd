"""Complaint pre-warning (投诉预警): a day's complaint count per area and category against
its recent history, with the EARS C2 method.

EARS C2 (CDC's Early Aberration Reporting System; Hutwagner et al., "The bioterrorism
preparedness and response Early Aberration Reporting System (EARS)", J Urban Health
2003;80(2 Suppl 1):i89-96): the baseline is the 7 days t-9 .. t-3 (a 2-day guard band
keeps a spike that builds over days out of its own baseline); with their mean m and
standard deviation s (sample, n-1), day t alarms when (count - m) / s > 3. What this
module implements, exactly:

    expected  = m                                   over days t-9 .. t-3 (zeros included)
    threshold = m + 3 * max(s, MIN_SD)              MIN_SD = 0.5: with a flat history
                                                    (s = 0) one complaint more than usual
                                                    would otherwise alarm
    alarm     = count > threshold and count >= KEFU_PREWARNING_MIN_COUNT (the floor)

Area: bot.accounts.areas.find_area on the complaint's free-text location ("unknown" when
it names none). Day: KEFU_TIMEZONE. The desk runs the check every
KEFU_PREWARNING_INTERVAL_S (hourly) on the current, partial day, so a spike is seen before
the day is over, and on the previous day, complete (what came after its last check).

Redis (prefix `kefu:prewarning`):
- `alert:<day>:<area>:<category>`  hash: the alert (at most one per day, area, category;
                                   later checks update its count and samples)
- `alerts`                         sorted set: alert id -> raised at (epoch seconds)
- stream `kefu:alerts`             one entry per alert raised (type complaint_spike): the
                                   event feed for other consumers (the console's live hub
                                   reads the broker and handoff streams, not this one; the
                                   reports page lists alerts from the sorted set)
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web

from bot.accounts.areas import find_area
from bot.alerts import AlertKind, Stream, acknowledged_at
from bot.http import REDIS, SETTINGS, WORKERS
from bot.reports.dates import day_start
from bot.tasks import Periodic, Workers
from bot.tickets.models import KIND_COMPLAINT
from bot.tickets.store import Keys

log = logging.getLogger(__name__)

PREFIX = "kefu:prewarning"
STREAM = "kefu:alerts"
STREAM_MAXLEN = 10_000
ALERT_TTL_S = 30 * 24 * 3600
FEED = Stream(STREAM, "complaint_spike", STREAM_MAXLEN)
WORKER = "complaint_prewarning"
BASELINE_DAYS = 7  # t-9 .. t-3
GUARD_DAYS = 2
MIN_SD = 0.5
SAMPLES = 5  # ticket numbers named in an alert
UNKNOWN_AREA = "unknown"
SCAN_BATCH = 500
ALERT_ID = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}:[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_.-]{1,64}")

Clock = Callable[[], float]


# ---------------------------------------------------------------- EARS C2
@dataclass(frozen=True)
class Check:
    count: int
    expected: float  # the baseline mean
    sd: float
    threshold: float
    alarm: bool


def c2(baseline: Sequence[int], count: int, *, min_count: int) -> Check:
    """EARS C2 on one day's `count` given its 7 baseline days (t-9 .. t-3)."""
    if len(baseline) != BASELINE_DAYS:
        raise ValueError(f"EARS C2 needs {BASELINE_DAYS} baseline days")
    mean = sum(baseline) / BASELINE_DAYS
    sd = math.sqrt(sum((x - mean) ** 2 for x in baseline) / (BASELINE_DAYS - 1))
    threshold = mean + 3 * max(sd, MIN_SD)
    return Check(count, mean, sd, threshold, count > threshold and count >= min_count)


def baseline_days(day: date) -> list[date]:
    """t-9 .. t-3, oldest first."""
    first = day - timedelta(days=GUARD_DAYS + BASELINE_DAYS)
    return [first + timedelta(days=i) for i in range(BASELINE_DAYS)]


# ---------------------------------------------------------------- counting
Cell = tuple[str, str]  # (area, category)


def area_of(location: str) -> str:
    found = find_area(location or "")
    return found.id if found else UNKNOWN_AREA


async def complaints_by_day(
    redis: aioredis.Redis, first: date, last: date, tz: ZoneInfo
) -> dict[date, dict[Cell, list[str]]]:
    """Complaint numbers per day (first..last inclusive) and (area, category), oldest
    first. Walks the ticket store's creation-order index from the newest ticket back to
    the first day (tickets are numbered as they are filed)."""
    keys = Keys()
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    out: dict[date, dict[Cell, list[str]]] = {}
    upper = "+inf"
    while True:
        rows = await redis.zrevrangebyscore(
            keys.all, upper, "-inf", start=0, num=SCAN_BATCH, withscores=True
        )
        if not rows:
            break
        async with redis.pipeline(transaction=False) as pipe:
            for number, _ in rows:
                pipe.hmget(keys.ticket(number), "created_at", "kind", "category", "location")
            fields = await pipe.execute()
        older = 0
        for (number, _), (created, kind, category, location) in zip(rows, fields, strict=True):
            if not created:
                continue
            at = datetime.fromisoformat(created).timestamp()
            if at < start:
                older += 1
                continue
            if at >= end or (kind or KIND_COMPLAINT) != KIND_COMPLAINT:
                continue
            day = datetime.fromtimestamp(at, tz).date()
            cell = (area_of(location or ""), category or "")
            out.setdefault(day, {}).setdefault(cell, []).append(number)
        # A whole batch before the window: everything further back is older still (a
        # clock step backwards can put a few tickets out of order, never a whole batch).
        if older == len(rows) or len(rows) < SCAN_BATCH:
            break
        upper = f"({int(rows[-1][1])}"
    for cells in out.values():
        for numbers in cells.values():
            numbers.reverse()  # oldest first
    return out


@dataclass(frozen=True)
class Spike:
    day: date
    area: str
    category: str
    check: Check
    samples: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.day.isoformat()}:{self.area}:{self.category}"


def spikes_on(
    day: date, counts: Mapping[date, Mapping[Cell, Sequence[str]]], *, min_count: int
) -> list[Spike]:
    """The cells of `day` whose count alarms against their baseline."""
    history = baseline_days(day)
    out: list[Spike] = []
    for cell, numbers in sorted(counts.get(day, {}).items()):
        baseline = [len(counts.get(d, {}).get(cell, ())) for d in history]
        check = c2(baseline, len(numbers), min_count=min_count)
        if check.alarm:
            out.append(Spike(day, cell[0], cell[1], check, tuple(numbers[:SAMPLES])))
    return out


# ---------------------------------------------------------------- alerts
async def check_day(
    redis: aioredis.Redis, now: float, tz: ZoneInfo, *, min_count: int, day: date | None = None
) -> list[Spike]:
    """Checks `day` (default: the day `now` falls in, so far) and raises its alerts;
    returns the spikes found (raised now or already raised earlier)."""
    today = day or datetime.fromtimestamp(now, tz).date()
    counts = await complaints_by_day(redis, baseline_days(today)[0], today, tz)
    spikes = spikes_on(today, counts, min_count=min_count)
    for spike in spikes:
        raised = await raise_spike(redis, spike, now)
        if raised:
            log.warning(
                "complaint spike %s: %d complaints, expected %.1f",
                spike.id,
                spike.check.count,
                spike.check.expected,
            )
    return spikes


async def raise_spike(redis: aioredis.Redis, spike: Spike, now: float) -> bool:
    """Raises the spike's alert (and its stream entry); False if it was already raised
    (then only a larger count, with its samples, is recorded)."""
    # Atomic: the first check that sees the spike raises it (stream entry included);
    # later checks of the same day only raise the count it shows. Concurrent desks
    # raise it once.
    raised = await KIND.raise_once(
        redis,
        now,
        [
            ("day", spike.day.isoformat()),
            ("area", spike.area),
            ("category", spike.category),
            ("actual", str(spike.check.count)),
            ("expected", repr(round(spike.check.expected, 3))),
            ("threshold", repr(round(spike.check.threshold, 3))),
            ("samples", json.dumps(list(spike.samples))),
        ],
        alert_id=spike.id,
        grow=("actual", "samples"),
        stream=FEED,
    )
    return raised is not None


def _alert(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.get("id", ""),
        "day": row.get("day", ""),
        "area": row.get("area", ""),
        "category": row.get("category", ""),
        "actual": int(row.get("actual") or 0),
        "expected": float(row.get("expected") or 0),
        "threshold": float(row.get("threshold") or 0),
        "samples": json.loads(row.get("samples") or "[]"),
        "at": float(row.get("at") or 0),
        "acknowledged_by": row.get("acknowledged_by"),
        "acknowledged_at": acknowledged_at(row),
    }


def _valid_id(alert_id: str) -> bool:
    return ALERT_ID.fullmatch(alert_id) is not None


KIND = AlertKind(PREFIX, ALERT_TTL_S, _alert, _valid_id)
ALERTS = KIND.index
# Complaint-spike alerts, newest first (unacknowledged only by default).
alerts = KIND.alerts
# Marks the alert seen by `actor` (the first acknowledgement stays). False: no such alert.
acknowledge = KIND.acknowledge


# ---------------------------------------------------------------- the desk worker
def start(
    workers: Workers,
    redis: aioredis.Redis,
    tz: ZoneInfo,
    *,
    min_count: int,
    every_s: float,
    clock: Clock = time.time,
) -> Periodic:
    async def step() -> None:
        now = clock()
        today = datetime.fromtimestamp(now, tz).date()
        # Yesterday once more, complete: complaints filed after its last hourly check
        # (say 23:30) count too. Alerts are raised once, so re-checking costs no repeats.
        await check_day(redis, now, tz, min_count=min_count, day=today - timedelta(days=1))
        await check_day(redis, now, tz, min_count=min_count)

    return workers.periodic(WORKER, step, every_s, retry_s=min(every_s, 60.0), retry_max_s=every_s)


async def _prewarning_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    worker = start(
        app[WORKERS],
        app[REDIS],
        ZoneInfo(settings.timezone),
        min_count=settings.prewarning_min_count,
        every_s=settings.prewarning_interval_s,
    )
    yield
    await worker.stop()


def setup(app: web.Application) -> None:
    """The hourly pre-warning worker (one per desk process; alerts are raised once)."""
    app.cleanup_ctx.append(_prewarning_ctx)
