"""subscribe / unsubscribe: SMS notices about outages (per area) and bills (per account
holder), for a verified phone: the SMS sender, or a web phone confirmed with a code.

Which topics a message is about is company content (content/notices/topics.yml). STOP /
TD by SMS is something else: it opts the number out of every SMS (bot/sms/keywords.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.channel_context import request_has_entity, request_text
from actions.language import language_of
from bot.accounts import get_backend
from bot.accounts.areas import area as known_area
from bot.notices import subscriptions as store
from bot.settings import PROJECT_ROOT

TOPICS_FILE = PROJECT_ROOT / "content" / "notices" / "topics.yml"
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Topic:
    words: tuple[str, ...]
    label: dict[str, str]


@cache
def _topics(path: Path = TOPICS_FILE) -> dict[str, Topic]:
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)["topics"]
    return {
        name: Topic(
            words=tuple(str(w).casefold() for w in spec["words"]),
            label={lang: str(text) for lang, text in spec["label"].items()},
        )
        for name, spec in raw.items()
    }


def topics_named(text: str) -> list[str]:
    """The topics a message names; all of them when it names none."""
    lowered = text.casefold()
    named = [name for name, t in _topics().items() if any(w in lowered for w in t.words)]
    return named or list(_topics())


def label(topic: str, language: str) -> str:
    return _topics()[topic].label[language]


@cache
def _restore_offer(path: Path = TOPICS_FILE) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        offer: dict[str, dict[str, str]] = yaml.safe_load(handle)["restore_offer"]
    return offer


def restore_offer_buttons(area: str, language: str) -> list[dict[str, str]]:
    """Buttons for "shall we text you when power is back?": subscribe to the area's
    outage notices (the restoration notice among them), or not."""
    payload = "/subscribe" + json.dumps({"area": area})
    offer = _restore_offer()
    return [
        {"title": offer["accept"][language], "payload": payload},
        {"title": offer["decline"][language], "payload": "/deny"},
    ]


def requested_topics(tracker: Tracker, intent: str) -> list[str]:
    """The topics of the (un)subscribe request; a payload naming an area (the offer
    after an outage answer) is about outage notices."""
    if request_has_entity(tracker, intent, "area"):
        return ["outage"]
    return topics_named(request_text(tracker, intent))


def wants_outage_topic(tracker: Tracker) -> bool:
    """Whether the subscribe request includes outage notices (they need an area)."""
    return "outage" in requested_topics(tracker, "subscribe")


async def subscribe(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str
) -> list[EventType]:
    language = language_of(tracker)
    redis = services.redis()
    accounts = await asyncio.wait_for(get_backend().accounts_for_phone(phone), TIMEOUT_S)
    done: list[str] = []
    for topic in requested_topics(tracker, "subscribe"):
        if topic == "bill" and not accounts:
            dispatcher.utter_message(response="utter_no_account_for_bill")
            continue
        area = None
        if topic == "outage":
            area = str(tracker.get_slot("area") or "") or (accounts[0].area if accounts else "")
            if not known_area(area):
                continue
        await asyncio.wait_for(
            store.subscribe(redis, phone, topic=topic, area=area, language=language), TIMEOUT_S
        )
        where = known_area(area) if area else None
        done.append(label(topic, language) + (f"（{where.name(language)}）" if where else ""))
    if done:
        dispatcher.utter_message(
            response="utter_subscribed", topics=("、" if language == "zh" else ", ").join(done)
        )
    return []


async def unsubscribe(
    dispatcher: CollectingDispatcher, tracker: Tracker, phone: str
) -> list[EventType]:
    language = language_of(tracker)
    topics = requested_topics(tracker, "unsubscribe")
    removed = 0
    for topic in topics:
        removed += await asyncio.wait_for(
            store.unsubscribe(services.redis(), phone, topic=topic), TIMEOUT_S
        )
    names = ("、" if language == "zh" else ", ").join(label(t, language) for t in topics)
    if removed:
        dispatcher.utter_message(response="utter_unsubscribed", topics=names)
    else:
        dispatcher.utter_message(response="utter_not_subscribed", topics=names)
    return []
