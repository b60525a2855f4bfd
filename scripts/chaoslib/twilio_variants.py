"""The outbox against Twilio's API contract while Twilio misbehaves: two real desk
processes (python -m bot.desk) send through a fault-injecting proxy in front of Prism's
mock of Twilio's 2010 API (tests/support/twilio_proxy.py), on a Redis database of the
fleet's server that nothing else uses. Variants:
- 429 and 500/503 on about a third of the calls: every message reaches Twilio once;
- 401 (a rotated auth token) for a while: sending pauses for both desks, one supervisor
  alert, no message failed; after the token is fixed every message goes out once;
- 21610 (the customer texted STOP, Twilio knew first): nothing more goes to that number.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from bot import db
from bot.sms import optout, outbox, pause
from scripts.chaoslib.checks import Report
from scripts.chaoslib.customers import ACCOUNT_SID, OUR_NUMBER
from scripts.chaoslib.fleet import ROOT, Fleet, free_port, http_status
from tests.support.twilio_proxy import TwilioProxy, twilio_error

DB = 7  # the variants' database on the fleet's Redis server
PRISM = ROOT / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"
TRANSIENT = (
    twilio_error(429, 20429, "Too Many Requests"),
    twilio_error(500, 20500, "Internal Server Error"),
    twilio_error(503, 20503, "Service Unavailable"),
)
UNAUTHORIZED = twilio_error(401, 20003, "Authenticate")
OPTED_OUT = twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


async def _settled(redis: aioredis.Redis, ids: list[str]) -> bool:
    for message_id in ids:
        status = await redis.hget(outbox.msg_key(message_id), "status")
        if status not in ("sent", "failed", "skipped", "expired"):
            return False
    return True


async def _sending(url: str, token: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/sms/sending", headers=headers) as r,
    ):
        return dict(await r.json()) if r.status == 200 else {}


def _phones(n: int, prefix: str) -> list[str]:
    tag = f"{random.randrange(1000):03d}"
    return [f"+861{prefix}{tag}{i:05d}" for i in range(n)]


async def _enqueue(redis: aioredis.Redis, phones: list[str], text: str) -> list[str]:
    done = await outbox.enqueue_many(
        redis, [outbox.Outgoing(to=p, body=text, kind="notice", urgent=True) for p in phones]
    )
    return [i for d in done for i in d.ids]


def _once(report: Report, proxy: TwilioProxy, ids: list[str], label: str) -> Counter[str]:
    """Each of `ids` reached Twilio (Prism accepted it) exactly once."""
    created = Counter(e.outbox_id for e in proxy.created())
    for message_id in ids:
        if created[message_id] == 0:
            report.lost.append(f"{label}: outbox {message_id} never reached Twilio")
        elif created[message_id] > 1:
            report.duplicated.append(f"{label}: outbox {message_id} sent {created[message_id]}x")
    return created


async def transient(redis: aioredis.Redis, proxy: TwilioProxy, n: int) -> Report:
    report = Report()
    proxy.exchanges.clear()
    proxy.refuse = lambda _form: random.choice(TRANSIENT) if random.random() < 0.35 else None
    ids = await _enqueue(redis, _phones(n, "51"), "停电通知：线路检修，明天恢复供电。")
    start = time.monotonic()
    await _wait(lambda: _settled(redis, ids), 120, "429/5xx: every message settled")
    proxy.refuse = None
    created = _once(report, proxy, ids, "429/5xx")
    failed = [i for i in ids if await redis.hget(outbox.msg_key(i), "status") != "sent"]
    report.other += [f"429/5xx: outbox {i} not sent" for i in failed]
    report.figures = {
        "messages": len(ids),
        "429 answered": proxy.injected(429),
        "500/503 answered": proxy.injected(500) + proxy.injected(503),
        "reached Twilio exactly once": sum(created[i] == 1 for i in ids),
        "seconds": round(time.monotonic() - start, 1),
    }
    report.figures["summary"] = (
        f"429/500/503 on {proxy.injected()} of {len(proxy.exchanges)} calls: "
        f"{report.figures['reached Twilio exactly once']}/{len(ids)} delivered exactly once."
    )
    return report


async def rotated_token(
    redis: aioredis.Redis, proxy: TwilioProxy, n: int, desks: list[tuple[str, str]]
) -> Report:
    report = Report()
    proxy.exchanges.clear()
    proxy.refuse = lambda _form: UNAUTHORIZED
    ids = await _enqueue(redis, _phones(n, "52"), "您的工单已受理，请留意回电。")
    await _wait(lambda: pause.paused(redis), 30, "401: sending paused")
    await asyncio.sleep(1.0)  # sends already under way end
    before = proxy.injected(401)
    window = 4.0
    await asyncio.sleep(window)  # paused: only probes reach "Twilio"
    probes = proxy.injected(401) - before
    statuses = Counter([await redis.hget(outbox.msg_key(i), "status") for i in ids])
    alerts = await pause.alerts(redis, time.time(), include_acknowledged=True)
    # Every desk reports the pause (GET /api/sms/sending, bot/sms/api.py).
    reporting = sum([bool((await _sending(*desk)).get("paused")) for desk in desks])
    if reporting != len(desks):
        report.other.append(f"401: {reporting} of {len(desks)} desks report the pause")
    if statuses.get("failed"):
        report.other.append(f"401: {statuses['failed']} messages failed instead of waiting")
    if len(alerts) != 1:
        report.other.append(f"401: {len(alerts)} supervisor alerts, expected 1")
    if proxy.created():
        report.other.append("401: messages reached Twilio while refused")
    proxy.refuse = None  # the operator puts the new token in: the next probe succeeds
    start = time.monotonic()
    await _wait(lambda: _settled(redis, ids), 120, "401: every message sent after the fix")
    resumed_s = time.monotonic() - start
    created = _once(report, proxy, ids, "401")
    if await pause.paused(redis) is not None:
        report.other.append("401: still paused after sending worked again")
    alerts = await pause.alerts(redis, time.time(), include_acknowledged=True)
    if not alerts or alerts[0]["resolved_at"] is None:
        report.other.append("401: the alert was not marked resolved")
    report.figures = {
        "messages": len(ids),
        "401 answered": proxy.injected(401),
        f"probes in {window:.0f} s while paused": probes,
        "statuses while paused": dict(statuses),
        "alerts": len(alerts),
        "all sent after the fix, s": round(resumed_s, 1),
        "reached Twilio exactly once": sum(created[i] == 1 for i in ids),
    }
    report.figures["summary"] = (
        f"401 (rotated token): sending paused on both desks with {len(alerts)} alert, "
        f"{probes} probe(s) in {window:.0f} s, {statuses.get('failed', 0)} failed; after the fix "
        f"{report.figures['reached Twilio exactly once']}/{len(ids)} sent exactly once in "
        f"{resumed_s:.1f} s."
    )
    return report


async def stop_at_twilio(redis: aioredis.Redis, proxy: TwilioProxy, n: int) -> Report:
    report = Report()
    proxy.exchanges.clear()
    [stopped] = _phones(1, "53")
    others = _phones(max(2, n // 4), "55")
    proxy.refuse = lambda form: OPTED_OUT if form.get("To") == [stopped] else None
    first = await _enqueue(redis, [stopped, *others], "停电通知：今晚检修。")
    await _wait(lambda: _settled(redis, first), 60, "21610: first round settled")
    opted_out = await optout.is_opted_out(redis, stopped)
    later = await _enqueue(redis, [stopped, *others] * 2, "停电通知：检修延长。")
    await _wait(lambda: _settled(redis, later), 60, "21610: later rounds settled")
    proxy.refuse = None
    to_stopped = [
        e for e in proxy.exchanges if e.method == "POST" and e.form.get("To") == [stopped]
    ]
    if not opted_out:
        report.other.append("21610: the number was not recorded as opted out")
    if len(to_stopped) != 1:
        report.other.append(f"21610: {len(to_stopped)} sends to the opted-out number, expected 1")
    mine = [i for i in first + later if await redis.hget(outbox.msg_key(i), "to") == stopped]
    created = _once(report, proxy, [i for i in first + later if i not in mine], "21610")
    skipped = sum([await redis.hget(outbox.msg_key(i), "status") == "skipped" for i in mine])
    if skipped != len(mine) - 1:
        report.other.append(f"21610: {skipped} of {len(mine) - 1} later notices skipped")
    report.figures = {
        "calls to the number after its 21610": len(to_stopped) - 1,
        "its notices skipped": f"{skipped} of {len(mine)} (the first failed with 21610)",
        "others sent exactly once": sum(v == 1 for v in created.values()),
    }
    report.figures["summary"] = (
        f"21610 (STOP known to Twilio): {len(to_stopped) - 1} sends to that number after it, "
        f"{skipped} of its {len(mine) - 1} later notices skipped; the others sent once."
    )
    return report


async def run(fleet: Fleet, work: Path, n: int) -> dict[str, Report]:
    base = fleet.redis_url.rsplit("/", 1)[0]
    redis_url = f"{base}/{DB}"
    redis = db.connect(redis_url)
    await redis.flushdb()
    prism_port = free_port()
    logs = work / "twilio"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        _spawn(
            [str(PRISM), "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(prism_port)],
            {**os.environ, "NO_COLOR": "1"},
            logs / "prism.log",
        )
    ]
    proxy = TwilioProxy(f"http://127.0.0.1:{prism_port}")
    await proxy.start()
    desks = []
    try:
        for i in range(2):
            port = free_port()
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("REDIS_", "RASA_", "KEFU_", "DESK_", "SMS_", "TWILIO_"))
            }
            env.update(
                REDIS_URL=redis_url,
                DESK_HOST="127.0.0.1",
                DESK_PORT=str(port),
                DESK_API_TOKEN=secrets.token_hex(32),
                RASA_URL="http://127.0.0.1:9",  # no Rasa: only the outbox is under test
                RASA_TOKEN=secrets.token_hex(32),
                TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=secrets.token_hex(16),
                TWILIO_FROM_NUMBER=OUR_NUMBER,
                TWILIO_API_BASE=proxy.url,
                SMS_PUBLIC_URL="https://kefu.example.com",  # StatusCallback carries ?id=
                SMS_QUIET_HOURS="off",
                SMS_RATE_PER_SEC="100",
                SMS_RETRY_BASE_S="0.1",  # retries and 401 probes about every second
                SMS_RETRY_CAP_S="1",
                SMS_RECLAIM_IDLE_S="5",
            )
            procs.append(_spawn([sys.executable, "-m", "bot.desk"], env, logs / f"desk-{i}.log"))
            desks.append((f"http://127.0.0.1:{port}", env["DESK_API_TOKEN"]))
        deadline = time.monotonic() + 120
        for desk, _token in desks:
            while await asyncio.to_thread(http_status, f"{desk}/healthz") != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"variant desk {desk} did not start (logs in {logs})")
                await asyncio.sleep(0.5)
        while "Prism is listening" not in (logs / "prism.log").read_text(errors="replace"):
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise TimeoutError(f"Prism did not start (logs in {logs})")
            await asyncio.sleep(0.5)
        return {
            "429/5xx": await transient(redis, proxy, n),
            "401": await rotated_token(redis, proxy, n, desks),
            "21610": await stop_at_twilio(redis, proxy, n),
        }
    finally:
        _stop(procs[1:])
        _stop(procs[:1])
        await proxy.close()
        await redis.close()
