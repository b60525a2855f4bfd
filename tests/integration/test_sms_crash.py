"""Issue 8, item 8: a Rasa process killed between the ticket write and the inbox's `done`.

The SMS inbox re-runs a turn that no process finished (bot/sms/inbox.py), so after a crash
the complaint's submit action runs twice. Ticket creation is idempotent on the complaint
form's instance (actions/complaints.py `complaint_key`), so the customer gets exactly one
ticket, and its number by SMS.

Deterministic: the action server runs with the TEST-ONLY fault injection
KEFU_TEST_FAULT_SLEEP_AFTER_TICKET_S, so it holds its answer after writing the ticket;
the test SIGKILLs Rasa while it waits (the inbox entry is still pending), starts a new Rasa
on the same Redis, and its reclaimer re-runs the turn.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from actions.complaints import FAULT_SLEEP_ENV
from bot import db
from bot.sms import inbox
from bot.tickets.service import TicketService
from bot.tickets.store import Keys
from tests.conftest import (
    MODEL,
    RedisServer,
    free_port,
    http_ok,
    stack_env,
    start_process,
    stop_processes,
    wait_until,
)
from tests.support.sms import eventually, inbound, post_signed, read_sink, wait_for_sink

pytestmark = pytest.mark.stack

CRASH_DB = 9  # ours alone: no other Rasa may reclaim (and so finish) the crashed turn
PHONE = "+8613712345678"
TICKET = re.compile(r"TK[0-9]{8}-[0-9]{4,}")
HOLD_S = 45  # the action server's pause after the ticket write: the window for the kill
RECLAIM_IDLE_S = 4  # the new Rasa takes the crashed turn over this soon after the kill


@dataclass
class CrashStack:
    """Action server, desk and a Rasa that the test may kill and start again."""

    env: dict[str, str]
    logs: Path
    rasa_url: str
    desk_url: str
    redis_url: str
    procs: dict[str, subprocess.Popen]

    def start_rasa(self) -> None:
        self.procs["rasa"] = start_process("rasa", self.env, self.logs)
        wait_until(lambda: http_ok(f"{self.rasa_url}/"), 240, "rasa", [self.procs["rasa"]])

    def kill_rasa(self) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a crash or the OOM killer."""
        proc = self.procs.pop("rasa")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)


@pytest.fixture
def crash_stack(redis_server: RedisServer, tmp_path: Path) -> Iterator[CrashStack]:
    if not MODEL.exists():
        pytest.fail("no trained model; run scripts/train.sh (scripts/test.sh does)")
    sync_redis.Redis.from_url(redis_server.db_url(CRASH_DB)).flushdb()
    rasa_port, actions_port, desk_port = free_port(), free_port(), free_port()
    env = {
        **stack_env(redis_server, rasa_port, actions_port, desk_port, db=CRASH_DB),
        "SMS_RECLAIM_IDLE_S": str(RECLAIM_IDLE_S),
    }
    stack = CrashStack(
        env,
        tmp_path,
        f"http://127.0.0.1:{rasa_port}",
        f"http://127.0.0.1:{desk_port}",
        redis_server.db_url(CRASH_DB),
        {},
    )
    try:
        stack.procs["actions"] = start_process(
            "actions", {**env, FAULT_SLEEP_ENV: str(HOLD_S)}, tmp_path
        )
        stack.procs["desk"] = start_process("desk", env, tmp_path)
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{actions_port}/health"),
            60,
            "action server",
            list(stack.procs.values()),
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{desk_port}/healthz"),
            30,
            "desk",
            list(stack.procs.values()),
        )
        stack.start_rasa()
        yield stack
    except BaseException:
        for log in sorted(tmp_path.glob("*.log")):
            print(f"\n===== {log.name} =====\n{log.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        stop_processes(list(stack.procs.values()))


@pytest.fixture
async def redis(crash_stack: CrashStack) -> AsyncIterator[aioredis.Redis]:
    client = db.connect(crash_stack.redis_url)
    yield client
    await client.close()


async def text(
    session: aiohttp.ClientSession, stack: CrashStack, redis: aioredis.Redis, body: str
) -> str:
    """Sends one SMS and returns the bot's reply (one outbox message per turn)."""
    before = len(await read_sink(redis, PHONE))
    response = await post_signed(session, stack.desk_url, inbound(body, PHONE))
    assert response.status == 200
    sent = await wait_for_sink(redis, PHONE, count=before + 1, timeout=90)
    return sent[before]["body"]


async def test_rasa_killed_after_the_ticket_write_files_one_ticket_and_sends_its_number(
    crash_stack: CrashStack, redis: aioredis.Redis
) -> None:
    keys = Keys()
    async with aiohttp.ClientSession() as session:
        assert "哪一类" in await text(session, crash_stack, redis, "我要投诉，抄表员上门骂人")
        assert "地址或户号" in await text(session, crash_stack, redis, "服务态度")
        assert PHONE in await text(session, crash_stack, redis, "朝阳区建国路66号")

        # "是" files the ticket; the action server then holds its answer (fault injection).
        replies_before = len(await read_sink(redis, PHONE))
        confirm = inbound("是", PHONE)
        response = await post_signed(session, crash_stack.desk_url, confirm)
        assert response.status == 200
        await eventually(lambda: redis.zcard(keys.all), timeout=60)
        sid = confirm["MessageSid"]
        assert await redis.zscore(inbox.PENDING, sid) is not None  # the turn is not `done`

        crash_stack.kill_rasa()
        assert len(await read_sink(redis, PHONE)) == replies_before  # no number was sent
        assert await redis.zscore(inbox.PENDING, sid) is not None

        # A new Rasa on the same Redis takes the unfinished turn over and runs it again.
        crash_stack.start_rasa()
        sent = await wait_for_sink(redis, PHONE, count=replies_before + 1, timeout=240)

    assert await redis.zcard(keys.all) == 1  # the re-run did not file a second ticket
    [number] = await redis.zrange(keys.all, 0, -1)
    reply = sent[replies_before]["body"]
    assert TICKET.search(reply).group() == number  # the customer has its number
    await eventually(lambda: _not_pending(redis, sid), timeout=30)
    assert len(await read_sink(redis, PHONE)) == replies_before + 1  # and only one reply

    ticket = await TicketService.build(redis).store.get(number)
    assert ticket is not None
    assert ticket.phone == PHONE and ticket.channel == "sms" and ticket.phone_verified
    assert ticket.conversation_id == f"sms:{PHONE}"
    history = await TicketService.build(redis).store.history(number)
    assert [h.action for h in history].count("created") == 1
    log = (crash_stack.logs / "actions.log").read_text(errors="replace")
    assert "fault injection" in log and "requested again" in log  # both runs really happened


async def _not_pending(redis: aioredis.Redis, sid: str) -> bool:
    return await redis.zscore(inbox.PENDING, sid) is None
