"""The Rasa side of inbound SMS: take queued messages from the inbox and run their turns.

The desk acknowledges Twilio's webhook (bot.sms.incoming), so no Rasa process is on the
path of an acknowledgement: a busy or restarting model never slows or refuses Twilio.
Every Rasa process runs one consumer. It claims a message only when one of its turn slots
is free, so a busy replica leaves the queue to idle ones; idle consumers wait on the
inbox's doorbell, and poll in case a ring was missed.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.sms import inbox
from bot.sms.turns import OnNewMessage, TurnRunner
from bot.tasks import stop_task

logger = logging.getLogger(__name__)

POLL_S = 1.0  # the longest an idle consumer sleeps without checking the queue
ERROR_PAUSE_S = 1.0  # after a Redis error, before trying again


class InboxConsumer:
    def __init__(self, blocking_redis: aioredis.Redis, turns: TurnRunner) -> None:
        # Its own client: a connection blocked on the doorbell serves nobody else.
        self._redis = blocking_redis
        self.turns = turns
        self._task: asyncio.Task[None] | None = None

    def start(self, on_new_message: OnNewMessage) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(on_new_message), name="sms_inbox_consumer")

    async def stop(self) -> None:
        if self._task is not None:
            # stop_task re-cancels: redis-py 4.6 can swallow a cancel mid-read, which
            # hung a shutdown (and a test teardown) waiting on the doorbell.
            await stop_task(self._task)
            self._task = None
        await self._redis.close()

    async def _run(self, on_new_message: OnNewMessage) -> None:
        while True:
            try:
                await self._next(on_new_message)
            except (RedisError, OSError, asyncio.TimeoutError):
                logger.warning("SMS inbox unreachable; retrying in %.0f s", ERROR_PAUSE_S)
                await asyncio.sleep(ERROR_PAUSE_S)

    async def _next(self, on_new_message: OnNewMessage) -> None:
        await self.turns.slots.acquire()
        try:
            claimed = await self.step(on_new_message)
        except BaseException:
            self.turns.slots.release()
            raise
        if not claimed:
            self.turns.slots.release()
            await inbox.wait_for_doorbell(self._redis, POLL_S)

    async def step(self, on_new_message: OnNewMessage) -> bool:
        """Claims one message and starts its turn, which releases the slot held for it;
        False when the queue is empty."""
        item = await inbox.claim(self._redis)
        if item is None:
            return False
        sid, payload, attempts = item
        logger.debug("SMS %s claimed (attempt %d)", sid, attempts + 1)
        self.turns.start(payload, on_new_message, attempt=attempts, slot_held=True)
        return True
