"""The conversation the running code works for, for log lines (bot.ops.logs).

A context variable, not a logger argument: Rasa's, Sanic's and our own log calls deep in a
turn know nothing of the conversation, but they run in the turn's task (or one it started,
which copies the context), so the JSON formatter finds the id there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CONVERSATION: ContextVar[str | None] = ContextVar("kefu_conversation", default=None)


def current() -> str | None:
    """The conversation id of the running turn or request, if any (unmasked)."""
    return _CONVERSATION.get()


def set_current(conversation_id: str | None) -> None:
    """For a request whose end has no hook to reset it (the action server's middleware):
    the next request on the connection sets it again."""
    _CONVERSATION.set(conversation_id)


@contextmanager
def conversation(conversation_id: str | None) -> Iterator[None]:
    """Log lines inside the block name `conversation_id`."""
    token = _CONVERSATION.set(conversation_id)
    try:
        yield
    finally:
        _CONVERSATION.reset(token)
