"""The final accounting, from Redis (the system of record) and what customers saw: every
loss or duplicate by its id."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import redis.asyncio as aioredis

from bot.handoff.policy import HandoffConfig
from bot.handoff.store import HandoffStore
from bot.sms import inbox, outbox, sink
from bot.tickets.service import TicketService
from scripts.chaoslib.scenarios import Load

FINAL = {"delivered", "skipped", "expired", "failed", "undelivered"}


@dataclass
class Report:
    figures: dict[str, object] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # stuck, failed, not escalated...

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.other)


async def sink_entries(redis: aioredis.Redis, start_id: str) -> list[dict[str, str]]:
    """Every sink entry after `start_id`, oldest first."""
    out: list[dict[str, str]] = []
    last = start_id
    while True:
        batch = await redis.xrange(sink.STREAM, min=f"({last}", count=1000)
        if not batch:
            return out
        out += [dict(fields, entry_id=entry_id) for entry_id, fields in batch]
        last = batch[-1][0]


async def settled(redis: aioredis.Redis, load: Load, since: float) -> bool:
    """Nothing left to do: inbox empty, every outbox message of the run final, no handoff
    waiting."""
    queued, pending = await inbox.depth(redis)
    if queued or pending:
        return False
    for message_id in await redis.zrangebyscore(outbox.RECENT, since, "+inf"):
        status = await redis.hget(outbox.msg_key(message_id), "status")
        if status and status not in FINAL:
            return False
    store = HandoffStore(redis, HandoffConfig.load().queue)
    return not await store.queue()


async def account(redis: aioredis.Redis, load: Load, start_id: str, since: float) -> Report:
    report = Report()
    entries = await sink_entries(redis, start_id)
    keys: dict[str, str] = {}  # outbox id -> idempotency key
    for entry in entries:
        outbox_id = entry.get("outbox_id", "")
        if outbox_id not in keys:
            keys[outbox_id] = await redis.hget(outbox.msg_key(outbox_id), "idempotency_key") or ""
    by_outbox = Counter(e.get("outbox_id", "") for e in entries)
    by_key: dict[str, list[str]] = defaultdict(list)  # key (with part) -> outbox ids
    for entry in entries:
        by_key[keys[entry.get("outbox_id", "")]].append(entry.get("outbox_id", ""))

    # -- every SMS answered exactly once (reply:<MessageSid>, or the error text instead)
    unanswered = 0
    for turn in load.sms_turns:
        got = {
            k: v
            for k, v in by_key.items()
            if k.split("#", 1)[0] in (f"reply:{turn.sid}", f"error:{turn.sid}")
        }
        if not got:
            unanswered += 1
            report.lost.append(f"SMS {turn.sid} from {turn.phone} ({turn.body!r}): no reply")
        for key, ids in got.items():
            if len(ids) > 1:
                report.duplicated.append(f"SMS {turn.sid}: reply {key} delivered {len(ids)}x")
        if len({k.split(":", 1)[0] for k in got}) > 1:
            report.duplicated.append(f"SMS {turn.sid}: both a reply and the error text")
    webhook_retries = sum(t.webhook_tries - 1 for t in load.sms_turns)

    # -- every web message answered (the visitor sends again after a drop, as the widget)
    web_lost = [t for t in load.web_turns if not t.answered]
    for turn in web_lost:
        report.lost.append(f"web {turn.customer}: {turn.text!r} got no answer")
    for turn in load.web_turns:
        for text in turn.duplicates:
            report.duplicated.append(f"web {turn.customer}: {text[:40]!r} twice in one turn")

    # -- every outbox message of the run delivered once (or skipped/expired, not failed)
    statuses: Counter[str] = Counter()
    for message_id in await redis.zrangebyscore(outbox.RECENT, since, "+inf"):
        record = await outbox.get(redis, message_id) or {}
        status = record.get("status", "missing")
        statuses[status] += 1
        if status not in FINAL:
            report.other.append(f"outbox {message_id}: still {status}")
        elif status == "failed":
            report.other.append(f"outbox {message_id}: failed ({record.get('error', '')})")
        elif status == "delivered" and by_outbox[message_id] == 0:
            report.lost.append(f"outbox {message_id}: delivered, but not in the sink")
    for outbox_id, count in by_outbox.items():
        if count > 1:
            report.duplicated.append(f"outbox {outbox_id}: in the sink {count}x")

    # -- complaints: one ticket each, and the customer has its number
    tickets = TicketService.build(redis)
    completed = 0
    for c in load.complaints:
        filed = []
        if c.conversation:
            filed = await tickets.store.tickets_of_conversation(c.conversation)
        if c.number:
            completed += 1
            if [t.number for t in filed] != [c.number]:
                numbers = [t.number for t in filed]
                target = report.duplicated if len(filed) > 1 else report.lost
                target.append(f"complaint {c.conversation}: told {c.number}, filed {numbers}")
        elif filed:
            report.lost.append(
                f"complaint {c.conversation}: ticket {filed[0].number} filed, number never shown"
            )

    # -- handoffs: taken, answered, handed back; nobody left waiting
    store = HandoffStore(redis, HandoffConfig.load().queue)
    for h in load.handoffs:
        if h.error and not h.queued:
            report.other.append(f"handoff {h.conversation}: {h.error}")
        elif h.error:
            report.other.append(f"handoff {h.conversation}: agent step failed: {h.error}")
        elif not (h.agent_reply_seen or h.agent_reply_in_transcript):
            report.lost.append(
                f"handoff {h.conversation}: the agent's reply never arrived {h.trace or ''}"
            )
        elif not h.bot_back_seen:
            report.lost.append(
                f"handoff {h.conversation}: no 'assistant is back' message {h.trace or ''}"
            )
        if h.channel == "sms" and h.agent_text:
            sent = [e for e in entries if h.agent_text in e.get("body", "")]
            if len(sent) > 1:
                report.duplicated.append(f"handoff {h.conversation}: agent reply {len(sent)}x")
    waiting = await store.queue()
    ours = {h.conversation for h in load.handoffs}
    with_agent = [c.id for c in await store.active() if c.id in ours]
    for c in waiting:
        report.other.append(f"handoff {c.id}: still waiting in the queue")
    for cid in with_agent:
        report.other.append(f"handoff {cid}: still with the agent")

    # -- STOP: after the opt-out, nothing but answers reaches the number
    after_stop = 0
    for o in load.optouts:
        if not o.stopped_at:
            report.other.append(f"opt-out {o.phone}: STOP was never confirmed")
            continue
        for e in entries:
            if (
                e.get("to") == o.phone
                and e.get("kind") not in outbox.OPT_OUT_EXEMPT
                and float(e.get("at") or 0) > o.stopped_at
            ):
                after_stop += 1
                report.other.append(f"opt-out {o.phone}: {e.get('outbox_id')} sent after STOP")
        for message_id in o.after:
            status = await redis.hget(outbox.msg_key(message_id), "status")
            if status != "skipped":
                report.other.append(f"opt-out {o.phone}: notice {message_id} is {status}")

    replies_web = sum(len(t.replies) for t in load.web_turns)
    report.figures.update(
        {
            "sms messages": len(load.sms_turns),
            "sms answered exactly once": len(load.sms_turns) - unanswered,
            "sms webhook retries (refused while a desk/Redis was down)": webhook_retries,
            "web messages": len(load.web_turns),
            "web answered": len(load.web_turns) - len(web_lost),
            "web bot messages received": replies_web,
            "web apologies (actions failed)": sum(bool(t.apologies) for t in load.web_turns),
            "web sent again after a drop/refusal": sum(t.resent for t in load.web_turns),
            "web reconnects": sum(c.reconnects for c in load.web_customers),
            "outbox messages": sum(statuses.values()),
            "outbox by status": dict(sorted(statuses.items())),
            "sink deliveries": len(entries),
            "complaints": len(load.complaints),
            "complaints with a ticket number": completed,
            "handoffs": len(load.handoffs),
            "handoffs answered by the agent and handed back": sum(
                h.bot_back_seen for h in load.handoffs
            ),
            "handoffs waiting at the end": len(waiting),
            "web agent replies missed while reconnecting (in the transcript)": sum(
                h.agent_reply_in_transcript and not h.agent_reply_seen for h in load.handoffs
            ),
            "agent API retries": load.agent.retries,
            "opt-outs (STOP)": len(load.optouts),
            "non-reply SMS after STOP": after_stop,
        }
    )
    return report


async def sla_escalates(redis: aioredis.Redis, timeout: float) -> tuple[str, float | None]:
    """Files a ticket whose deadlines passed long ago; seconds until a desk escalated it."""
    ten_days_ago = datetime.now(timezone.utc) - timedelta(days=10)
    service = TicketService.build(redis, clock=lambda: ten_days_ago)
    ticket = await service.create_complaint(
        category="billing",
        description="混沌测试：逾期工单应被升级",
        phone="+8613800138000",
        language="zh",
        channel="sms",
    )
    store = TicketService.build(redis).store
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        found = await store.get(ticket.number)
        if found is not None and found.escalations >= 1:
            return ticket.number, time.monotonic() - start
        await asyncio.sleep(0.5)
    return ticket.number, None
