"""Handoff sync: what Rasa's event stream means for the handoffs (a desk worker).

In the consumer group "desk-handoff" on the broker's event stream (bot.broker.STREAM),
each event is handled by exactly one desk process, however many run:
- a customer message is recorded on the queue entry (what agents see before claiming);
- a restart, or a new session after inactivity, ends the handoff: Rasa reset the tracker,
  which also unpaused it, so the bot is talking again.
Entries a crashed desk read but never acknowledged are taken over after RECLAIM_IDLE_MS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from bot import broker, streams
from bot.handoff.errors import HandoffError
from bot.handoff.store import ACTIVE_STATES, CLOSED, HandoffStore
from bot.tasks import Periodic, Workers

log = logging.getLogger(__name__)

GROUP = "desk-handoff"
WORKER = "handoff_sync"  # its name in /healthz "workers"
BLOCK_MS = 2000
BATCH = 200
RECLAIM_IDLE_MS = 60_000


class HandoffSync:
    def __init__(
        self, client: aioredis.Redis, store: HandoffStore, consumer: str | None = None
    ) -> None:
        # `client` blocks on XREADGROUP: its own connection (bot.db.connect(url, BLOCK_MS)).
        self.client = client
        self.store = store
        self.consumer = consumer or streams.consumer_name()
        self.processed = 0
        self._group_ready = False
        self._next_reclaim = 0.0

    async def ensure_group(self, client: aioredis.Redis | None = None) -> None:
        # From "$": events from before the first desk ever ran are history, not work.
        await streams.ensure_group(client or self.client, broker.STREAM, GROUP, "$")
        self._group_ready = True

    async def handle(self, fields: dict[str, str]) -> None:
        event = broker.decode(fields)
        if event is None:
            return
        kind = event.get("event")
        conversation_id = str(event.get("sender_id") or "")
        if kind not in ("user", "restart", "session_started") or not conversation_id:
            return
        at = float(event.get("timestamp") or time.time())
        if kind == "user":
            await self.store.record_customer_message(
                conversation_id, str(event.get("text") or ""), at
            )
            return
        conversation = await self.store.get(conversation_id)
        # The reset is older than the handoff (e.g. the session start of a new chat): ignore.
        if (
            conversation is None
            or conversation.state not in ACTIVE_STATES
            or at <= conversation.enqueued_at
        ):
            return
        try:
            released = await self.store.release(
                conversation_id, target=CLOSED, actor=f"rasa:{kind}", owner=None
            )
            await self.store.mark_synced(conversation_id, released.conversation.episode)
            log.info("handoff %s closed: Rasa %s", conversation_id, kind)
        except HandoffError:
            pass  # closed meanwhile by someone else

    async def process_batch(self, entries: list) -> int:  # type: ignore[type-arg]
        handled: list[str] = []
        for _stream, items in entries:
            for entry_id, fields in items:
                if fields:  # None/empty: trimmed from the stream before we got to it
                    await self.handle(fields)
                handled.append(entry_id)
        # One acknowledgement for the batch, not a round trip per event (about ten events
        # a bot turn). A desk that dies mid-batch leaves it pending: another desk handles
        # it again after RECLAIM_IDLE_MS, and handling an event twice changes nothing.
        if handled:
            await self.client.xack(broker.STREAM, GROUP, *handled)
        self.processed += len(handled)
        return len(handled)

    async def read(self, block_ms: int | None = BLOCK_MS) -> int:
        entries = await self.client.xreadgroup(
            GROUP, self.consumer, {broker.STREAM: ">"}, count=BATCH, block=block_ms
        )
        return await self.process_batch(entries or [])

    async def reclaim(self) -> int:
        """Takes over entries a crashed desk process read but never acknowledged."""
        _next, claimed, *_ = await self.client.xautoclaim(
            broker.STREAM, GROUP, self.consumer, RECLAIM_IDLE_MS, "0-0", count=BATCH
        )
        return await self.process_batch([(broker.STREAM, claimed)])

    async def step(self) -> None:
        """The worker's round: (re)create the group if needed, reclaim now and then, and
        handle what arrives within BLOCK_MS."""
        if not self._group_ready:
            await self.ensure_group()
        try:
            if time.monotonic() >= self._next_reclaim:
                self._next_reclaim = time.monotonic() + RECLAIM_IDLE_MS / 2000
                await self.reclaim()
            await self.read()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._group_ready = False  # the stream was deleted: start again next round

    async def close(self) -> None:
        """Leaves the group (unless entries are still pending for this consumer: another
        desk reclaims them) and closes the client. After the worker has stopped."""
        with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
            pending = await self.client.xpending_range(
                broker.STREAM, GROUP, "-", "+", 1, consumername=self.consumer
            )
            if not pending:
                await self.client.xgroup_delconsumer(broker.STREAM, GROUP, self.consumer)
        await self.client.close()

    def start(self, workers: Workers) -> Periodic:
        return workers.periodic(WORKER, self.step, every_s=0)  # step blocks on XREADGROUP
