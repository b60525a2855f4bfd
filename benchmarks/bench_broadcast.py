"""Outage broadcast benchmark: one fault outage covering 10,000 subscribers.

Starts its own Redis (the project's durable redis.conf: AOF, appendfsync always), creates
the subscribers directly, publishes the outage through the registry, and runs the real
desk code: the broadcast worker (bot.notices.worker) takes the change off the stream and
queues the notices, then the outbox sender's workers (offline: the local sink, paced by
the shared rate limit like Twilio sends) deliver them. Reports:

- time to enqueue (publish -> change acknowledged, all notices in the outbox; target < 2 s);
- the same change redelivered: new messages (must be 0);
- sustained send rate against the configured limit, and the most sends in any 1-second
  window, from the limiter slots recorded on each message and from the delivery times;
- total segments, notices per phone (duplicates must be 0), progress.summary's cost.

With --twilio-seconds N (needs `npm ci`), the restoration notices then go through the
Twilio path for N seconds (the official client against a Prism mock of Twilio's API, a
Messaging Service SID as sender): the same window check on the API calls made.

Usage: .venv/bin/python benchmarks/bench_broadcast.py [--subscribers 10000] [--rate 250]
       [--concurrency 8] [--twilio-seconds 20 --twilio-rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from bot.accounts.demo import DemoBackend  # noqa: E402
from bot.notices import progress, subscriptions  # noqa: E402
from bot.notices.worker import GROUP, BroadcastWorker  # noqa: E402
from bot.outages.registry import CHANGES, OutageRegistry  # noqa: E402
from bot.sms import outbox  # noqa: E402
from bot.sms.sender import Sender, TwilioTransport  # noqa: E402
from bot.sms.settings import SmsSettings  # noqa: E402
from bot.tasks import Workers  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


async def redis_cpu_s(redis: aioredis.Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def ids_of(redis: aioredis.Redis) -> list[str]:
    return list(await redis.zrange(outbox.RECENT, 0, -1))


async def records(redis: aioredis.Redis, ids: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for start in range(0, len(ids), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for message_id in ids[start : start + 1000]:
                pipe.hgetall(outbox.msg_key(message_id))
            out.extend(await pipe.execute())
    return out


async def bench(args: argparse.Namespace, redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    n = args.subscribers
    phones = [f"+86139{i:08d}" for i in range(n)]
    async with redis.pipeline(transaction=False) as pipe:
        for i, phone in enumerate(phones):
            pipe.hset(
                subscriptions.index_key("outage", "tongzhou"), phone, "en" if i % 4 == 0 else "zh"
            )
        await pipe.execute()
    backend = DemoBackend(redis)
    holders = len(await backend.holders_in_areas(["tongzhou"]))
    registry = OutageRegistry(redis)
    worker = BroadcastWorker(
        redis, backend, registry, validity_s=4 * 3600, merge_s=300, reclaim_idle_s=60.0
    )
    await worker.read_once()  # creates the group; nothing to read yet
    now = datetime.now(timezone.utc)
    print(f"{n} subscribers (+{holders} demo account holders) in one area", flush=True)

    redis_cpu = await redis_cpu_s(redis)
    cpu = time.process_time()
    began = time.perf_counter()
    outage = await registry.publish(
        areas=["tongzhou"],
        kind="fault",
        starts_at=now,
        eta=now + timedelta(hours=3),
        cause="cable fault",
        text={"zh": "线路故障抢修", "en": "A cable is being repaired."},
        actor="bench",
    )
    await worker.read_once()
    enqueue_s = time.perf_counter() - began
    enqueue_cpu = time.process_time() - cpu
    enqueue_redis_cpu = await redis_cpu_s(redis) - redis_cpu
    assert int((await redis.xpending(CHANGES, GROUP))["pending"]) == 0
    ids = await ids_of(redis)
    queued = len(ids)

    # The same change delivered again (a crash before the ack): nothing new.
    entry_id = (await redis.xrange(CHANGES, count=1))[0][0]
    fields = dict((await redis.xrange(CHANGES, count=1))[0][1])
    began = time.perf_counter()
    await worker.handle(entry_id, fields)
    rerun_s = time.perf_counter() - began
    rerun_new = len(await ids_of(redis)) - queued

    began = time.perf_counter()
    summary = await progress.summary(redis, outage.id)
    summary_s = time.perf_counter() - began

    settings = SmsSettings(
        redis_url=redis_url, rate_per_sec=args.rate, quiet_hours=None, concurrency=args.concurrency
    )
    sender = Sender(redis, settings)
    workers = Workers()
    tasks = sender.start(workers)
    began = time.perf_counter()
    try:
        while True:
            done = await progress.summary(redis, outage.id)
            if done["delivered"] + done["skipped"] + done["failed"] + done["expired"] >= queued:
                break
            await asyncio.sleep(0.5)
    finally:
        await sender.stop(tasks)
    send_s = time.perf_counter() - began
    rows = await records(redis, ids)
    slots = [float(r["rate_slot_at"]) for r in rows if r.get("rate_slot_at")]
    sent_at = [float(r["sent_at"]) for r in rows if r.get("sent_at")]
    per_phone = Counter(r["to"] for r in rows)
    duplicates = sum(c - 1 for c in per_phone.values() if c > 1)
    segments = sum(int(r["segments"]) for r in rows)
    encodings = Counter(r["encoding"] for r in rows)
    span = max(slots) - min(slots)
    await redis.close()

    print()
    print(f"recipients                 {summary['recipients']}  (notices queued: {queued})")
    print(f"time to enqueue            {enqueue_s:.3f} s  (publish -> all queued, change acked)")
    print(
        f"  CPU spent                {enqueue_cpu:.3f} s in this process, "
        f"{enqueue_redis_cpu:.3f} s in redis-server (load average now {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores)"
    )
    print(f"same change again          {rerun_s:.3f} s, new messages: {rerun_new}")
    print(f"progress.summary           {summary_s * 1000:.0f} ms for {queued} messages")
    print(
        f"send rate (limit {args.rate:g}/s)   sustained {(len(slots) - 1) / span:.1f}/s "
        f"({len(slots)} in {send_s:.1f} s, {args.concurrency} workers)"
    )
    print(
        f"max in any 1-s window      {max_in_window(slots)} (limiter slots), "
        f"{max_in_window(sent_at)} (delivery times)"
    )
    print(
        f"segments                   {segments} total "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(encodings.items()))} messages)"
    )
    print(
        f"duplicates                 {duplicates} (phones with >1 notice: "
        f"{sum(1 for c in per_phone.values() if c > 1)})"
    )
    print(f"final progress             {done}")
    if args.twilio_seconds:
        await twilio_pass(args, redis_url, outage.id, worker, registry)


async def twilio_pass(
    args: argparse.Namespace,
    redis_url: str,
    outage_id: str,
    worker: BroadcastWorker,
    registry: OutageRegistry,
) -> None:
    """The restoration notices through the Twilio path (Prism) for a while."""
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        before = set(await ids_of(redis))
        await registry.update(outage_id, actor="bench", status="restored")
        await worker.read_once()
        new = [i for i in await ids_of(redis) if i not in before]
        settings = SmsSettings(
            redis_url=redis_url,
            account_sid="AC" + "0123456789abcdef" * 2,
            auth_token="bench-auth-token-0123456789abcdef",
            messaging_service_sid="MG" + "0123456789abcdef" * 2,
            api_base=args.prism_url,
            rate_per_sec=args.twilio_rate,
            quiet_hours=None,
            concurrency=args.concurrency,
            send_timeout_s=10.0,
        )
        transport = TwilioTransport(settings)
        sender = Sender(redis, settings, transport)
        tasks = sender.start(Workers())
        await asyncio.sleep(args.twilio_seconds)
        await sender.stop(tasks)
        await transport.close()
        rows = [r for r in await records(redis, new) if r.get("rate_slot_at")]
        slots = [float(r["rate_slot_at"]) for r in rows]
        calls = [float(r["attempt_started"]) for r in rows]
        statuses = Counter(r["status"] for r in rows)
        span = max(slots) - min(slots) if len(slots) > 1 else 0.0
        print()
        print(f"twilio path (Prism), limit {args.twilio_rate:g}/s, {args.twilio_seconds:g} s:")
        print(
            f"  API calls                {len(rows)} ({dict(statuses)}), sustained "
            f"{(len(slots) - 1) / span if span else 0:.1f}/s"
        )
        print(
            f"  max in any 1-s window    {max_in_window(slots)} (limiter slots), "
            f"{max_in_window(calls)} (API calls begun)"
        )
        with_validity = sum(1 for r in rows if r.get("valid_until"))
        print(f"  sent with ValidityPeriod {with_validity} of {len(rows)}")
    finally:
        await redis.close()


def start_prism(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    spec = ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"
    prism = ROOT / "node_modules" / ".bin" / "prism"
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="kefu-bench-prism-")) / "prism.log"
    proc = subprocess.Popen(
        [str(prism), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    for _ in range(600):
        if "Prism is listening" in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    args.prism_url = f"http://127.0.0.1:{port}"
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=250.0, help="SMS_RATE_PER_SEC for the run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--twilio-seconds", type=float, default=0.0)
    parser.add_argument("--twilio-rate", type=float, default=50.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kefu-bench-broadcast-"))
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", str(ROOT / "redis.conf"), "--port", str(port), "--dir", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    redis_url = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = redis_url
    prism = start_prism(args) if args.twilio_seconds else None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(bench(args, redis_url))
    finally:
        for child in (proc, prism):
            if child is not None:
                child.terminate()
                child.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
