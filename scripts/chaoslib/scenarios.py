"""The customers' scripts (FAQ questions, complaints to the ticket number, handoffs with an
agent's reply, an opt-out) and what each one observed, for the final accounting."""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from bot import db
from bot.sms import outbox
from scripts.chaoslib.agent import Agent, AgentError
from scripts.chaoslib.customers import SinkWatcher, SmsCustomer, SmsTurn, WebCustomer, WebTurn
from scripts.chaoslib.fleet import Fleet

TICKET = re.compile(r"TK\d{8}-\d{4,}")
FAQ = (
    "怎么交电费",
    "营业厅几点开门",
    "阶梯电价怎么算",
    "how can I pay my bill",
    "When are your service halls open?",
    "你好",
)
COMPLAINT_OPENING = "我要投诉，抄表员上门态度很差还骂人"
# The complaint form's questions (a cue in the bot's last message) and the answers.
COMPLAINT_ANSWERS = (
    ("确认", "是"),
    ("联系电话", "{phone}"),
    ("地址或户号", "朝阳区建国路66号"),
    ("哪一类", "服务态度"),
    ("描述", "抄表员上门态度很差，还骂人"),
)
BOT_BACK = "智能助手"
# Estimated messages per scenario, to plan a run of N messages.
ESTIMATE = {
    "sms_faq": 2,
    "web_faq": 2,
    "sms_complaint": 4,
    "web_complaint": 6,
    "sms_handoff": 2,
    "web_handoff": 2,
}
MIX = (
    "sms_faq",
    "web_faq",
    "sms_complaint",
    "web_faq",
    "sms_faq",
    "web_complaint",
    "sms_handoff",
    "web_faq",
    "web_handoff",
    "sms_faq",
)


@dataclass
class Complaint:
    channel: str
    conversation: str
    phone: str
    number: str | None = None
    steps: int = 0


@dataclass
class Handoff:
    channel: str
    conversation: str
    queued: bool = False
    agent_text: str = ""
    agent_reply_seen: bool = False  # the customer got the agent's message
    agent_reply_in_transcript: bool = False  # web: on the record while the socket was down
    handed_back: bool = False
    bot_back_seen: bool = False
    error: str = ""
    trace: list[str] = field(default_factory=list)  # web: the socket's story


@dataclass
class OptOut:
    phone: str
    stopped_at: float = 0.0  # when the opt-out was confirmed
    before: list[str] = field(default_factory=list)  # notices queued before STOP
    after: list[str] = field(default_factory=list)  # notices queued after STOP


@dataclass
class Load:
    fleet: Fleet
    watcher: SinkWatcher
    agent: Agent
    http: aiohttp.ClientSession
    signed_base: str
    run_tag: str  # digits making this run's phone numbers unique
    planned: int
    sms_turns: list[SmsTurn] = field(default_factory=list)
    web_turns: list[WebTurn] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    optouts: list[OptOut] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # outbox ids the run queued itself
    web_customers: list[WebCustomer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    durations: list[tuple[float, str]] = field(default_factory=list)  # per customer
    phones: int = 0

    @property
    def sent(self) -> int:
        return len(self.sms_turns) + len(self.web_turns)

    def phone(self, prefix: str) -> str:
        """A mobile number of this run: +86 1<prefix><3-digit run tag><5 digits>."""
        self.phones += 1
        return f"+861{prefix}{self.run_tag}{self.phones:05d}"

    def sms(self) -> SmsCustomer:
        return SmsCustomer(
            self.phone("39"),
            self.fleet.url,
            self.signed_base,
            self.fleet.twilio_token,
            self.http,
            self.watcher,
            self.sms_turns,
        )

    def web(self) -> WebCustomer:
        customer = WebCustomer(self.fleet.url, self.web_turns)
        self.web_customers.append(customer)
        return customer


Send = Callable[[str], Awaitable[str | None]]


def web_sender(customer: WebCustomer) -> Send:
    async def send(text: str) -> str | None:
        turn = await customer.turn(text)
        said = turn.replies + turn.apologies
        return "\n".join(said) if said else None

    return send


async def faq(send: Send, count: int = 2) -> None:
    for question in random.sample(FAQ, count):
        await send(question)


async def complaint(send: Send, record: Complaint) -> None:
    """Carries the complaint form through to the ticket number."""
    last = COMPLAINT_OPENING
    reply = await send(last)
    record.steps = 1
    while record.steps < 12:
        if reply is None:
            reply = await send(last)  # unanswered (counted as lost): the customer asks again
            record.steps += 1
            continue
        found = TICKET.search(reply)
        if found:
            record.number = found.group()
            return
        last = COMPLAINT_OPENING  # the form is gone (an apology): start again
        for cue, answer in COMPLAINT_ANSWERS:
            if cue in reply:
                last = answer.format(phone=record.phone)
                break
        reply = await send(last)
        record.steps += 1


async def sms_faq(load: Load) -> None:
    await faq(load.sms().text)


async def web_faq(load: Load) -> None:
    customer = load.web()
    await customer.connect()
    try:
        await faq(web_sender(customer))
    finally:
        await customer.close()


async def sms_complaint(load: Load) -> None:
    customer = load.sms()
    record = Complaint("sms", customer.conversation, customer.phone)
    load.complaints.append(record)
    await complaint(customer.text, record)


async def web_complaint(load: Load) -> None:
    customer = load.web()
    await customer.connect()
    # The web form asks for a phone: a number of this run.
    record = Complaint("web", "", load.phone("38"))
    load.complaints.append(record)
    try:
        record.conversation = customer.session_id
        await complaint(web_sender(customer), record)
    finally:
        await customer.close()


async def _queued(load: Load, send: Send, conversation: str, record: Handoff) -> bool:
    for _ in range(3):
        await send("转人工")
        if await load.agent.state(conversation) == "queued":
            return True
    record.error = "never queued (see the bot's answers)"
    return False


async def sms_handoff(load: Load) -> None:
    customer = load.sms()
    record = Handoff("sms", customer.conversation)
    load.handoffs.append(record)
    if not await _queued(load, customer.text, customer.conversation, record):
        return
    record.queued = True
    since = len(load.watcher.by_phone.get(customer.phone, []))
    record.agent_text = f"您好，我是人工客服，编号{secrets.token_hex(3)}"
    try:
        await load.agent.serve(customer.conversation, record.agent_text)
        record.agent_reply_seen = await load.watcher.wait_phone(
            customer.phone, record.agent_text, since, timeout=90
        )
        await load.agent.hand_back(customer.conversation)
        record.handed_back = True
    except AgentError as exc:
        record.error = str(exc)
        return
    record.bot_back_seen = await load.watcher.wait_phone(
        customer.phone, BOT_BACK, since, timeout=90
    )
    await customer.text(random.choice(FAQ))  # the bot answers again


async def _wait_web(customer: WebCustomer, text: str, timeout: float) -> bool:
    """Whether a reply containing `text` reaches the visitor; a dropped socket is
    reconnected at once, as the widget does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not customer.connected():
            customer.reconnects += 1
            await customer.connect()
        try:
            kind, data = await asyncio.wait_for(customer.events.get(), 1.0)
        except asyncio.TimeoutError:
            continue
        if kind == "reply":
            customer.note(f"got {str(data.get('text', ''))[:24]!r}")
            if text in str(data.get("text", "")):
                return True
    return False


async def web_handoff(load: Load) -> None:
    customer = load.web()
    await customer.connect()
    try:
        record = Handoff("web", customer.session_id, trace=customer.trace)
        load.handoffs.append(record)
        if not await _queued(load, web_sender(customer), customer.session_id, record):
            return
        record.queued = True
        record.agent_text = f"您好，我是人工客服，编号{secrets.token_hex(3)}"
        try:
            customer.note("agent serves")
            await load.agent.serve(customer.session_id, record.agent_text)
            customer.note("agent replied")
            record.agent_reply_seen = await _wait_web(customer, record.agent_text, 60)
            if not record.agent_reply_seen:
                record.agent_reply_in_transcript = await load.agent.said(
                    customer.session_id, record.agent_text
                )
            await load.agent.hand_back(customer.session_id)
            customer.note("handed back")
            record.handed_back = True
        except AgentError as exc:
            record.error = str(exc)
            return
        record.bot_back_seen = await _wait_web(customer, BOT_BACK, 60)
        await customer.turn(random.choice(FAQ))
    finally:
        await customer.close()


SCENARIOS: dict[str, Callable[[Load], Awaitable[None]]] = {
    "sms_faq": sms_faq,
    "web_faq": web_faq,
    "sms_complaint": sms_complaint,
    "web_complaint": web_complaint,
    "sms_handoff": sms_handoff,
    "web_handoff": web_handoff,
}


def plan(messages: int) -> list[str]:
    """Scenarios, in the MIX's order, until they add up to about `messages` messages."""
    out: list[str] = []
    total = 0
    while total < messages:
        name = MIX[len(out) % len(MIX)]
        out.append(name)
        total += ESTIMATE[name]
    return out


async def notices(load: Load, phones: list[str], text: str) -> list[str]:
    """Queues one outage notice per phone in the outbox (as a broadcast does)."""
    redis = db.connect(load.fleet.redis_url)
    try:
        done = await outbox.enqueue_many(
            redis,
            [outbox.Outgoing(to=p, body=text, kind="notice", urgent=True) for p in phones],
        )
    finally:
        await redis.close()
    ids = [i for d in done for i in d.ids]
    load.notices += ids
    return ids


async def opt_out(load: Load) -> None:
    """A customer on the notice list texts STOP mid-run: nothing but answers after it."""
    customer = load.sms()
    record = OptOut(customer.phone)
    load.optouts.append(record)
    await customer.text(random.choice(FAQ))
    record.before = await notices(load, [customer.phone], "停电通知：明天9点至12点检修。")
    await asyncio.sleep(2)
    if await customer.text("STOP") is None:
        return
    record.stopped_at = time.time()
    for _ in range(3):
        record.after += await notices(load, [customer.phone], "停电通知：线路抢修中。")
        await asyncio.sleep(1)
