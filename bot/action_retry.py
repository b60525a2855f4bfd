"""Custom-action calls from Rasa: retried while the action server is unreachable, and
reported to the channel when they fail for good, so no turn ends in silence.

Rasa 3.6 (`MessageProcessor._run_action`) catches a failed custom action, logs it, and goes
on as if the action had said nothing: a message sent while the action server restarts got
no answer at all. `install()` wraps `RemoteAction.run`, which every custom-action call
goes through (predicted actions, form validation, custom slot mappings):

- A call refused at connect time never reached the action server, so nothing ran and
  nothing was said: it is retried after RETRY_DELAYS_S (about 12 s in all, the time a
  restarted action server takes to answer). Any other failure (a timeout, an error
  status, a connection lost mid-call) may have run the action: it is not retried.
- After the retries, for CIRCUIT_OPEN_S, other calls try once only: during a long outage
  every customer would otherwise wait the whole retry time, turn after turn.
- A call that fails for good is recorded on the turn that made it (`watch()`), and the
  channel apologises (bot.sms.turns, bot.channels.webchat).

Why not re-run the whole turn: Rasa has already logged the customer's message and the
failed action on the tracker, so a re-run would see the message twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0, 4.0)
CIRCUIT_OPEN_S = 30.0


@dataclass
class TurnCalls:
    """The custom actions of one turn that failed for good."""

    failed: list[str] = field(default_factory=list)
    # Of those, custom slot mappings: they say nothing themselves.
    failed_mappings: list[str] = field(default_factory=list)

    def needs_apology(self, answered: bool) -> bool:
        """Whether the customer must hear that their message was not handled: an action
        failed that would have answered or acted, or the turn said nothing at all."""
        spoke_for_itself = set(self.failed) - set(self.failed_mappings)
        return bool(spoke_for_itself or (self.failed and not answered))


_turn: ContextVar[TurnCalls | None] = ContextVar("kefu_turn_calls", default=None)
_unreachable_until = 0.0  # monotonic time until which calls are not retried
_original_run: Any = None


@contextmanager
def watch() -> Iterator[TurnCalls]:
    """Records the failed custom actions of the turn run inside (tasks started inside,
    like asyncio.wait_for's, copy the context and so record here too)."""
    calls = TurnCalls()
    token = _turn.set(calls)
    try:
        yield calls
    finally:
        _turn.reset(token)


def never_reached(error: BaseException) -> bool:
    """Whether the call failed before the action server got it (connection refused).
    RemoteAction.run raises RasaException while handling aiohttp's error: its context."""
    cause = error.__cause__ or error.__context__
    return isinstance(error, aiohttp.ClientConnectorError) or isinstance(
        cause, aiohttp.ClientConnectorError
    )


def _mapping_actions(domain: Any) -> set[str]:
    return {
        str(mapping["action"])
        for slot in getattr(domain, "slots", ())
        for mapping in getattr(slot, "mappings", ())
        if mapping.get("type") == "custom" and mapping.get("action")
    }


async def _run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
    global _unreachable_until
    delays = iter(RETRY_DELAYS_S if time.monotonic() >= _unreachable_until else ())
    while True:
        try:
            events = await _original_run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # the action declined (a form's validation): an answer, not a failure
        except Exception as error:
            delay = next(delays, None) if never_reached(error) else None
            if delay is not None:
                logger.warning("action server unreachable for %s: retrying", self.name())
                await asyncio.sleep(delay)
                continue
            if never_reached(error):
                _unreachable_until = time.monotonic() + CIRCUIT_OPEN_S
            calls = _turn.get()
            if calls is not None:
                calls.failed.append(self.name())
                if self.name() in _mapping_actions(domain):
                    calls.failed_mappings.append(self.name())
            raise
        _unreachable_until = 0.0
        return events


def install() -> None:
    """Wraps RemoteAction.run once per process (idempotent)."""
    global _original_run
    if _original_run is None:
        _original_run = RemoteAction.run
        RemoteAction.run = _run
