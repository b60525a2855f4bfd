"""The agent console: login, live queue, takeover, replies, notes, tickets, hand-back,
supervisor view. `setup(app)` is the one call create_app makes.

Pages under /console/ (server-rendered, console.js keeps them live), JSON under
/console/api/, the websocket at /console/ws. Every route needs a session except
/console/login and /console/static/ (see guard.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from bot import db
from bot.desk.auth import TrustedProxies
from bot.desk.console import api, live, pages, websocket
from bot.desk.console.context import CONSOLE, Console
from bot.desk.console.guard import console_guard
from bot.desk.console.live import LiveHub
from bot.desk.console.sessions import LoginThrottle, SessionStore
from bot.desk.users import UserStore
from bot.handoff import retry
from bot.handoff import sync as handoff_sync
from bot.handoff.agent_ops import AgentOps
from bot.handoff.policy import HandoffConfig
from bot.handoff.presence import Presence
from bot.handoff.rasa_client import RasaClient
from bot.handoff.store import HandoffStore
from bot.handoff.sync import HandoffSync
from bot.http import REDIS, SETTINGS, WORKERS
from bot.tickets.roster import Roster

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HANDOFF_CONFIG = web.AppKey("handoff_config", HandoffConfig)
PROXIES = web.AppKey("trusted_proxies", TrustedProxies)


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    redis = app[REDIS]
    config = app[HANDOFF_CONFIG]
    roster = Roster.from_dir(settings.policy_dir)
    store = HandoffStore(redis, config.queue)
    users = UserStore(redis)
    http = aiohttp.ClientSession()
    rasa = RasaClient(settings.rasa_url, settings.secret("rasa_token"), http)
    console = Console(
        settings=settings,
        redis=redis,
        config=config,
        roster=roster,
        store=store,
        presence=Presence(redis, config.queue.presence_ttl_s),
        users=users,
        sessions=SessionStore(redis),
        throttle=LoginThrottle(redis),
        http=http,
        rasa=rasa,
        ops=AgentOps(store, rasa, config.messages),
        proxies=app[PROXIES],
    )

    async def lookup(username: str):  # type: ignore[no-untyped-def]
        user = await users.get(username)
        return user.staff if user else None

    console.ops.name_for = console.name_for
    console.ops.lookup = lookup
    app[CONSOLE] = console
    try:
        yield
    finally:
        await http.close()


async def _workers_ctx(app: web.Application) -> AsyncIterator[None]:
    console = app[CONSOLE]
    url = app[SETTINGS].redis_url
    # Both block on stream reads: each has its own connection.
    hub = LiveHub(console, db.connect(url, live.BLOCK_MS))
    sync = HandoffSync(db.connect(url, handoff_sync.BLOCK_MS), console.store)
    console.hub = hub
    console.sync = sync
    try:  # before serving: nothing published from now on is missed
        await hub.start_positions(console.redis)
        await sync.ensure_group(console.redis)
    except (RedisError, OSError, asyncio.TimeoutError) as exc:
        log.error("live view: Redis unavailable at startup (%s); retrying in the background", exc)
    workers = app[WORKERS]
    running = [hub.start(workers), sync.start(workers), retry.start(workers, console.ops)]
    yield
    for worker in running:
        await worker.stop()
    await sync.close()
    await hub.reader.close()
    for client in list(hub.clients):
        with contextlib.suppress(Exception):
            await client.ws.close(code=1001, message=b"server shutdown")


def setup(app: web.Application) -> None:
    """Console routes, its guard middleware, and its workers (live view, handoff sync,
    hand-back retries)."""
    settings = app[SETTINGS]
    # A bad YAML stops the desk here, not in the middle of a conversation.
    app[HANDOFF_CONFIG] = HandoffConfig.load(
        policy_dir=settings.policy_dir, default_timezone=settings.timezone
    )
    app[PROXIES] = TrustedProxies.parse(settings.trusted_proxies)
    app.middlewares.append(console_guard)
    pages.setup(app)
    api.setup(app)
    websocket.setup(app)
    app.router.add_static("/console/static/", STATIC, follow_symlinks=False)
    app.cleanup_ctx.append(_console_ctx)
    app.cleanup_ctx.append(_workers_ctx)
