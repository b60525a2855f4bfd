"""Shared back-end clients for the action server, created once per process."""

from __future__ import annotations

from functools import lru_cache

import redis.asyncio as aioredis

from bot import db
from bot.config import Settings
from bot.handoff.service import HandoffService
from bot.tickets.service import TicketService


@lru_cache(maxsize=1)
def redis() -> aioredis.Redis:
    """The project's Redis (REDIS_URL), for actions that keep small state of their own."""
    return db.connect(Settings.from_env().redis_url)


@lru_cache(maxsize=1)
def tickets() -> TicketService:
    """The TicketService on the project's Redis (REDIS_URL)."""
    settings = Settings.from_env()
    return TicketService.from_settings(settings, db.connect(settings.redis_url))


@lru_cache(maxsize=1)
def handoff() -> HandoffService:
    """The HandoffService on the project's Redis, with tickets for first-contact routing."""
    settings = Settings.from_env()
    return HandoffService.build(db.connect(settings.redis_url), tickets=tickets())
