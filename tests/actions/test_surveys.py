"""The return-visit survey in the conversation: the question names the case, replies are
read as the answer while it is open, a low one reopens the ticket (real Redis)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.surveys import ActionReturnVisit, ActionSurveyAnswer, ActionSurveyResume
from bot.surveys.models import Visit, visit_id
from bot.surveys.store import VisitStore, visit_key
from bot.tickets.models import Status
from tests.support.actions import make_tracker
from tests.support.surveys import new_ticket, resolve

pytestmark = pytest.mark.usefixtures("tickets_redis")

PHONE = "+8613800000088"
SMS = f"sms:{PHONE}"
WEB = "web:" + "3" * 32


async def asked_visit(conversation: str = SMS, language: str = "zh") -> Visit:
    """A resolved ticket whose visit the desk has asked in `conversation`."""
    tickets = services.tickets()
    ticket = await new_ticket(tickets, phone=PHONE, language=language)
    await resolve(tickets, ticket.number)
    now = time.time()
    store = VisitStore(services.redis())
    visit = Visit(
        id=visit_id(ticket.number, 1),
        ticket=ticket.number,
        resolution=1,
        language=language,
        conversation_id=None,
        phone=None,
        channel="",
        status="scheduled",
        resolved_at=now - 86400,
        due_at=now - 60,
    )
    assert await store.create(visit)
    sent = Visit(
        **{
            **visit.__dict__,
            "status": "sent",
            "channel": "sms" if conversation.startswith("sms:") else "web",
            "conversation_id": conversation,
            "sent_at": now,
            "closes_at": now + 14 * 86400,
        }
    )
    assert await store.advance(
        sent, "scheduled", next_due=None, asked_in=conversation, asked_at=now
    )
    return sent


async def answer(
    text: str, visit: Visit, *, intent: str = "rate", sender: str = SMS, **extra: Any
) -> tuple[list[dict[str, Any]], list[Any]]:
    tracker = make_tracker(
        text,
        intent=intent,
        sender_id=sender,
        channel="sms",
        slots={"survey_open": True, "survey_visit": visit.id, **extra},
    )
    dispatcher = CollectingDispatcher()
    events = await ActionSurveyAnswer().run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def test_the_question_names_the_case_and_opens_the_survey() -> None:
    visit = await asked_visit()
    tracker = make_tracker(
        "",
        intent="EXTERNAL_return_visit",
        sender_id=SMS,
        entities=[{"entity": "visit_id", "value": visit.id}],
    )
    dispatcher = CollectingDispatcher()
    events = await ActionReturnVisit().run(dispatcher, tracker, {})
    [message] = dispatcher.messages
    assert message["response"] == "utter_return_visit"
    assert message["ticket"] == visit.ticket and message["day"] == "昨天"
    assert message["about"] and message["owner"]
    assert message["buttons"] == []  # by SMS the text says "reply 1-5"
    assert message["sms_kind"] == "survey"
    assert message["idempotency_key"] == f"return_visit:{visit.id}:ask"
    assert SlotSet("survey_open", True) in events and SlotSet("survey_visit", visit.id) in events


async def test_the_web_gets_five_buttons() -> None:
    visit = await asked_visit(WEB)
    tracker = make_tracker(
        "",
        intent="EXTERNAL_return_visit",
        sender_id=WEB,
        entities=[
            {"entity": "visit_id", "value": visit.id},
            {"entity": "reminder", "value": "true"},
        ],
    )
    dispatcher = CollectingDispatcher()
    await ActionReturnVisit().run(dispatcher, tracker, {})
    [message] = dispatcher.messages
    assert message["response"] == "utter_return_visit_reminder"
    assert [b["payload"] for b in message["buttons"]][0] == '/rate{"rating": "5"}'


async def test_an_unknown_visit_asks_nothing() -> None:
    tracker = make_tracker(
        "", intent="EXTERNAL_return_visit", entities=[{"entity": "visit_id", "value": "TK1:1"}]
    )
    dispatcher = CollectingDispatcher()
    assert await ActionReturnVisit().run(dispatcher, tracker, {}) == []
    assert dispatcher.messages == []


@pytest.mark.parametrize("reply", ["5", "五分", "非常满意", "打四星，师傅很好"])
async def test_a_good_rating_is_stored_and_thanked(reply: str) -> None:
    visit = await asked_visit()
    messages, events = await answer(reply, visit)
    assert [m["response"] for m in messages] == ["utter_survey_thanks"]
    assert SlotSet("survey_open", False) in events
    ticket = await services.tickets().store.get(visit.ticket)
    assert ticket is not None and ticket.rating in (4, 5)
    assert ticket.status == Status.RESOLVED


async def test_a_low_answer_reopens_and_says_who_calls_back() -> None:
    visit = await asked_visit(language="en")
    messages, _ = await answer("not happy, still broken", visit, language="en")
    [message] = messages
    assert message["response"] == "utter_survey_reopened"
    assert message["ticket"] == visit.ticket and message["due"]
    ticket = await services.tickets().store.get(visit.ticket)
    assert ticket is not None and ticket.status == Status.REOPENED and ticket.rating == 2


async def test_a_reply_that_is_no_answer_keeps_the_survey_open() -> None:
    visit = await asked_visit()
    messages, events = await answer("好的", visit, intent="affirm")
    assert [m["response"] for m in messages] == ["utter_survey_resume_hint"]
    assert events == []
    messages, _ = await answer("5", visit)  # still counts
    assert [m["response"] for m in messages] == ["utter_survey_thanks"]


async def test_after_the_survey_closed_a_digit_is_answered_politely() -> None:
    visit = await asked_visit()
    await answer("5", visit)
    messages, events = await answer("1", visit)  # a second answer changes nothing
    assert [m["response"] for m in messages] in (
        ["utter_survey_closed"],
        ["utter_survey_closed_politely"],
    )
    assert SlotSet("survey_open", False) in events
    ticket = await services.tickets().store.get(visit.ticket)
    assert ticket is not None and ticket.rating == 5


async def test_the_survey_is_asked_again_once_after_another_question() -> None:
    visit = await asked_visit()
    slots = {"survey_open": True, "survey_visit": visit.id}
    dispatcher = CollectingDispatcher()
    events = await ActionSurveyResume().run(
        dispatcher, make_tracker("营业厅几点开门", intent="faq", slots=slots), {}
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_survey_resume"]
    assert events == [SlotSet("survey_resumed", True)]
    again = CollectingDispatcher()
    await ActionSurveyResume().run(
        again,
        make_tracker("发票呢", intent="faq", slots={**slots, "survey_resumed": True}),
        {},
    )
    assert again.messages == []


async def test_the_first_question_goes_out_while_the_desk_is_asking() -> None:
    """The desk marks the visit `asking` before its trigger, and sets `sent` after."""
    visit = await asked_visit()
    store = VisitStore(services.redis())
    await services.redis().hset(
        visit_key(visit.id), mapping={"status": "scheduled", "conversation_id": ""}
    )
    await store.mark_asking(visit.id, json.dumps({"step": "ask", "conversation": SMS}))
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        "",
        intent="EXTERNAL_return_visit",
        sender_id=SMS,
        entities=[{"entity": "visit_id", "value": visit.id}],
    )
    await ActionReturnVisit().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_return_visit"]


async def test_a_typed_trigger_for_someone_elses_visit_reveals_nothing() -> None:
    visit = await asked_visit()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        '/EXTERNAL_return_visit{"visit_id": "' + visit.id + '"}',
        intent="EXTERNAL_return_visit",
        sender_id=WEB,  # not where the desk asked it
        entities=[{"entity": "visit_id", "value": visit.id}],
    )
    assert await ActionReturnVisit().run(dispatcher, tracker, {}) == []
    assert dispatcher.messages == []
