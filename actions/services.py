"""Shared back-end clients for the action server, created once per process."""

from __future__ import annotations

from functools import lru_cache

import redis.asyncio as aioredis

from bot import db
from bot.handoff.service import HandoffService
from bot.settings import get as settings
from bot.tickets.service import TicketService


@lru_cache(maxsize=1)
def redis() -> aioredis.Redis:
    """The project's Redis (REDIS_URL), for actions that keep small state of their own."""
    return db.connect(settings().redis_url)


@lru_cache(maxsize=1)
def tickets() -> TicketService:
    """The TicketService on the project's Redis (REDIS_URL)."""
    config = settings()
    return TicketService.from_settings(config, db.connect(config.redis_url))


@lru_cache(maxsize=1)
def handoff() -> HandoffService:
    """The HandoffService on the project's Redis, with tickets for first-contact routing."""
    return HandoffService.build(db.connect(settings().redis_url), tickets=tickets())
