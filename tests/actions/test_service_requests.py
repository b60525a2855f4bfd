"""The service form and its answers: outages, bills and subscriptions, on a real Redis and
the demo account data (content/accounts/), with trackers built like Rasa's."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.outages import registry
from actions.service_requests import ActionServiceRequest, ValidateServiceForm
from bot.accounts import get_backend
from bot.identity.verification import verified_key
from bot.notices import context as notice_context
from bot.notices import subscriptions
from bot.outages.models import Outage
from tests.support.actions import make_tracker

pytestmark = pytest.mark.usefixtures("tickets_redis")

HOLDER = "+8613800000001"  # demo account 1100000001 in Chaoyang, unpaid current bill
STRANGER = "+8613900000077"  # no account
WEB = "web:" + "2" * 32


def sms(phone: str) -> str:
    return f"sms:{phone}"


async def publish(area: str = "chaoyang", kind: str = "fault", **extra: Any) -> Outage:
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    return await registry().publish(
        areas=[area],
        kind=kind,
        starts_at=extra.get("starts_at", start),
        eta=extra.get("eta", start + timedelta(hours=4)),
        cause=extra.get("cause", "变压器故障"),
        text={"zh": "抢修中。", "en": "Repairs under way."},
        actor="test",
    )


async def required(text: str, intent: str, sender: str, **slots: Any) -> list[str]:
    tracker = make_tracker(text, intent=intent, sender_id=sender, slots=slots)
    return await ValidateServiceForm().required_slots(
        ["area", "phone"], CollectingDispatcher(), tracker, {}
    )


async def ask(
    text: str, intent: str, sender: str, **slots: Any
) -> tuple[list[dict[str, Any]], list[Any]]:
    """What action_service_request says and does for a request the form completed."""
    tracker = make_tracker(
        text,
        intent=intent,
        sender_id=sender,
        channel="sms" if sender.startswith("sms:") else "socketio",
        slots={"service_request": intent, **slots},
    )
    dispatcher = CollectingDispatcher()
    events = await ActionServiceRequest().run(dispatcher, tracker, {})
    return dispatcher.messages, events


# ---- what the form asks --------------------------------------------------------------


async def test_an_sms_account_holder_is_asked_nothing() -> None:
    assert await required("停电了", "report_outage", sms(HOLDER)) == ["area"]
    # ... but the area is found: the form's extraction fills it from the account
    tracker = make_tracker("停电了", intent="report_outage", sender_id=sms(HOLDER))
    found = await ValidateServiceForm().extract_area(CollectingDispatcher(), tracker, {})
    assert found == {"area": "chaoyang"}
    assert await required("电费多少", "ask_bill", sms(HOLDER)) == []


async def test_the_web_asks_the_area_and_for_a_bill_the_phone() -> None:
    assert await required("停电了", "report_outage", WEB) == ["area", "phone"]
    assert await required("明天停电吗", "ask_outage_info", WEB) == ["area"]
    assert await required("电费多少", "ask_bill", WEB) == ["phone"]
    tracker = make_tracker("海淀区明天停电吗", intent="ask_outage_info", sender_id=WEB)
    found = await ValidateServiceForm().extract_area(CollectingDispatcher(), tracker, {})
    assert found == {"area": "haidian"}


async def test_a_typed_area_is_read_and_an_unknown_one_explained() -> None:
    form = ValidateServiceForm()
    tracker = make_tracker("朝阳", intent="nlu_fallback", sender_id=WEB)
    dispatcher = CollectingDispatcher()
    assert await form.validate_area("朝阳", dispatcher, tracker, {}) == {"area": "chaoyang"}
    assert await form.validate_area("火星基地", dispatcher, tracker, {}) == {"area": None}
    [message] = dispatcher.messages
    assert message["response"] == "utter_area_unknown"
    assert "朝阳区" in message["areas"] and "通州区" in message["areas"]


async def test_an_answer_to_the_area_question_is_not_a_new_request() -> None:
    tracker = make_tracker(
        "朝阳区",
        intent="report_outage",  # how the model may read a bare area name
        sender_id=WEB,
        slots={"service_request": "subscribe", "requested_slot": "area"},
    )
    events = await ValidateServiceForm().run(CollectingDispatcher(), tracker, {})
    assert SlotSet("service_request", "report_outage") not in events


# ---- outages -------------------------------------------------------------------------


async def test_a_report_in_a_known_outage_gets_its_cause_and_eta() -> None:
    outage = await publish()
    messages, _ = await ask("又停电了", "report_outage", sms(HOLDER), area="chaoyang")
    known, offer = messages
    assert known["response"] == "utter_outage_known"
    assert known["cause"] == "变压器故障" and known["areas"] == "朝阳区"
    assert known["eta"] != "待定" and known["details"] == "抢修中。"
    assert known["text"] is None  # the response's own text, not a variable
    assert offer["response"] == "utter_offer_restore_text"
    assert offer["buttons"][0]["payload"] == '/subscribe{"area": "chaoyang"}'
    assert await services.tickets().open_tickets_for_phone(HOLDER) == []
    assert outage.id


async def test_a_report_with_no_known_outage_files_a_graded_fault_ticket() -> None:
    messages, _ = await ask(
        "楼下电线掉在地上了，整栋楼停电", "report_outage", sms(HOLDER), area="chaoyang"
    )
    reported, subscribed = messages
    assert reported["response"] == "utter_outage_reported"
    [ticket] = await services.tickets().open_tickets_for_phone(HOLDER)
    assert reported["ticket"] == ticket.number
    assert ticket.category == "outage" and ticket.grade == "P1"  # a fallen line
    assert subscribed["response"] == "utter_outage_updates_subscribed"
    assert await subscriptions.subscribers(services.redis(), "chaoyang", "outage") == [
        (HOLDER, "zh")
    ]
    # the same message again (a retried turn) files nothing new
    await ask("楼下电线掉在地上了，整栋楼停电", "report_outage", sms(HOLDER), area="chaoyang")
    assert len(await services.tickets().open_tickets_for_phone(HOLDER)) == 1


async def test_an_outage_question_lists_planned_work_or_says_none() -> None:
    messages, _ = await ask("海淀区这周停电吗", "ask_outage_info", WEB, area="haidian")
    assert [m["response"] for m in messages] == ["utter_no_outages"]
    start = datetime.now(timezone.utc) + timedelta(days=2)
    await publish("haidian", "planned", starts_at=start, eta=start + timedelta(hours=6))
    messages, _ = await ask("海淀区这周停电吗", "ask_outage_info", WEB, area="haidian")
    assert [m["response"] for m in messages] == ["utter_outage_planned"]


async def test_a_reply_to_a_notice_gets_that_outages_eta() -> None:
    outage = await publish("tongzhou")
    client = services.redis()
    async with client.pipeline(transaction=True) as pipe:
        notice_context.record(pipe, [HOLDER], outage.id, "published", time.time())
        await pipe.execute()
    # the customer's own area (Chaoyang) has no outage: the notice's outage is the answer
    messages, _ = await ask("什么时候来电", "ask_outage_info", sms(HOLDER), area=None)
    [message] = messages
    assert message["response"] == "utter_outage_noticed"
    assert message["outage"] == outage.id and message["areas"] == "通州区"
    await registry().update(outage.id, actor="test", status="restored")
    assert await required("什么时候来电", "ask_outage_info", sms(HOLDER)) == ["area"]


# ---- bills ---------------------------------------------------------------------------


async def test_an_sms_holder_gets_the_current_bill_with_its_breakdown() -> None:
    [bill_now] = (await get_backend().bills("1100000001"))[-1:]
    messages, _ = await ask("这个月电费多少", "ask_bill", sms(HOLDER))
    [message] = messages
    assert f"{bill_now.amount:.2f}" in message["text"]
    assert "档" in message["text"]  # the tier lines
    assert bill_now.paid_on is None


async def test_why_so_high_compares_and_names_the_tier() -> None:
    messages, _ = await ask("为什么这个月电费这么高", "ask_bill", sms(HOLDER))
    [message] = messages
    assert "比上月" in message["text"] and "比去年同月" in message["text"]
    assert "第" in message["text"] and "档" in message["text"]


async def test_english_speaker_gets_english() -> None:
    messages, _ = await ask("how much is my bill", "ask_bill", sms(HOLDER), language="en")
    assert "kWh" in messages[0]["text"] and "yuan" in messages[0]["text"]


async def test_a_phone_without_account_is_told_how_to_link_one() -> None:
    messages, _ = await ask("电费多少", "ask_bill", sms(STRANGER))
    assert [m["response"] for m in messages] == ["utter_no_account"]


async def test_a_typed_web_phone_gets_a_code_offer_not_the_bill(tickets_redis: str) -> None:
    messages, events = await ask("电费多少", "ask_bill", WEB, phone=HOLDER)
    assert [m["response"] for m in messages] == ["utter_verification_offer"]
    assert SlotSet("verification_offered", True) in events
    assert SlotSet("service_request", "ask_bill") in events  # answered once verified
    redis.Redis.from_url(tickets_redis).set(verified_key(WEB), HOLDER, ex=60)
    messages, _ = await ask("电费多少", "ask_bill", WEB, phone=HOLDER)
    assert "元" in messages[0]["text"]


async def test_a_backend_that_is_down_gets_an_apology(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_ACCOUNTS_BACKEND", "http")
    monkeypatch.setenv("KEFU_ACCOUNTS_URL", "http://127.0.0.1:9/")  # discard: nothing answers
    monkeypatch.setenv("KEFU_ACCOUNTS_RETRIES", "0")
    messages, _ = await ask("电费多少", "ask_bill", sms(HOLDER))
    assert [m["response"] for m in messages] == ["utter_service_unavailable"]


# ---- subscriptions -------------------------------------------------------------------


async def test_subscribe_by_sms_then_unsubscribe() -> None:
    messages, _ = await ask("订阅停电通知", "subscribe", sms(HOLDER))
    assert messages[0]["response"] == "utter_subscribed"
    assert "停电通知" in messages[0]["topics"] and "朝阳区" in messages[0]["topics"]
    assert "电费" not in messages[0]["topics"]
    mine = await subscriptions.subscriptions_of(services.redis(), HOLDER)
    assert [(s["topic"], s["area"]) for s in mine] == [("outage", "chaoyang")]
    messages, _ = await ask("取消停电通知", "unsubscribe", sms(HOLDER))
    assert messages[0]["response"] == "utter_unsubscribed"
    assert await subscriptions.subscriptions_of(services.redis(), HOLDER) == []
    messages, _ = await ask("取消停电通知", "unsubscribe", sms(HOLDER))
    assert messages[0]["response"] == "utter_not_subscribed"


async def test_subscribing_to_both_and_bill_needs_an_account() -> None:
    messages, _ = await ask("订阅通知", "subscribe", sms(HOLDER))
    assert "电费提醒" in messages[0]["topics"] and "停电通知" in messages[0]["topics"]
    messages, _ = await ask("订阅电费提醒", "subscribe", sms(STRANGER))
    assert [m["response"] for m in messages] == ["utter_no_account_for_bill"]


async def test_an_angry_request_is_answered_then_offered_a_complaint() -> None:
    tracker = make_tracker(
        "又停电了！你们太过分了",
        intent="report_outage",
        sender_id=sms(HOLDER),
        channel="sms",
        entities=[{"entity": "complaint_cue", "value": "太过分"}],
        slots={"service_request": "report_outage", "area": "chaoyang"},
    )
    dispatcher = CollectingDispatcher()
    await ActionServiceRequest().run(dispatcher, tracker, {})
    assert dispatcher.messages[-1]["response"] == "utter_offer_complaint"
