"""Rasa event broker: every tracker event goes to a Redis Stream the desk consumes.

endpoints.yml:

    event_broker:
      type: bot.broker.RedisStreamEventBroker
      url: ${REDIS_URL}
      stream: kefu:events      # optional
      max_len: 200000          # optional; XADD MAXLEN ~ keeps the stream bounded

Each entry has the fields `sender_id`, `type` (Rasa's event name: user, bot, pause, ...)
and `event` (the event as JSON, exactly as Rasa serialises it).

Rasa calls publish() synchronously from inside its event loop, while a tracker is being
saved. Blocking there on Redis would stall every conversation of the process, so publish()
only appends to an in-memory buffer and one writer task sends the buffer in order with a
pipeline. If Redis is down the writer keeps the events and retries with backoff; the
buffer is bounded, so a long outage loses the oldest events (logged), never the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from asyncio import AbstractEventLoop
from collections import deque
from typing import Any

import redis
import redis.asyncio as aioredis
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

from bot import db, settings
from bot.ops.metrics import BROKER_DROPPED, REDIS_ERRORS
from bot.ops.turns import count_user_event
from bot.tasks import Periodic

logger = logging.getLogger(__name__)

STREAM = "kefu:events"
DEFAULT_MAX_LEN = 200_000
BUFFER_MAX = 50_000  # events kept in memory while Redis is unreachable
BATCH = 200
RETRY_MAX_S = 10.0
CLOSE_TIMEOUT_S = 5.0


def encode(event: dict[str, Any]) -> dict[str, str]:
    """The stream entry for one Rasa event."""
    return {
        "sender_id": str(event.get("sender_id") or ""),
        "type": str(event.get("event") or ""),
        "event": json.dumps(event, ensure_ascii=False, default=str),
    }


def decode(fields: dict[str, str]) -> dict[str, Any] | None:
    """The Rasa event of a stream entry (None if the entry is unreadable)."""
    try:
        event = json.loads(fields["event"])
    except (KeyError, TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


class RedisStreamEventBroker(EventBroker):
    def __init__(
        self,
        url: str,
        stream: str = STREAM,
        max_len: int = DEFAULT_MAX_LEN,
        buffer_max: int = BUFFER_MAX,
    ) -> None:
        self.url = url
        self.stream = stream
        self.max_len = max_len
        self._buffer: deque[dict[str, str]] = deque()
        self._buffer_max = buffer_max
        self._client: aioredis.Redis | None = None
        self._wake: asyncio.Event | None = None
        self._writer: Periodic | None = None
        self._ready = False
        self._closed = False
        self.dropped = 0

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig,
        event_loop: AbstractEventLoop | None = None,
    ) -> RedisStreamEventBroker:
        url = broker_config.url or settings.get().redis_url
        kwargs = broker_config.kwargs or {}
        broker = cls(
            url,
            stream=str(kwargs.get("stream") or STREAM),
            max_len=int(kwargs.get("max_len") or DEFAULT_MAX_LEN),
        )
        await broker.connect()
        return broker

    async def connect(self) -> None:
        """Checks Redis once; on failure Rasa still starts and the writer keeps retrying."""
        self._client = db.connect(self.url)
        try:
            await asyncio.wait_for(self._client.ping(), timeout=db.SOCKET_TIMEOUT_S)
            self._ready = True
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.error("event broker: Redis unreachable; events are buffered until it is back")

    def publish(self, event: dict[str, Any]) -> None:
        if self._closed:
            logger.warning("event broker closed; event %s not published", event.get("event"))
            return
        if len(self._buffer) >= self._buffer_max:
            self._buffer.popleft()
            self.dropped += 1
            BROKER_DROPPED.inc()
            if self.dropped % 1000 == 1:
                logger.error("event broker buffer full: %d events dropped so far", self.dropped)
        self._buffer.append(encode(event))
        count_user_event(event)  # kefu_nlu_messages_total (bot/ops/turns.py)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._flush_sync()  # not in a loop (scripts): write directly
            return
        self._ensure_writer()
        assert self._wake is not None
        self._wake.set()

    def is_ready(self) -> bool:
        return self._ready

    async def flush(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Waits until everything published so far is in Redis; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._buffer:
            if loop.time() > deadline:
                return False
            self._ensure_writer()
            assert self._wake is not None
            self._wake.set()
            await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        flushed = await self.flush()
        if not flushed:
            logger.error("event broker closed with %d events unsent", len(self._buffer))
        self._closed = True
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    # ---- writing ----------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._writer is None:
            # A failed XADD is retried after 0.1 s, doubling up to RETRY_MAX_S while Redis
            # stays down; the events wait in the buffer.
            self._writer = Periodic(
                "event_broker", self._write, every_s=0, retry_s=0.1, retry_max_s=RETRY_MAX_S
            )
        if not self._writer.running:
            self._wake = asyncio.Event()
            self._writer.start()

    async def _write(self) -> None:
        """The writer's round: waits for publish() if the buffer is empty, else sends a
        batch."""
        assert self._wake is not None
        if not self._buffer:
            self._wake.clear()
            await self._wake.wait()
            return
        try:
            await self._write_batch()
        except Exception as exc:
            self._ready = False
            if isinstance(exc, RedisError | OSError):
                REDIS_ERRORS.labels("broker").inc()
            raise
        self._ready = True

    async def _write_batch(self) -> None:
        if self._client is None:
            self._client = db.connect(self.url)
        batch = [self._buffer[i] for i in range(min(BATCH, len(self._buffer)))]
        async with self._client.pipeline(transaction=False) as pipe:
            for fields in batch:
                pipe.xadd(self.stream, fields, maxlen=self.max_len, approximate=True)
            await pipe.execute()
        # Only now drop them: a failed pipeline leaves the batch for the retry. A retry
        # after a partial write may repeat entries; consumers key on the event timestamp.
        for _ in batch:
            self._buffer.popleft()

    def _flush_sync(self) -> None:
        client = redis.Redis.from_url(
            self.url, socket_timeout=db.SOCKET_TIMEOUT_S, socket_connect_timeout=2
        )
        try:
            while self._buffer:
                client.xadd(self.stream, self._buffer[0], maxlen=self.max_len, approximate=True)
                self._buffer.popleft()
        except (RedisError, OSError):
            logger.exception("event broker: synchronous XADD failed; events kept in memory")
        finally:
            client.close()
