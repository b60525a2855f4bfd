"""The desk's notice workers: the outage broadcast (a consumer group on the outage change
stream) and the periodic bill-reminder scan; setup(app) wires both, and the sender's
"bill" guard, into the desk.

Broadcast: each change entry (outage_id, change, revision, at) is read by one desk process
(group "notices"), its notices are queued (bot.notices.broadcast, idempotent), and only
then is the entry acknowledged. An entry a killed process held is taken over with
XAUTOCLAIM after SMS_RECLAIM_IDLE_S, and running it again queues nothing twice.

`python -m bot.notices.worker` runs the broadcast alone (tests kill it with SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from bot import db, logmask
from bot import settings as config
from bot.accounts import get_backend
from bot.accounts.backend import AccountBackend
from bot.http import REDIS, SETTINGS, WORKERS
from bot.notices import broadcast
from bot.notices.reminders import GUARD, Reminders, bill_guard
from bot.outages.models import OPEN_STATUSES
from bot.outages.registry import CHANGES, OutageRegistry
from bot.sms import sender
from bot.streams import consumer_name, ensure_group
from bot.tasks import Periodic, Workers

logger = logging.getLogger(__name__)

GROUP = "notices"
READ_BLOCK_MS = 1000
# Changes that only matter while the outage is open: a backlog must not announce an
# outage that is already over.
ONLY_WHILE_OPEN = frozenset({"published", "eta_changed"})


class BroadcastWorker:
    def __init__(
        self,
        redis: aioredis.Redis,
        backend: AccountBackend,
        registry: OutageRegistry,
        *,
        validity_s: int,
        merge_s: int,
        reclaim_idle_s: float,
        consumer: str | None = None,
        clock: Callable[[], float] = time.time,
        batch: int = broadcast.BATCH,
    ) -> None:
        self.redis = redis
        self.backend = backend
        self.registry = registry
        self.validity_s = validity_s
        self.merge_s = merge_s
        self.reclaim_idle_s = reclaim_idle_s
        self.consumer = consumer or consumer_name()
        self.clock = clock
        self.batch = batch
        self._group_ready = False

    async def handle(self, entry_id: str, fields: dict[str, str] | None) -> None:
        """Queues one change's notices, then acknowledges it. Raises (entry left pending,
        retried) if Redis or the account backend fails."""
        fields = fields or {}
        change = fields.get("change", "")
        outage_id = fields.get("outage_id", "")
        try:
            at = float(fields.get("at") or 0)
            revision = int(fields.get("revision") or 0) or None
        except ValueError:
            at, revision = 0.0, None
        if change not in broadcast.NOTICE_OF_CHANGE or not outage_id:
            pass  # nothing to send (text_changed, in_progress, a malformed entry)
        else:
            outage = await self.registry.get(outage_id)
            if outage is None:
                logger.warning("outage %s of change %s not found", outage_id, entry_id)
            elif change in ONLY_WHILE_OPEN and outage.status not in OPEN_STATUSES:
                logger.info("outage %s is %s: %s not sent", outage_id, outage.status, change)
            else:
                # Validity runs from the change, not from when this worker got to it.
                await broadcast.send(
                    self.redis,
                    self.backend,
                    outage,
                    change,
                    revision=revision,
                    now=at or self.clock(),
                    validity_s=self.validity_s,
                    merge_s=self.merge_s,
                    batch=self.batch,
                    clock=self.clock,
                )
        await self.redis.xack(CHANGES, GROUP, entry_id)

    async def _ensure_group(self) -> None:
        if not self._group_ready:  # here, not at startup: the desk starts without Redis
            # From 0: a change stored before any desk ran is still announced (or, if old,
            # skipped by the age check), never silently missed.
            await ensure_group(self.redis, CHANGES, GROUP, "0")
            self._group_ready = True

    async def read_once(self) -> None:
        """Waits up to 1 s for one change and handles it."""
        await self._ensure_group()
        try:
            batches = await self.redis.xreadgroup(
                GROUP, self.consumer, {CHANGES: ">"}, count=1, block=READ_BLOCK_MS
            )
        except RedisError as exc:
            self._group_ready = self._group_ready and "NOGROUP" not in str(exc)
            raise
        for _stream, entries in batches or []:
            for entry_id, fields in entries:
                await self.handle(entry_id, fields)

    async def reclaim_once(self) -> int:
        """Takes over changes a dead (or failing) process left pending; returns how many."""
        await self._ensure_group()
        reply = await self.redis.xautoclaim(
            CHANGES,
            GROUP,
            self.consumer,
            min_idle_time=int(self.reclaim_idle_s * 1000),
            start_id="0-0",
            count=10,
        )
        claimed = reply[1] if len(reply) > 1 else []
        for entry_id, fields in claimed:
            logger.warning("outage change %s reclaimed from a stalled worker", entry_id)
            await self.handle(entry_id, fields)
        return len(claimed)

    def start(self, workers: Workers) -> list[Periodic]:
        reclaim_every = max(0.5, min(30.0, self.reclaim_idle_s / 4))
        return [
            workers.periodic("notices_broadcast", self.read_once, 0, retry_max_s=30),
            workers.periodic("notices_reclaim", self.reclaim_once, reclaim_every),
        ]


def build(
    redis: aioredis.Redis, settings: config.Settings, backend: AccountBackend, batch: int
) -> BroadcastWorker:
    return BroadcastWorker(
        redis,
        backend,
        OutageRegistry(redis, timezone_name=settings.timezone),
        validity_s=settings.notice_validity_s,
        merge_s=settings.notice_eta_merge_s,
        reclaim_idle_s=settings.sms_reclaim_idle_s,
        batch=batch,
    )


async def _notices_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    backend = get_backend()
    sender.register_guard(GUARD, bill_guard(backend))
    worker = build(app[REDIS], settings, backend, broadcast.BATCH)
    reminders = Reminders(
        app[REDIS],
        backend,
        days=settings.bill_reminder_days,
        zone=ZoneInfo(settings.timezone),
    )
    tasks = [
        *worker.start(app[WORKERS]),
        app[WORKERS].periodic(
            "bill_reminders", reminders.scan_once, settings.bill_reminder_scan_s, retry_max_s=300
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            await task.stop()


def setup(app: web.Application) -> None:
    """Desk capability: outage broadcasts and bill reminders (workers only, no routes: the
    operators' view is GET /api/outages/{id}/notices, bot.outages.api)."""
    app.cleanup_ctx.append(_notices_ctx)


async def _main(batch: int) -> None:
    settings = config.get()
    redis = db.connect(settings.redis_url, block_ms=READ_BLOCK_MS)
    worker = build(redis, settings, get_backend(), batch)
    workers = Workers()
    worker.start(workers)
    try:
        await asyncio.Event().wait()
    finally:
        await workers.stop_all()
        await redis.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Runs the outage broadcast worker alone.")
    parser.add_argument("--batch", type=int, default=broadcast.BATCH, help="recipients a round")
    args = parser.parse_args()
    logmask.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.batch))


if __name__ == "__main__":
    main()
