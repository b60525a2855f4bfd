"""Rasa's Redis tracker store, without re-reading the whole conversation on every save
(endpoints.yml: `tracker_store: type: bot.trackers.KefuTrackerStore`).

Rasa 3.6's RedisTrackerStore.save reads and deserialises the stored tracker twice (once
to find the new events for the event broker, once to merge), compares every event with
the stored ones, and serialises the whole conversation again. Under load that was a
seventh of a Rasa process's time, growing with the conversation (docs/performance.md).

Here a save after this process's own retrieve, with the stored value unchanged since
(compared byte for byte) and the tracker holding the very events it returned, publishes
the events added since and appends them to the stored JSON: the same bytes Rasa would
store, the same events published. Anything else takes Rasa's way, with one read. Its
commands also ride out a Redis restart (bot.db.ride_out_restarts): a turn whose save
failed would lose its events. A turn's reads and writes are awaited on an asyncio twin
of Rasa's client (bot.db.async_twin), so the event loop serves other conversations while
Redis answers.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import rasa.shared.core.trackers
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine

from bot import db

# Conversations retrieved and not yet saved, per process: a turn's retrieve and save are
# moments apart, so this only needs to cover the turns in flight.
REMEMBERED = 2000
_EVENTS_HEAD = b'{"events": ['


@dataclass(frozen=True)
class _Retrieved:
    stored: bytes  # the value as read
    events: tuple[Event, ...]  # the events of the tracker retrieve() returned


class KefuTrackerStore(RedisTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db.ride_out_restarts(self.red)
        self._redis = db.async_twin(self.red)
        self._retrieved: OrderedDict[str, _Retrieved] = OrderedDict()
        self.appended_saves = 0  # saves that took the short way (tests, profiling)

    async def _retrieve(
        self, sender_id: str, fetch_all_sessions: bool
    ) -> DialogueStateTracker | None:
        stored = await self._redis.get(self.key_prefix + sender_id)
        if stored is None:
            return None
        tracker = self.deserialise_tracker(sender_id, stored)
        if tracker is None or fetch_all_sessions:
            return tracker
        tracker = _last_session(tracker)
        self._retrieved[sender_id] = _Retrieved(_as_bytes(stored), tuple(tracker.events))
        self._retrieved.move_to_end(sender_id)
        while len(self._retrieved) > REMEMBERED:
            self._retrieved.popitem(last=False)
        return tracker

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        stored = await self._redis.get(key)
        retrieved = self._retrieved.pop(tracker.sender_id, None)
        if stored is not None and retrieved and _extends(tracker, retrieved, stored):
            new_events = list(itertools.islice(tracker.events, len(retrieved.events), None))
            value = _append(_as_bytes(stored), new_events)
            if value is not None:
                if self.event_broker is not None:
                    await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
                await self._redis.set(key, value, ex=timeout)
                self.appended_saves += 1
                # A second save of this tracker in the same turn appends from here.
                self._retrieved[tracker.sender_id] = _Retrieved(value, tuple(tracker.events))
                return
        prior = self.deserialise_tracker(tracker.sender_id, stored) if stored else None
        if self.event_broker is not None:
            # As Rasa's stream_events: the difference from the latest stored session.
            new_events = TrackerEventDiffEngine.event_difference(_last_session(prior), tracker)
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        if prior is not None:
            tracker = self._merge_trackers(prior, tracker)
        await self._redis.set(key, self.serialise_tracker(tracker), ex=timeout)


def _extends(tracker: DialogueStateTracker, retrieved: _Retrieved, stored: Any) -> bool:
    """Nobody stored anything since our retrieve, and `tracker` is that retrieve's tracker
    with events added (the same event objects, not equal ones: comparing events is what
    made Rasa's save slow)."""
    events = tracker.events
    if _as_bytes(stored) != retrieved.stored or len(events) < len(retrieved.events):
        return False
    return all(a is b for a, b in zip(events, retrieved.events, strict=False))


def _append(stored: bytes, events: list[Event]) -> bytes | None:
    """The stored dialogue JSON (Rasa's `{"events": [...], "name": ...}`) with `events`
    appended, serialised as Rasa's json.dumps would; None if it is not in that shape."""
    end = stored.rfind(b'], "name": ')
    if not stored.startswith(_EVENTS_HEAD) or end < 0:
        return None
    if not events:
        return stored
    separator = b", " if end > len(_EVENTS_HEAD) else b""
    added = ", ".join(json.dumps(event.as_dict()) for event in events).encode()
    return stored[:end] + separator + added + stored[end:]


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _last_session(tracker: DialogueStateTracker | None) -> Any:
    """What Rasa's retrieve() returns for a stored tracker: its last session."""
    if tracker is None:
        return None
    sessions = rasa.shared.core.trackers.get_trackers_for_conversation_sessions(tracker)
    return tracker if len(sessions) <= 1 else sessions[-1]
