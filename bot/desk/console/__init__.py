"""The agent console: login, live queue, takeover, replies, notes, tickets, hand-back,
supervisor view. `setup(app)` is the one call create_app makes.

Pages under /console/ (server-rendered, console.js keeps them live), JSON under
/console/api/, the websocket at /console/ws. Every route needs a session except
/console/login and /console/static/ (see guard.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.desk.auth import TrustedProxies
from bot.desk.console import api, live, pages
from bot.desk.console.context import CONSOLE, Console
from bot.desk.console.guard import console_guard
from bot.desk.console.sessions import LoginThrottle, SessionStore
from bot.desk.users import UserStore
from bot.handoff.agent_ops import AgentOps
from bot.handoff.policy import HandoffConfig
from bot.handoff.presence import Presence
from bot.handoff.rasa_client import RasaClient
from bot.handoff.store import HandoffStore
from bot.http import REDIS, SETTINGS
from bot.tickets.roster import Roster

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
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, http)
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


def setup(app: web.Application) -> None:
    """Console routes, its guard middleware, and its workers (live view, sync, retries)."""
    settings = app[SETTINGS]
    # A bad YAML stops the desk here, not in the middle of a conversation.
    app[HANDOFF_CONFIG] = HandoffConfig.load(
        policy_dir=settings.policy_dir, default_timezone=settings.timezone
    )
    app[PROXIES] = TrustedProxies.parse(settings.trusted_proxies)
    app.middlewares.append(console_guard)
    pages.setup(app)
    api.setup(app)
    live.setup(app)
    app.router.add_static("/console/static/", STATIC, follow_symlinks=False)
    app.cleanup_ctx.append(_console_ctx)
    app.cleanup_ctx.append(live.live_ctx)
