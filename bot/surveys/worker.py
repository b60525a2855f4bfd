"""The desk's return-visit workers (bot/surveys/scheduler.py) and the console's low-rating
alerts; setup(app) wires both into the desk.

`python -m bot.surveys.worker` runs the scheduler alone (tests kill it with SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot import db, logmask
from bot import settings as config
from bot.handoff.rasa_client import RasaClient
from bot.http import REDIS, SETTINGS, WORKERS
from bot.surveys import console
from bot.surveys.scheduler import LEASE_S, READ_BLOCK_MS, VisitScheduler
from bot.surveys.timing import Timing
from bot.tasks import Periodic, Workers
from bot.tickets.service import TicketService

logger = logging.getLogger(__name__)

DUE_EVERY_S = 5.0


def build(
    redis: aioredis.Redis,
    settings: config.Settings,
    http: aiohttp.ClientSession,
    lease_s: float = LEASE_S,
) -> VisitScheduler:
    tickets = TicketService.from_settings(settings, redis)
    rasa = RasaClient(settings.rasa_url, settings.secret("rasa_token"), http)
    return VisitScheduler(
        redis,
        tickets.store,
        rasa,
        Timing.from_settings(settings),
        lease_s=lease_s,
        reclaim_idle_s=settings.sms_reclaim_idle_s,
    )


def start(scheduler: VisitScheduler, workers: Workers, due_every_s: float) -> list[Periodic]:
    reclaim_every = max(0.5, min(30.0, scheduler.reclaim_idle_s / 4))
    return [
        workers.periodic("surveys_resolutions", scheduler.consume_once, 0, retry_max_s=30),
        workers.periodic("surveys_reclaim", scheduler.reclaim_once, reclaim_every),
        workers.periodic("surveys_due", scheduler.run_due, due_every_s, retry_max_s=60),
    ]


async def _surveys_ctx(app: web.Application) -> AsyncIterator[None]:
    http = aiohttp.ClientSession()
    scheduler = build(app[REDIS], app[SETTINGS], http)
    tasks = start(scheduler, app[WORKERS], DUE_EVERY_S)
    try:
        yield
    finally:
        for task in tasks:
            await task.stop()
        await http.close()


def setup(app: web.Application) -> None:
    """Desk capability: the return-visit scheduler, and the console's low-rating alerts."""
    app.cleanup_ctx.append(_surveys_ctx)
    console.setup(app)


async def _main(due_every_s: float, lease_s: float) -> None:
    settings = config.get()
    redis = db.connect(settings.redis_url, block_ms=READ_BLOCK_MS)
    workers = Workers()
    async with aiohttp.ClientSession() as http:
        start(build(redis, settings, http, lease_s), workers, due_every_s)
        try:
            await asyncio.Event().wait()
        finally:
            await workers.stop_all()
            await redis.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Runs the return-visit scheduler alone.")
    parser.add_argument("--every", type=float, default=DUE_EVERY_S, help="due scan, seconds")
    parser.add_argument(
        "--lease", type=float, default=LEASE_S, help="seconds a claimed visit is held"
    )
    args = parser.parse_args()
    logmask.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.every, args.lease))


if __name__ == "__main__":
    main()
