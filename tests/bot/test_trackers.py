"""bot/trackers.py: Rasa's Redis tracker store without the re-read on save publishes and
stores exactly what Rasa's own does (the same bytes), against a real Redis; anything it
cannot be sure of takes Rasa's way."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.trackers import KefuTrackerStore
from tests.conftest import ROOT, RedisServer

TRACKER_DB = 14


class Published(EventBroker):
    """Records what a tracker store publishes (Rasa's EventBroker interface)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def turn(text: str, at: float) -> list[Event]:
    return [
        UserUttered(text, {"name": "faq", "confidence": 0.9}, timestamp=at),
        ActionExecuted("utter_faq", timestamp=at + 0.1),
        BotUttered("answer", timestamp=at + 0.2),
        SlotSet("language", "zh", timestamp=at + 0.3),
        ActionExecuted("action_listen", timestamp=at + 0.4),
    ]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def store(cls: type[RedisTrackerStore], server: RedisServer, domain: Domain, prefix: str) -> Any:
    return cls(
        domain,
        host="127.0.0.1",
        port=server.port,
        db=TRACKER_DB,
        password=server.password,
        event_broker=Published(),
        key_prefix=prefix,
        record_exp=3600,
    )


async def test_publishes_and_stores_what_rasas_store_does(
    redis_server: RedisServer, domain: Domain
) -> None:
    redis.Redis.from_url(redis_server.db_url(TRACKER_DB)).flushdb()
    rasas = store(RedisTrackerStore, redis_server, domain, "rasa")
    ours = store(KefuTrackerStore, redis_server, domain, "kefu")
    # Three saves: a first turn, a second, then a new session with a turn.
    steps = [
        [ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.1)]
        + turn("电费怎么交", 2.0),
        turn("营业厅几点开门", 3.0),
        [ActionExecuted("action_session_start", timestamp=9.0), SessionStarted(timestamp=9.1)]
        + turn("hello", 10.0),
    ]
    for each in (rasas, ours):
        for events in steps:
            tracker = await each.retrieve("web:abc") or DialogueStateTracker("web:abc", [])
            for event in events:
                tracker.update(event)
            await each.save(tracker)
    assert ours.event_broker.events == rasas.event_broker.events
    assert len(ours.event_broker.events) == sum(len(s) for s in steps)
    full_rasa = await rasas.retrieve_full_tracker("web:abc")
    full_ours = await ours.retrieve_full_tracker("web:abc")
    assert [e.as_dict() for e in full_ours.events] == [e.as_dict() for e in full_rasa.events]
    client = redis.Redis.from_url(redis_server.db_url(TRACKER_DB))
    assert client.get("kefu:tracker:web:abc") == client.get("rasa:tracker:web:abc")
    # The first save had nothing stored to append to; the other two appended.
    assert ours.appended_saves == 2
    assert (
        3500
        < redis.Redis.from_url(redis_server.db_url(TRACKER_DB)).ttl("kefu:tracker:web:abc")
        <= 3600
    )


async def test_a_tracker_changed_meanwhile_or_not_retrieved_takes_rasas_way(
    redis_server: RedisServer, domain: Domain
) -> None:
    client = redis.Redis.from_url(redis_server.db_url(TRACKER_DB))
    client.flushdb()
    rasas = store(RedisTrackerStore, redis_server, domain, "rasa")
    ours = store(KefuTrackerStore, redis_server, domain, "kefu")
    first = [ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.1)]
    first += turn("停电了", 2.0)
    for each in (rasas, ours):
        tracker = DialogueStateTracker("web:x", [])
        for event in first:
            tracker.update(event)
        await each.save(tracker)
        # Retrieved, then another process stores a turn before this one saves.
        mine = await each.retrieve("web:x")
        other = await each.retrieve("web:x")
        for event in turn("other process", 3.0):
            other.update(event)
        await each.save(other)
        for event in turn("this process", 4.0):
            mine.update(event)
        await each.save(mine)
        # A tracker built elsewhere, not retrieved here: equal events, other objects.
        again = DialogueStateTracker.from_events("web:x", list(mine.events))
        again.update(ActionExecuted("action_listen", timestamp=5.0))
        await each.save(again)
    assert client.get("kefu:tracker:web:x") == client.get("rasa:tracker:web:x")
    assert ours.event_broker.events == rasas.event_broker.events
    assert ours.appended_saves == 1  # only `other`: nothing had changed since its retrieve
