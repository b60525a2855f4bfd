"""Fuzzing the desk's JSON APIs over HTTP against a real desk process: never a 500.

- The agent console's JSON API (/console/api/…), logged in as an agent and as a
  supervisor, with hypothesis: random and hostile conversation ids, bodies and headers,
  against real conversations waiting for and held by agents.
- The ticket API and the SMS API (/api/…) with hypothesis on raw HTTP: what schemathesis
  (tests/tickets/test_api.py, driven by the OpenAPI document) does not send: Unicode
  digits ("①", "٣") and other non-ASCII in numbers, repeated and unknown parameters,
  bodies that are not JSON or not UTF-8, wrong content types.

The desk runs as `python -m bot.desk` on its own Redis database, with the stack's real
Rasa behind it (agent replies and transcripts go through Rasa's HTTP API). A designed
"try again" (502 Rasa did not answer, 503 storage) is allowed; a 500 never is, nor is a
5xx without the desk's JSON error body.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot import db
from bot.handoff.hours import BusinessHours
from bot.handoff.policy import HandoffConfig
from bot.handoff.service import HandoffService, QueueTicket
from bot.handoff.store import ACTIVE_STATES
from tests.conftest import RASA_TOKEN, ROOT, Stack
from tests.support.desk_process import create_users, desk_env, desk_process, flush

pytestmark = pytest.mark.stack

DB = 9  # ours; other tests use lower databases
API_TOKEN = "kefu-fuzz-desk-token"
PASSWORD = "fuzzing is fun 42"
ALWAYS_OPEN = ROOT / "tests" / "handoff" / "data" / "always_open.yml"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # the desk's state is not replayable; keep runs independent
)


def db_url(stack: Stack) -> str:
    return re.sub(r"/\d+$", f"/{DB}", stack.redis.url)


@dataclass
class Desk:
    url: str
    redis_url: str
    log: Path
    # Conversations in the handoff queue, replaced when the fuzzer closes one.
    conversations: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def desk(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    redis_url = db_url(stack)
    env = desk_env(
        redis_url,
        API_TOKEN,
        RASA_URL=stack.rasa_url,
        RASA_TOKEN=RASA_TOKEN,
        RASA_PUBLIC_URL=stack.rasa_url,
        KEFU_BUSINESS_HOURS_FILE=str(ALWAYS_OPEN),
    )
    asyncio.run(flush(redis_url))
    create_users(env, (("fuzz.agent", "agent"), ("fuzz.boss", "supervisor")), PASSWORD)
    log = tmp_path_factory.mktemp("fuzz-desk") / "desk.log"
    with desk_process(env, log=log, what="fuzz desk") as url:
        yield Desk(url, redis_url, log)


async def _queue(redis_url: str, conversations: list[str]) -> list[str]:
    """Puts each conversation in the handoff queue (a new one when it cannot be queued)."""
    redis = db.connect(redis_url)
    try:
        config = HandoffConfig.load()
        config = HandoffConfig(config.queue, BusinessHours.from_yaml(ALWAYS_OPEN), config.messages)
        service = HandoffService.build(redis, config)
        await service.presence.heartbeat("fuzz.agent")
        queued = []
        for conversation in conversations:
            current = await service.store.get(conversation)
            if current is not None and current.state in ACTIVE_STATES:
                queued.append(conversation)
                continue
            fresh = conversation if current is None else _new_id(conversation)
            channel = "sms" if fresh.startswith("sms:") else "socketio"
            phone = fresh[4:] if channel == "sms" else None
            outcome = await service.request(fresh, channel, "zh", phone=phone)
            assert isinstance(outcome, QueueTicket), outcome
            queued.append(fresh)
        return queued
    finally:
        await redis.close()


def _new_id(like: str) -> str:
    if like.startswith("sms:"):
        return "sms:+86139" + "".join(secrets.choice("0123456789") for _ in range(8))
    return "web:" + secrets.token_hex(16)


@dataclass
class Session:
    http: requests.Session
    csrf: str


def login(desk: Desk, name: str) -> Session:
    http = requests.Session()
    form = http.get(f"{desk.url}/console/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    done = http.post(
        f"{desk.url}/console/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 303, done.text
    page = http.get(f"{desk.url}/console/", timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    return Session(http, csrf)


@pytest.fixture(scope="module")
def sessions(desk: Desk) -> dict[str, Session]:
    desk.conversations = asyncio.run(
        _queue(desk.redis_url, [_new_id("web:"), _new_id("web:"), _new_id("sms:")])
    )
    return {"agent": login(desk, "fuzz.agent"), "supervisor": login(desk, "fuzz.boss")}


def check(response: requests.Response, what: str) -> None:
    """Never a 500; a designed 5xx says what went wrong in the desk's JSON shape."""
    assert response.status_code != 500, f"{what}: 500 {response.text[:500]}"
    if response.status_code >= 500:
        assert response.status_code in (502, 503), f"{what}: {response.status_code}"
        assert "error" in response.json(), f"{what}: {response.text[:500]}"


# ---------------------------------------------------------------- strategies
UNICODE_DIGITS = st.sampled_from(["①", "٣", "１２", "²", "߁", "𝟙", "Ⅻ", "1_000", " 1", "0x10"])
# Short enough for a URL (aiohttp refuses request lines over 8190 bytes before any handler).
URL_TEXT = st.one_of(
    st.text(max_size=50),
    UNICODE_DIGITS,
    st.sampled_from(["", " ", "\x00", "../../etc/passwd", "%00", "..", "sms:+8613800138000"]),
)
# One path segment: not empty, and not "." or ".." (the HTTP client would resolve those).
PATH_TEXT = URL_TEXT.filter(lambda s: s not in ("", ".", ".."))
# (st.from_regex is avoided: its shrinker crashes on these alphabets in hypothesis 6.168.)
HEX32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
HOSTILE_TEXT = st.one_of(URL_TEXT, st.text(min_size=5000, max_size=20000, alphabet="好a1"))
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    HOSTILE_TEXT,
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def conversation_ids(desk: Desk) -> st.SearchStrategy[str]:
    made_up = st.one_of(
        HEX32.map(lambda h: "web:" + h),
        st.integers(10**10, 10**11 - 1).map(lambda n: f"sms:+86{n}"),
        PATH_TEXT,
    )
    # Mostly real ones (7 in 10): the handlers' deeper paths run only for those.
    return st.integers(0, 9).flatmap(
        lambda n: st.sampled_from(desk.conversations) if n < 7 else made_up
    )


CONSOLE_FIELDS = ("text", "key", "category", "description", "phone", "number", "location")


def console_bodies() -> st.SearchStrategy[object]:
    fields = st.fixed_dictionaries(
        {},
        optional={name: st.one_of(JSON_VALUE, HEX32, UNICODE_DIGITS) for name in CONSOLE_FIELDS},
    )
    return st.one_of(
        fields,
        st.fixed_dictionaries({"text": HOSTILE_TEXT, "key": HEX32}),
        JSON_VALUE,
        st.sampled_from([b"{", b"\xff\xfe{}", b"[]", b"null", b'{"text": "\xe4"}']),
    )


CONSOLE_ACTIONS = ("claim", "reply", "notes", "ticket", "handback", "close")


# ---------------------------------------------------------------- console
@given(data=st.data())
@FUZZ
def test_console_api_never_fails_with_500(
    desk: Desk, sessions: dict[str, Session], data: st.DataObject
) -> None:
    who = data.draw(st.sampled_from(["agent", "agent", "supervisor"]), label="as")
    session = sessions[who]
    route = data.draw(
        st.sampled_from(["queue", "next", "supervisor", "get", *CONSOLE_ACTIONS, *CONSOLE_ACTIONS]),
        label="route",
    )
    conversation = data.draw(conversation_ids(desk), label="conversation")
    base = f"{desk.url}/console/api"
    path = f"{base}/conversations/{quote(conversation, safe='')}"
    headers = {"X-CSRF-Token": session.csrf}
    if route in ("queue", "supervisor"):
        response = session.http.get(f"{base}/{route}", timeout=30)
    elif route == "get":
        response = session.http.get(path, timeout=30)
    elif route == "next":
        response = session.http.post(f"{base}/queue/next", headers=headers, timeout=30)
    else:
        body = data.draw(console_bodies(), label="body")
        if isinstance(body, bytes):
            content_type = data.draw(
                st.sampled_from(["application/json", "text/plain", "application/octet-stream"])
            )
            response = session.http.post(
                f"{path}/{route}",
                data=body,
                headers={**headers, "Content-Type": content_type},
                timeout=30,
            )
        else:
            response = session.http.post(f"{path}/{route}", json=body, headers=headers, timeout=30)
    check(response, f"{who} {route} {conversation[:80]!r}")
    event(f"{route}: {response.status_code}")  # --hypothesis-show-statistics
    if route in ("close", "handback", "next", "claim") and response.ok:
        desk.conversations = asyncio.run(_queue(desk.redis_url, desk.conversations))


@pytest.fixture(scope="module")
def held(desk: Desk, sessions: dict[str, Session]) -> dict[str, str]:
    """A web and an SMS conversation the agent has claimed (and keeps: no close here)."""
    fresh = asyncio.run(_queue(desk.redis_url, [_new_id("web:"), _new_id("sms:")]))
    agent = sessions["agent"]
    for conversation in fresh:
        path = f"{desk.url}/console/api/conversations/{quote(conversation, safe='')}/claim"
        claimed = agent.http.post(path, headers={"X-CSRF-Token": agent.csrf}, timeout=10)
        assert claimed.status_code == 200, claimed.text
    return dict(zip(("web", "sms"), fresh, strict=True))


@given(data=st.data())
@FUZZ
def test_console_bodies_on_a_held_conversation(
    desk: Desk, sessions: dict[str, Session], held: dict[str, str], data: st.DataObject
) -> None:
    """Past the id and ownership checks: what the handlers do with the body itself."""
    agent = sessions["agent"]
    conversation = held[data.draw(st.sampled_from(["web", "sms"]), label="channel")]
    route = data.draw(st.sampled_from(["reply", "notes", "ticket"]), label="route")
    body = data.draw(console_bodies(), label="body")
    url = f"{desk.url}/console/api/conversations/{quote(conversation, safe='')}/{route}"
    headers = {"X-CSRF-Token": agent.csrf}
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
        response = agent.http.post(url, data=body, headers=headers, timeout=30)
    else:
        response = agent.http.post(url, json=body, headers=headers, timeout=30)
    event(f"{route}: {response.status_code}")
    check(response, f"{route} {conversation}")
    if 400 <= response.status_code < 500:
        assert "error" in response.json(), response.text[:300]


def test_console_api_still_works_after_fuzzing(desk: Desk, sessions: dict[str, Session]) -> None:
    """The fuzzing wedged nothing: a new customer can still be claimed and answered."""
    [fresh] = asyncio.run(_queue(desk.redis_url, [_new_id("web:")]))
    agent = sessions["agent"]
    path = f"{desk.url}/console/api/conversations/{quote(fresh, safe='')}"
    headers = {"X-CSRF-Token": agent.csrf}
    claimed = agent.http.post(f"{path}/claim", headers=headers, timeout=10)
    assert claimed.status_code == 200, claimed.text
    body = {"text": "您好，我是客服", "key": secrets.token_hex(16)}
    replied = agent.http.post(f"{path}/reply", json=body, headers=headers, timeout=30)
    assert replied.ok and replied.json()["sent"]["agent_name"] == "fuzz.agent", replied.text
    log = desk.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


# ---------------------------------------------------------------- ticket and SMS APIs
TICKET_QUERY = ("status", "grade", "phone", "owner", "category", "limit", "cursor", "nonsense")
SMS_QUERY = ("limit", "to")


def query_strings(names: tuple[str, ...]) -> st.SearchStrategy[list[tuple[str, str]]]:
    value = st.one_of(UNICODE_DIGITS, URL_TEXT, st.integers().map(str))
    return st.lists(st.tuples(st.sampled_from(names), value), max_size=4)


TICKET_NUMBER = st.one_of(
    st.builds("TK{:08d}-{:04d}".format, st.integers(20200101, 20301231), st.integers(0, 9999)),
    st.builds(lambda d: f"TK2026112{d}-0001", UNICODE_DIGITS),
    PATH_TEXT,
)


def ticket_bodies() -> st.SearchStrategy[object]:
    names = ("category", "description", "location", "account_id", "phone", "language")
    names += ("channel", "actor", "status", "owner", "text", "score", "comment", "reason")
    return st.one_of(
        st.fixed_dictionaries({}, optional={n: JSON_VALUE for n in names}),
        st.fixed_dictionaries(
            {
                "category": st.sampled_from(["billing", "outage", "staff_conduct"]),
                "description": HOSTILE_TEXT,
                "phone": st.one_of(
                    UNICODE_DIGITS, st.sampled_from(["13800138000", "１３８００１３８０００"])
                ),
            }
        ),
        JSON_VALUE,
        st.sampled_from([b"{", b"\xff\xfe{}", b"", b"a=1&b=2"]),
    )


@given(data=st.data())
@FUZZ
def test_ticket_and_sms_apis_never_fail_with_500(desk: Desk, data: st.DataObject) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    kind = data.draw(
        st.sampled_from(["list", "get", "post", "action", "sms-list", "sms-get"]), label="kind"
    )
    api = f"{desk.url}/api"
    if kind == "list":
        params = data.draw(query_strings(TICKET_QUERY), label="query")
        response = requests.get(f"{api}/tickets", params=params, headers=auth, timeout=30)
    elif kind == "get":
        number = data.draw(TICKET_NUMBER, label="number")
        response = requests.get(f"{api}/tickets/{quote(number, safe='')}", headers=auth, timeout=30)
    elif kind in ("post", "action"):
        path = "/tickets"
        if kind == "action":
            number = data.draw(TICKET_NUMBER, label="number")
            action = data.draw(st.sampled_from(["status", "owner", "notes", "rating"]))
            path = f"/tickets/{quote(number, safe='')}/{action}"
        body = data.draw(ticket_bodies(), label="body")
        if isinstance(body, bytes):
            content_type = data.draw(
                st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""])
            )
            response = requests.post(
                api + path, data=body, headers={**auth, "Content-Type": content_type}, timeout=30
            )
        else:
            response = requests.post(api + path, json=body, headers=auth, timeout=30)
    elif kind == "sms-list":
        which = data.draw(st.sampled_from(["outbox", "sink"]))
        params = data.draw(query_strings(SMS_QUERY), label="query")
        response = requests.get(f"{api}/sms/{which}", params=params, headers=auth, timeout=30)
    else:
        ident = data.draw(PATH_TEXT, label="id")
        response = requests.get(
            f"{api}/sms/outbox/{quote(ident, safe='')}", headers=auth, timeout=30
        )
    event(f"{kind}: {response.status_code}")
    check(response, f"{kind} {response.request.method} {response.request.path_url[:200]!r}")
    if 400 <= response.status_code < 500 and response.status_code not in (401, 403):
        # Bad input is answered in the desk's shape, naming what was wrong.
        assert "error" in response.json(), response.text[:300]


def test_unicode_digits_in_limits_are_a_400_naming_the_field(desk: Desk) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    for path in ("/api/tickets", "/api/sms/outbox", "/api/sms/sink"):
        for digit in ("①", "٣", "１"):
            response = requests.get(f"{desk.url}{path}?limit={digit}", headers=auth, timeout=10)
            assert response.status_code == 400, (path, digit, response.text)
            assert response.json()["field"] == "limit"
