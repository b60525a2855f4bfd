"""Crash recovery for inbound SMS: every Rasa process re-runs turns nobody finished.

The webhook has acknowledged Twilio, so Twilio will not redeliver. An inbox entry
(bot.sms.inbox) left unfinished for SMS_RECLAIM_IDLE_S (its process died mid-turn) is
re-stamped atomically, so exactly one process takes it, and run again; the turn runner
gives up with an apology after MAX_TURN_ATTEMPTS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from bot.sms import inbox
from bot.sms.settings import SmsSettings
from bot.sms.turns import OnNewMessage, TurnRunner
from bot.tasks import Periodic

logger = logging.getLogger(__name__)


class InboxReclaimer:
    def __init__(
        self, settings: SmsSettings, redis: Callable[[], aioredis.Redis], turns: TurnRunner
    ) -> None:
        self.settings = settings
        self._redis = redis
        self.turns = turns
        self._worker: Periodic | None = None

    async def reclaim_once(self, on_new_message: OnNewMessage) -> int:
        """Re-runs messages whose turn no process finished (e.g. a crash); returns how many."""
        # Our own queued and running turns are alive: refresh them so no one reclaims them.
        await inbox.heartbeat(self._redis(), self.turns.inflight)
        items = await inbox.reclaim(self._redis(), self.settings.reclaim_idle_s)
        started = 0
        for sid, payload, attempts in items:
            if sid in self.turns.inflight:
                continue
            logger.warning(
                "SMS %s reclaimed after an unfinished turn (attempt %d)", sid, attempts + 1
            )
            self.turns.start(payload, on_new_message, attempt=attempts)
            started += 1
        return started

    def start(self, on_new_message: OnNewMessage) -> None:
        """Reclaims every quarter of the idle time (1-30 s), on the supervised task."""
        if self._worker is not None:
            return
        every_s = max(1.0, min(30.0, self.settings.reclaim_idle_s / 4))

        async def step() -> None:
            await self.reclaim_once(on_new_message)

        self._worker = Periodic("sms_inbox_reclaim", step, every_s, delay_first=True).start()

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
