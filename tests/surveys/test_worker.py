"""The scheduler as its own process, killed with SIGKILL mid-run and restarted: every
resolution gets its visit, and no customer is asked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis

from bot.surveys.models import SENT
from bot.surveys.store import VisitStore
from bot.tickets.service import TicketService
from tests.conftest import ROOT, RedisServer
from tests.support.handoff import eventually
from tests.support.surveys import StandInRasa, db_url, new_ticket, resolve

VISITS = 60


async def test_sigkill_mid_run_then_restart_asks_every_visit_exactly_once(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    tickets: TicketService,
    rasa: StandInRasa,
    tmp_path: Path,
) -> None:
    numbers = []
    for i in range(VISITS):
        ticket = await new_ticket(tickets, description=f"case {i}")
        await resolve(tickets, ticket.number)
        numbers.append(ticket.number)
    rasa.delay_s = 0.05  # Rasa is slow: the kill lands between its run and the desk's record
    env = {
        **os.environ,
        "REDIS_URL": db_url(redis_server),
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
        "KEFU_RETURN_VISIT_DELAY_S": "0",
        "SMS_QUIET_HOURS": "off",
        "SMS_RECLAIM_IDLE_S": "1",
    }
    command = [sys.executable, "-m", "bot.surveys.worker", "--every", "0.05", "--lease", "2"]

    def start(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    async def triggered(count: int) -> bool:
        return len(rasa.triggers) >= count

    first = start("first")
    try:
        await eventually(lambda: triggered(VISITS // 3), timeout=60, interval=0.005)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    store = VisitStore(redis)
    at_kill = [v for n in numbers for v in await store.for_ticket(n)]
    assert len(at_kill) == VISITS  # every resolution already had its visit
    sent_at_kill = sum(v.status == SENT for v in at_kill)
    assert 0 < sent_at_kill < VISITS, "the kill must land mid-run"
    in_flight = [v.id for v in at_kill if v.status != SENT and await store.asking(v.id)]
    assert in_flight, "the kill must land between a trigger and its record"

    second = start("second")
    try:

        async def done() -> bool:
            visits = [v for n in numbers for v in await store.for_ticket(n)]
            return len(visits) == VISITS and all(v.status == SENT for v in visits)

        await eventually(done, timeout=60, interval=0.1)
    finally:
        second.terminate()
        second.wait(10)
    asked = rasa.asked()
    assert set(asked) == {(f"{n}:1", False) for n in numbers}
    assert {visit: count for visit, count in asked.items() if count != 1} == {}
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert "already reached Rasa; not asked again" in log


def test_the_worker_module_runs_as_a_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.surveys.worker", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "--lease" in out.stdout
