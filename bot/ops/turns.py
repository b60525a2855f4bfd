"""Rasa's side of the metrics: bot turns and what NLU made of each user message.

Turns: every input channel hands each user message to Rasa through the `on_new_message`
callback it gets in `blueprint()`; `observed()` wraps that callback once per channel (the
web chat's and the SMS channel's), so the count, the latency and the conversation id of the
log lines are all taken in the one place every turn passes, whatever the channel does
around it (rate limits, keywords, the SMS inbox).

NLU: the callback returns nothing about the parse, but the event broker sees every user
event with its parse data and input channel; `count_user_event()` reads the intent there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from bot.ops import context
from bot.ops.metrics import NLU_MESSAGES, REDIS_ERRORS, TURN_SECONDS, TURNS, channel_label

OnNewMessage = Callable[[Any], Awaitable[Any]]

FALLBACK_INTENT = "nlu_fallback"  # config.yml's FallbackClassifier
OUT_OF_SCOPE_INTENT = "out_of_scope"  # bot/nlu/gate.py and the out-of-scope examples
EXTERNAL_PREFIX = "EXTERNAL_"  # intents the desk triggers (return visits)


def observed(on_new_message: OnNewMessage, channel: str) -> OnNewMessage:
    """`on_new_message`, counted and timed under `channel`, its logs naming the
    conversation."""
    label = channel_label(channel)

    async def handle(message: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        with context.conversation(getattr(message, "sender_id", None)):
            try:
                result = await on_new_message(message)
                outcome = "ok"
                return result
            except asyncio.CancelledError:
                outcome = "timeout"  # the SMS turn timeout (or a shutdown) cancelled it
                raise
            except Exception as exc:
                if caused_by_redis(exc):
                    REDIS_ERRORS.labels("turn").inc()
                raise
            finally:
                TURNS.labels(label, outcome).inc()
                TURN_SECONDS.labels(label).observe(time.perf_counter() - started)

    return handle


def caused_by_redis(exc: BaseException) -> bool:
    """Whether a Redis error is `exc` or anywhere in its chain (Rasa wraps store errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RedisError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def nlu_outcome(intent: str) -> str:
    if intent == FALLBACK_INTENT:
        return "nlu_fallback"
    if intent == OUT_OF_SCOPE_INTENT:
        return "out_of_scope"
    if intent.startswith(EXTERNAL_PREFIX):
        return "external"
    return "understood"


def count_user_event(event: dict[str, Any]) -> None:
    """Counts a tracker event if it is a user message (the broker calls it for each)."""
    if event.get("event") != "user":
        return
    parse_data = event.get("parse_data")
    intent = parse_data.get("intent") if isinstance(parse_data, dict) else None
    name = intent.get("name") if isinstance(intent, dict) else None
    channel = event.get("input_channel")
    NLU_MESSAGES.labels(
        channel_label(channel if isinstance(channel, str) else None),
        nlu_outcome(name if isinstance(name, str) else ""),
    ).inc()
