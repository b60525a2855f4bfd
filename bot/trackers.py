"""Rasa's Redis tracker store, reading the stored tracker once per save instead of twice
(endpoints.yml: `tracker_store: type: bot.trackers.KefuTrackerStore`).

Rasa 3.6's RedisTrackerStore.save first retrieves the stored tracker to find the new
events for the event broker, then reads and deserialises it again to merge with it. Each
read deserialises every event of the conversation, a tenth of a Rasa process's time under
load (docs/performance.md). Here one read serves both; what is published and what is
stored are the same as Rasa's. Its commands also ride out a Redis restart
(bot.db.ride_out_restarts): a turn whose save failed would lose its events.
"""

from __future__ import annotations

from typing import Any

import rasa.shared.core.trackers
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine

from bot import db


class KefuTrackerStore(RedisTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db.ride_out_restarts(self.red)

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        stored = self.red.get(key)
        prior = self.deserialise_tracker(tracker.sender_id, stored) if stored else None
        if self.event_broker is not None:
            # As Rasa's stream_events: the difference from the latest stored session.
            new_events = TrackerEventDiffEngine.event_difference(_last_session(prior), tracker)
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        if prior is not None:
            tracker = self._merge_trackers(prior, tracker)
        self.red.set(key, self.serialise_tracker(tracker), ex=timeout)


def _last_session(tracker: DialogueStateTracker | None) -> Any:
    """What Rasa's retrieve() returns for a stored tracker: its last session."""
    if tracker is None:
        return None
    sessions = rasa.shared.core.trackers.get_trackers_for_conversation_sessions(tracker)
    return tracker if len(sessions) <= 1 else sessions[-1]
