"""SMS against the real processes (`stack`: Rasa with our channel, actions, the desk's sender
delivering to the local sink): opt-out keywords during a form, digits that are not ASCII,
and fuzzed signed webhooks (inbound and status callbacks, both on the desk) and /api/sms/*
queries (hypothesis), with 0 responses of 500."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import redis as sync_redis
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sms import inbox, optout, outbox, sink
from bot.sms.keywords import load_texts
from bot.sms.settings import STATUS_PATH, WEBHOOK_PATH
from tests.conftest import DESK_TEST_TOKEN, RASA_TOKEN, Stack
from tests.support.sms import inbound, message_sid, sign

pytestmark = pytest.mark.stack

TEXTS = load_texts()
FUZZ_PHONES = ["+8613900000101", "+8613900000102", "+14155550123"]


@pytest.fixture
def r(stack: Stack) -> Iterator[sync_redis.Redis]:
    client = stack.redis.client()
    yield client
    client.close()


def post_signed(base_url: str, params: dict[str, str], path: str = WEBHOOK_PATH) -> int:
    url = base_url + path
    headers = {"X-Twilio-Signature": sign(url, params)}
    return requests.post(url, data=params, headers=headers, timeout=30).status_code


def sink_bodies(r: sync_redis.Redis, phone: str) -> list[str]:
    entries = r.xrange(sink.STREAM)
    return [fields["body"] for _id, fields in entries if fields.get("to") == phone]


def text(stack: Stack, r: sync_redis.Redis, phone: str, body: str, expect: int = 1) -> list[str]:
    """Sends one SMS and returns the replies it got (waits for `expect` of them)."""
    before = len(sink_bodies(r, phone))
    assert post_signed(stack.desk_url, inbound(body, phone)) == 200
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = sink_bodies(r, phone)
        if len(got) >= before + expect:
            return got[before:]
        time.sleep(0.1)
    raise AssertionError(f"no reply to {body!r} within 90 s")


def tracker(stack: Stack, conversation: str) -> dict:
    # Sanic matches Rasa's <conversation_id:path> on the raw path: keep ":" and "+" as they are.
    quoted = urllib.parse.quote(conversation, safe=":+")
    url = f"{stack.rasa_url}/conversations/{quoted}/tracker"
    response = requests.get(url, params={"token": RASA_TOKEN}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_cancel_during_an_english_complaint_opts_out_and_ends_the_form(
    stack: Stack, r: sync_redis.Redis
) -> None:
    phone = "+8613900000201"
    [question] = text(stack, r, phone, "I want to file a complaint")
    assert "What is it about?" in question
    assert (tracker(stack, f"sms:{phone}").get("active_loop") or {}).get("name") == (
        "complaint_form"
    )

    # CANCEL is an opt-out keyword: the customer is opted out (the law), the form ends, and
    # the one confirmation says both.
    [reply] = text(stack, r, phone, "cancel")
    assert reply == TEXTS["opted_out_complaint_form"]
    assert r.hexists(optout.REGISTRY, phone)
    state = tracker(stack, f"sms:{phone}")
    assert not (state.get("active_loop") or {}).get("name")
    slots = state["slots"]
    assert slots["requested_slot"] is None and slots["complaint_correcting"] is None
    assert slots["complaint_category"] is None and slots["phone"] == phone

    [again] = text(stack, r, phone, "START")
    assert again == TEXTS["opted_in"]
    [hello] = text(stack, r, phone, "hello")
    assert "What is it about?" not in hello and "register your complaint" not in hello


def test_a_stop_twilio_already_confirmed_ends_the_form_without_a_second_message(
    stack: Stack, r: sync_redis.Redis
) -> None:
    """Advanced Opt-Out: Twilio has answered the STOP itself; we end the form silently
    (one confirmation is all an opted-out customer may get)."""
    phone = "+8613900000203"
    text(stack, r, phone, "我要投诉")
    params = inbound("退订", phone, OptOutType="STOP")
    assert post_signed(stack.desk_url, params) == 200
    deadline = time.monotonic() + 60
    while (tracker(stack, f"sms:{phone}").get("active_loop") or {}).get("name"):
        assert time.monotonic() < deadline, "the form did not end"
        time.sleep(0.2)
    assert r.hexists(optout.REGISTRY, phone)
    assert _drained(r)  # the STOP's turn is over: any reply to it would be queued by now
    queued = [r.hgetall(outbox.msg_key(i)) for i in r.zrange(outbox.RECENT, 0, -1)]
    assert len([m for m in queued if m.get("to") == phone]) == 1  # only the first question


def test_a_circled_digit_answering_a_numbered_choice_gets_a_polite_reply(
    stack: Stack, r: sync_redis.Redis
) -> None:
    phone = "+8613900000202"
    [question] = text(stack, r, phone, "我要投诉")
    assert "1" in question and "（回复数字选择）" in question
    for not_ascii in ("①", "١", "１"):
        [reply] = text(stack, r, phone, not_ascii)
        assert reply != TEXTS["error"] and "没能识别" in reply
    [description] = text(stack, r, phone, "1")  # an ASCII number still picks the choice
    assert "描述" in description
    assert r.zcard(inbox.PENDING) == 0 or _drained(r)


def _drained(r: sync_redis.Redis, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if r.zcard(inbox.PENDING) == 0:
            return True
        time.sleep(0.25)
    return False


# ---- fuzzing ---------------------------------------------------------------------------

any_text = st.text(max_size=30)
digits_of_all_kinds = st.sampled_from(["0", "1", "10", "11", "-1", " 1", "①", "١", "１", "²", ""])
webhook_params = st.fixed_dictionaries(
    {
        "MessageSid": st.one_of(st.builds(message_sid), any_text),
        "From": st.one_of(st.sampled_from(FUZZ_PHONES), any_text),
        "Body": st.one_of(any_text, digits_of_all_kinds, st.text(min_size=1500, max_size=1700)),
        "NumMedia": st.one_of(digits_of_all_kinds, any_text),
        "OptOutType": st.one_of(st.just(""), st.sampled_from(["STOP", "START", "HELP"]), any_text),
    },
    optional={
        "MediaUrl0": any_text,
        "MediaContentType0": any_text,
        "To": any_text,
        "AccountSid": any_text,
    },
)
status_params = st.fixed_dictionaries(
    {
        "MessageSid": st.one_of(st.builds(message_sid), any_text),
        "MessageStatus": st.one_of(st.sampled_from(["sent", "delivered", "failed"]), any_text),
        "ErrorCode": st.one_of(digits_of_all_kinds, st.just("21610"), any_text),
    }
)
# As sent on the wire (and signed so by Twilio): "①" percent-encoded.
STATUS_PATHS = [STATUS_PATH, f"{STATUS_PATH}?id=OB0123456789ab", f"{STATUS_PATH}?id=%E2%91%A0"]
extra_fields = st.dictionaries(st.text(min_size=1, max_size=8), any_text, max_size=3)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.one_of(
        st.tuples(st.just(WEBHOOK_PATH), webhook_params),
        st.tuples(
            st.sampled_from(STATUS_PATHS),
            status_params,
        ),
    ),
    extra=extra_fields,
)
def test_fuzzed_signed_webhooks_never_get_a_500(
    stack: Stack, target: tuple[str, dict[str, str]], extra: dict[str, str]
) -> None:
    path, params = target
    params = {**extra, **params}
    status = post_signed(stack.desk_url, params, path)  # both Twilio webhooks: the desk's
    assert status != 500 and status < 500, (path, params, status)
    # Signed, so never refused as forged; otherwise a 200, or a 4xx naming the field.
    assert status != 403, (path, params)


def test_twilio_webhooks_are_served_by_the_desk_not_rasa(stack: Stack) -> None:
    """The desk checks the signature and looks the message up (none here); Rasa serves
    neither webhook: a busy or restarting model never refuses Twilio."""
    params = {"MessageSid": message_sid(), "MessageStatus": "delivered"}
    path = f"{STATUS_PATH}?id=OB0123456789ab"
    url = stack.desk_url + path
    headers = {"X-Twilio-Signature": sign(url, params)}
    on_desk = requests.post(url, data=params, headers=headers, timeout=30)
    assert on_desk.status_code == 404 and on_desk.json()["field"] == "id"
    forged = requests.post(url, data=params, headers={"X-Twilio-Signature": "x"}, timeout=30)
    assert forged.status_code == 403
    assert post_signed(stack.rasa_url, params, path) == 404
    assert post_signed(stack.rasa_url, inbound("hi", FUZZ_PHONES[0])) == 404


def test_fuzzed_turns_all_finished_without_an_apology(stack: Stack, r: sync_redis.Redis) -> None:
    """After the fuzzing above: every accepted message had its turn, and none crashed into
    the error text (a crashed turn is retried, then apologised for)."""
    assert _drained(r), "SMS turns still unfinished"
    for phone in FUZZ_PHONES:
        assert TEXTS["error"] not in sink_bodies(r, phone)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(["/api/sms/outbox", "/api/sms/sink", "/api/sms/outbox/"]),
    limit=st.one_of(st.none(), digits_of_all_kinds, any_text, st.integers().map(str)),
    to=st.one_of(st.none(), st.sampled_from(FUZZ_PHONES), any_text),
    tail=any_text,
)
def test_fuzzed_sms_api_queries_get_json_never_a_500(
    stack: Stack, route: str, limit: str | None, to: str | None, tail: str
) -> None:
    query = {k: v for k, v in {"limit": limit, "to": to}.items() if v is not None}
    url = stack.desk_url + route
    if route.endswith("/"):
        url += urllib.parse.quote(tail, safe="")
    response = requests.get(
        url,
        params=query,
        headers={"Authorization": f"Bearer {DESK_TEST_TOKEN}"},
        timeout=30,
    )
    assert response.status_code < 500, (url, query, response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = json.loads(response.text)
    if response.status_code >= 400:
        assert body["field"] in ("limit", "to", "id", "path"), body
        if route != "/api/sms/outbox/" and response.status_code == 400:
            assert body["field"] in query
