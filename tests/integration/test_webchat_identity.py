"""Web identity and bounded input, attacked through a real socket.io client.

Against the running stack (Rasa with the web channel, Redis, action server): a visitor
reaches only conversations the server issued to them, sends only small allow-listed
metadata, small packets and a limited number of turns, and nothing they send stops the
channel from answering the next message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.webchat import (
    DEFAULT_CONVERSATION_TURNS,
    DEFAULT_SOCKET_TURNS,
    MAX_PACKET_BYTES,
    load_texts,
)
from bot.identity.tokens import Signer, new_web_id
from tests.conftest import WEB_SESSION_SECRET, Stack
from tests.support.webchat import Customer, stored_events

pytestmark = pytest.mark.stack

SMS_VICTIM = "sms:+8613800138000"
TEXTS = load_texts()


def signer(**kwargs: Any) -> Signer:
    return Signer((WEB_SESSION_SECRET.encode(),), **kwargs)


def tracker_exists(stack: Stack, conversation: str) -> bool:
    return bool(stack.redis.client().exists(f"kefu:tracker:{conversation}"))


async def connected(stack: Stack, token: str | None = None) -> Customer:
    customer = Customer(stack.rasa_url, token)
    await customer.connect()
    return customer


async def no_event(queue: asyncio.Queue, seconds: float = 1.5) -> bool:
    try:
        await asyncio.wait_for(queue.get(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def user_turns(stack: Stack, conversation: str, count: int, timeout: float = 90) -> list:
    """The user texts Rasa stored for a conversation, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        stored = stack.redis.client().get(f"kefu:tracker:{conversation}")
        events = json.loads(stored)["events"] if stored else []
        texts = [e["text"] for e in events if e["event"] == "user"]
        if len(texts) >= count or time.monotonic() > deadline:
            return texts
        await asyncio.sleep(0.2)


async def test_client_chosen_ids_never_become_the_conversation(stack: Stack) -> None:
    victim = await connected(stack)
    await victim.ask("hello")
    await no_event(victim.replies)  # the rest of the greeting, if any
    while not victim.replies.empty():
        victim.replies.get_nowait()
    attacker = Customer(stack.rasa_url)
    await attacker.client.connect(stack.rasa_url, transports=["websocket"])
    for attempt in (
        {"session_id": SMS_VICTIM},
        {"session_id": victim.session_id},
        {"token": SMS_VICTIM},
        {"token": victim.session_id},
        {"session_id": "x" * 5000, "token": "y" * 5000},
        SMS_VICTIM,
        None,
    ):
        confirm = await attacker.request_session(attempt)
        assert confirm["session_id"] not in (SMS_VICTIM, victim.session_id)
        assert not confirm["resumed"]
    # user_uttered naming another conversation still lands in the socket's own one.
    for target in (SMS_VICTIM, victim.session_id):
        await attacker.say("I am someone else", session_id=target)
        assert (await attacker.reply())["text"]
    assert await no_event(victim.replies)  # the victim's window stays quiet
    assert await user_turns(stack, victim.session_id, 1) == ["hello"]
    assert not tracker_exists(stack, SMS_VICTIM)
    assert await user_turns(stack, attacker.session_id, 2) == ["I am someone else"] * 2
    for c in (victim, attacker):
        await c.client.disconnect()


def forged(conversation: str, key: bytes, issued: int, expires: int) -> str:
    """A token built by hand, the way an attacker would try."""
    raw = f"{conversation}|{issued}|{expires}".encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    digest = hmac.new(key, b"kefu.web.session.v1\n" + payload.encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


async def test_forged_expired_and_tampered_tokens_start_a_new_conversation(stack: Stack) -> None:
    owner = await connected(stack)
    await owner.ask("hello")
    now = int(time.time())
    version, payload, signature = owner.token.split(".")
    other_id = new_web_id()
    swapped = base64.urlsafe_b64decode(payload + "==").replace(
        owner.session_id.encode(), other_id.encode()
    )
    bad_tokens = {
        "wrong secret": forged(owner.session_id, b"k" * 64, now, now + 3600),
        "expired": signer(clock=lambda: now - 31 * 24 * 3600).mint(owner.session_id),
        "future": forged(owner.session_id, WEB_SESSION_SECRET.encode(), now + 3600, now + 7200),
        "sms id, right secret": forged(SMS_VICTIM, WEB_SESSION_SECRET.encode(), now, now + 60),
        "payload swapped": f"{version}.{base64.urlsafe_b64encode(swapped).decode()}.{signature}",
        "signature cut": f"{version}.{payload}.{signature[:-2]}",
        "no signature": f"{version}.{payload}.",
        "oversize": owner.token + "A" * 10_000,
        "not a string": 12345,
    }
    visitor = Customer(stack.rasa_url)
    await visitor.client.connect(stack.rasa_url, transports=["websocket"])
    for name, token in bad_tokens.items():
        confirm = await visitor.request_session({"token": token})
        assert not confirm["resumed"], name
        assert confirm["session_id"] not in (owner.session_id, other_id, SMS_VICTIM), name
    assert not tracker_exists(stack, SMS_VICTIM)
    # The genuine token still resumes, and the bot remembers the conversation's language.
    confirm = await visitor.request_session({"token": owner.token})
    assert confirm["resumed"] and confirm["session_id"] == owner.session_id
    assert signer().verify(confirm["token"]) == owner.session_id  # refreshed, still valid
    assert await visitor.ask("5")
    assert await user_turns(stack, owner.session_id, 2) == ["hello", "5"]
    for c in (owner, visitor):
        await c.client.disconnect()


async def test_a_page_on_another_site_cannot_open_the_chat(stack: Stack) -> None:
    """CORS does not cover websockets: the channel checks a browser's Origin itself."""
    foreign = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect(
            stack.rasa_url, transports=["websocket"], headers={"Origin": "https://evil.example"}
        )
    # The desk's own page (the widget's origin) connects and chats.
    own = socketio.AsyncClient(reconnection=False)
    await own.connect(stack.rasa_url, transports=["websocket"], headers={"Origin": stack.desk_url})
    assert own.connected
    await own.disconnect()


async def test_user_uttered_before_session_request_gets_a_polite_error(stack: Stack) -> None:
    early = Customer(stack.rasa_url)
    await early.client.connect(stack.rasa_url, transports=["websocket"])
    await early.say("hello", session_id=SMS_VICTIM)
    error = await asyncio.wait_for(early.errors.get(), 10)
    assert error["code"] == "no_session" and error["text"] == TEXTS["no_session"]["en"]
    await early.client.disconnect()
    assert not tracker_exists(stack, SMS_VICTIM)


async def test_clients_cannot_set_trusted_metadata(stack: Stack) -> None:
    customer = await connected(stack)
    injected = {"phone": "+8613800138000", "verified_phone": "+8613800138000", "lang": "en-US"}
    await customer.say("hello", metadata=injected, customData=injected)
    assert (await customer.reply())["text"]
    events = await stored_events(stack, customer.session_id, 1)
    user = next(e for e in events if e["event"] == "user")
    assert user["metadata"]["lang"] == "en-US"
    assert not {"phone", "verified_phone", "customData"} & set(user["metadata"])
    assert user["input_channel"] == "socketio"
    assert not any(e["event"] == "slot" and e["name"] == "phone" and e["value"] for e in events)
    await customer.client.disconnect()


async def test_an_oversize_packet_closes_only_that_socket(stack: Stack) -> None:
    big = Customer(stack.rasa_url)
    await big.connect()
    await big.client.emit("user_uttered", {"message": "停" * MAX_PACKET_BYTES})
    for _ in range(50):
        if not big.client.connected:
            break
        await asyncio.sleep(0.1)
    assert not big.client.connected
    assert not tracker_exists(stack, big.session_id)
    # Everyone else, and the same visitor with their token, carry on.
    again = await connected(stack, big.token)
    assert again.resumed
    assert await again.ask("hello")
    await again.client.disconnect()


async def settled_errors(*customers: Customer, quiet_s: float = 3.0) -> list[list[dict]]:
    """Each customer's kefu_errors, once none has arrived for `quiet_s` seconds."""
    got: list[list[dict]] = [[] for _ in customers]
    while True:
        await asyncio.sleep(quiet_s)
        new = False
        for bucket, customer in zip(got, customers, strict=True):
            while not customer.errors.empty():
                bucket.append(customer.errors.get_nowait())
                new = True
        if not new:
            return got


async def test_turns_per_conversation_are_limited_across_sockets(stack: Stack) -> None:
    """A burst over the allowance is refused politely, in the refused message's language.

    The allowance refills one turn per 60/limit seconds, and a busy Rasa may read the
    burst over a few seconds, so the test sends well over the limit and checks that the
    whole allowance passed, that the rest (nearly all of it) was refused, and that Rasa
    saw exactly the accepted turns."""
    first = await connected(stack)
    second = await connected(stack, first.token)  # another tab of the same conversation
    assert second.session_id == first.session_id
    extra = 10
    for i in range(DEFAULT_CONVERSATION_TURNS + extra):
        if i % 2:
            await first.say("hello")
        else:
            await second.say("你好")
    first_errors, second_errors = await settled_errors(first, second)
    refused = len(first_errors) + len(second_errors)
    assert 0 < refused <= extra
    assert {e["code"] for e in first_errors + second_errors} == {"rate_limited"}
    assert {e["text"] for e in first_errors} <= {TEXTS["rate_limited"]["en"]}
    assert {e["text"] for e in second_errors} <= {TEXTS["rate_limited"]["zh"]}
    accepted = DEFAULT_CONVERSATION_TURNS + extra - refused
    assert len(await user_turns(stack, first.session_id, accepted)) == accepted
    for c in (first, second):
        await c.client.disconnect()


async def test_turns_per_socket_are_limited_across_conversations(stack: Stack) -> None:
    hopper = await connected(stack)
    total = DEFAULT_SOCKET_TURNS + 10
    per_conversation = DEFAULT_CONVERSATION_TURNS - 1  # stay under the other limit
    for sent in range(total):
        if sent % per_conversation == 0:
            await hopper.request_session({})  # a new conversation, same socket
        await hopper.say("/greet")
    (errors,) = await settled_errors(hopper)
    assert 0 < len(errors) <= 10
    assert {e["code"] for e in errors} == {"rate_limited"}
    await hopper.client.disconnect()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(["message", "session_id", "token", "metadata", "customData"])
PAYLOADS = JSON | st.dictionaries(FIELDS, JSON, max_size=5)
EVENTS = st.lists(
    st.tuples(st.sampled_from(["session_request", "user_uttered"]), st.lists(PAYLOADS, max_size=3)),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS)
async def test_fuzzed_events_never_stop_the_channel(stack: Stack, events: list) -> None:
    fuzzer = socketio.AsyncClient(reconnection=False)
    await fuzzer.connect(stack.rasa_url, transports=["websocket"])
    for name, args in events:
        await fuzzer.emit(name, tuple(args) if len(args) != 1 else args[0])
    await asyncio.sleep(0.05)
    assert fuzzer.connected
    await fuzzer.disconnect()


async def test_after_the_fuzz_the_next_message_is_answered(stack: Stack) -> None:
    # Runs after the fuzz (file order): the channel still serves a normal visitor.
    customer = await connected(stack)
    assert await customer.ask("你好")
    await customer.client.disconnect()
    # ...and no event made the channel's code raise (python-socketio would log and go on).
    log = (stack.logs / "rasa.log").read_text(errors="replace")
    assert "bot/channels/webchat.py" not in log
