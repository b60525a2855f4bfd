"""The return-visit survey (每案必访) in the conversation itself, web or SMS.

The desk asks it (bot/surveys/): Rasa's trigger_intent with EXTERNAL_return_visit and the
visit's id. `action_return_visit` names the case ("your complaint TK… about …, resolved
yesterday by 王芳") and asks for 1-5 and a comment; `survey_open` then lets the rules of
data/rules/surveys.yml read the next replies as the answer ("5", "五分", "非常满意",
"not happy, still broken"), days later too, while the visit is open. The answer is
recorded by bot.surveys.answers.record_answer, which reopens the ticket on a low rating or
a "still not solved". Another question in the middle is answered, and the survey is asked
again once (`action_survey_resume`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions import services
from actions.language import language_of
from bot.settings import get as settings
from bot.surveys import ratings
from bot.surveys.answers import record_answer
from bot.surveys.models import Visit
from bot.surveys.store import VisitStore
from bot.surveys.unsolved import says_unsolved

logger = logging.getLogger(__name__)

OPEN = "survey_open"  # influences the dialogue: replies are read as the survey's answer
VISIT = "survey_visit"  # the visit being asked
RESUMED = "survey_resumed"  # asked again after another question, once
TIMEOUT_S = 5.0
FAILURES = (RedisError, OSError, asyncio.TimeoutError)
OUT_OF_CONTEXT = {"nlu_fallback": "utter_ask_rephrase", "out_of_scope": "utter_out_of_scope"}


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def _day(resolved_at: float | None, language: str) -> str:
    """ "today", "yesterday" or the date the case was resolved, in the company's zone."""
    if not resolved_at:
        return ""
    zone = ZoneInfo(settings().timezone)
    day = datetime.fromtimestamp(resolved_at, timezone.utc).astimezone(zone).date()
    days = (datetime.now(zone).date() - day).days
    if days == 0:
        return "今天" if language == "zh" else "today"
    if days == 1:
        return "昨天" if language == "zh" else "yesterday"
    return f"{day.month}月{day.day}日" if language == "zh" else day.strftime("%d %b")


async def _case(visit: Visit, language: str) -> dict[str, str]:
    """What the question says about the case."""
    svc = services.tickets()
    ticket = await asyncio.wait_for(svc.store.get(visit.ticket), TIMEOUT_S)
    about = svc.roster.category_label(ticket.category, language) if ticket else ""
    owner = (svc.owner_name(ticket, language) if ticket else None) or (
        "我们的工作人员" if language == "zh" else "our team"
    )
    return {
        "ticket": visit.ticket,
        "about": about,
        "day": _day(visit.resolved_at, language),
        "owner": owner,
    }


def _asked_here(visit: Visit, asking: str | None, conversation: str) -> bool:
    """Whether the desk is asking this visit in this conversation: its trigger marks the
    visit `asking` (step and route) before it calls Rasa, and the visit records where it
    was asked. A customer who types "/EXTERNAL_return_visit{...}" for someone else's visit
    learns nothing."""
    if (
        visit.status in ("sent", "reminded", "no_response")
        and visit.conversation_id == conversation
    ):
        return True
    try:
        route = json.loads(asking) if asking else {}
    except ValueError:
        return False
    return isinstance(route, dict) and route.get("conversation") == conversation


def _scale_buttons(tracker: Tracker, language: str) -> list[dict[str, str]]:
    """The 1-5 buttons, on the web: by SMS the question says "reply 1-5" and fits two
    segments, where five numbered choices would not."""
    if (tracker.sender_id or "").startswith("sms:"):
        return []
    return [
        {"title": f"{n} {label}", "payload": f'/rate{{"rating": "{n}"}}'}
        for n, label in sorted(ratings.scale(language).items(), reverse=True)
    ]


class ActionReturnVisit(Action):
    """EXTERNAL_return_visit (or its reminder): asks the survey of the visit it names."""

    def name(self) -> str:
        return "action_return_visit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        visit_id = _entity(tracker, "visit_id")
        language = language_of(tracker)
        try:
            store = VisitStore(services.redis())
            visit = await asyncio.wait_for(store.get(visit_id or ""), TIMEOUT_S)
            asking = await asyncio.wait_for(store.asking(visit_id or ""), TIMEOUT_S)
            if visit is None or not _asked_here(visit, asking, tracker.sender_id or ""):
                logger.warning("return visit %s is not being asked here", visit_id)
                return []
            language = visit.language if visit.language in ("zh", "en") else language
            case = await _case(visit, language)
        except FAILURES as exc:
            logger.error("return visit %s: %r", visit_id, exc)
            return []
        reminder = bool(_entity(tracker, "reminder"))
        dispatcher.utter_message(
            response="utter_return_visit_reminder" if reminder else "utter_return_visit",
            buttons=_scale_buttons(tracker, language),
            # By SMS (bot/sms/output.py): a survey honours opt-outs, and asking twice (a
            # desk retrying a trigger Rasa ran) queues one SMS.
            sms_kind="survey",
            idempotency_key=f"return_visit:{visit.id}:{'remind' if reminder else 'ask'}",
            **case,
        )
        return [
            SlotSet("language", language),
            SlotSet(OPEN, True),
            SlotSet(VISIT, visit.id),
            SlotSet(RESUMED, False),
        ]


class ActionSurveyAnswer(Action):
    """A reply while the survey is open: the rating and comment, recorded on the ticket."""

    def name(self) -> str:
        return "action_survey_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = str(tracker.latest_message.get("text") or "")
        payload_rating = _entity(tracker, "rating")
        reading = ratings.read(payload_rating or text)
        if payload_rating:
            reading = ratings.Reading(reading.rating, None)
        if reading.rating is None and not says_unsolved(reading.comment):
            # Neither a rating nor "still not fixed": not the survey's answer.
            return _not_an_answer(dispatcher, tracker, closed=False)
        visit_id = tracker.get_slot(VISIT)
        try:
            store = VisitStore(services.redis())
            visit = await asyncio.wait_for(
                store.open_for_conversation(tracker.sender_id or ""), TIMEOUT_S
            )
            if visit is None and isinstance(visit_id, str):
                visit = await asyncio.wait_for(store.get(visit_id), TIMEOUT_S)
            if visit is None:
                return _not_an_answer(dispatcher, tracker, closed=True)
            answer = await asyncio.wait_for(
                record_answer(
                    services.redis(),
                    visit.id,
                    reading.rating,
                    reading.comment,
                    tickets=services.tickets(),
                ),
                TIMEOUT_S * 2,
            )
        except FAILURES as exc:
            logger.error("survey answer failed: %r", exc)
            dispatcher.utter_message(response="utter_survey_failed")
            return []
        closed: list[EventType] = [SlotSet(OPEN, False), SlotSet(VISIT, None)]
        if not answer.accepted:
            dispatcher.utter_message(response="utter_survey_closed", ticket=visit.ticket)
            return closed
        if answer.reopened:
            language = language_of(tracker)
            due = answer.callback_by
            dispatcher.utter_message(
                response="utter_survey_reopened",
                ticket=visit.ticket,
                owner=answer.callback_owner
                or ("专人" if language == "zh" else "a member of our team"),
                due=due.astimezone(ZoneInfo(settings().timezone)).strftime("%m-%d %H:%M")
                if due
                else "",
            )
        else:
            dispatcher.utter_message(response="utter_survey_thanks")
        return closed


def _not_an_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, *, closed: bool
) -> list[EventType]:
    """A reply that is no survey answer: the usual reply for what it was."""
    if closed:
        if tracker.get_intent_of_latest_message() != "rate":
            dispatcher.utter_message(response="utter_anything_else")
        elif tracker.get_slot(VISIT):
            dispatcher.utter_message(response="utter_survey_closed_politely")
        else:  # no survey was asked here: the usual answer to a rating
            dispatcher.utter_message(response="utter_rate")
        return [SlotSet(OPEN, False), SlotSet(VISIT, None)]
    intent = str(tracker.get_intent_of_latest_message() or "")
    dispatcher.utter_message(response=OUT_OF_CONTEXT.get(intent, "utter_survey_resume_hint"))
    return []


class ActionSurveyResume(Action):
    """After another question answered in the middle of the survey: ask it again, once."""

    def name(self) -> str:
        return "action_survey_resume"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if not tracker.get_slot(OPEN) or tracker.get_slot(RESUMED):
            return []
        visit_id = tracker.get_slot(VISIT)
        ticket = visit_id.split(":")[0] if isinstance(visit_id, str) else ""
        dispatcher.utter_message(
            response="utter_survey_resume",
            ticket=ticket,
            buttons=_scale_buttons(tracker, language_of(tracker)),
        )
        return [SlotSet(RESUMED, True)]
