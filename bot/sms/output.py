"""Rasa output channels for SMS: what the bot says becomes outbox messages.

Nothing is sent from here: the outbox (bot.sms.outbox) is durable and the desk's sender
delivers it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import OutputChannel

from bot.sms import outbox
from bot.sms.conversation import last_inbound_key, phone_of, remember_buttons
from bot.sms.render import render

logger = logging.getLogger(__name__)


class SmsTurnOutput(OutputChannel):
    """Collects the bot's messages for one customer turn; the turn runner enqueues them
    as one reply."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.parts: list[str] = []
        self.payloads: list[str] = []

    @classmethod
    def name(cls) -> str:
        return "sms"  # response variants with `channel: sms` are chosen for SMS

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text, payloads = render(message, self.texts, first_number=len(self.payloads) + 1)
        if text:
            self.parts.append(text)
        self.payloads.extend(payloads)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    def text(self) -> str:
        return "\n".join(self.parts)


class SmsOutboxOutput(OutputChannel):
    """Bot messages outside a customer's turn (agent replies, proactive turns): each goes to
    the outbox at once. A response's metadata may set `sms_kind` (agent, notice, survey,
    reminder), `urgent` and `idempotency_key`."""

    def __init__(
        self, redis: aioredis.Redis, texts: dict[str, str], default_kind: str = "agent"
    ) -> None:
        self.redis = redis
        self.texts = texts
        self.default_kind = default_kind

    @classmethod
    def name(cls) -> str:
        return "sms"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        phone = phone_of(recipient_id)
        if phone is None:
            logger.warning("SMS output for a non-SMS conversation ignored: %s", recipient_id)
            return
        text, payloads = render(message, self.texts)
        if not text:
            return
        kind = str(message.get("sms_kind") or self.default_kind)
        key = message.get("idempotency_key")
        if not key:
            # The console supplies one key per composed message, so its retries send once;
            # without one, the bot event's timestamp is the next best thing.
            if kind == "agent":
                logger.warning("agent SMS without an idempotency key for %s", phone)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            key = f"{kind}:{recipient_id}:{message.get('timestamp') or time.time()}:{digest}"
        answers_at = None
        if kind in outbox.OPT_OUT_EXEMPT:
            last = await self.redis.get(last_inbound_key(phone))
            answers_at = float(last) if last else None
        if payloads:  # e.g. a return-visit survey's 1-5: the customer answers by number
            await remember_buttons(self.redis, recipient_id, payloads)
        await outbox.enqueue(
            self.redis,
            phone,
            text,
            kind=kind,
            urgent=bool(message.get("urgent")),
            idempotency_key=str(key),
            conversation_id=recipient_id,
            answers_at=answers_at,
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})
