"""Benchmark: create tickets through TicketStore against a real redis-server.

Starts its own redis-server on a free port with the project's redis.conf, once with
`appendfsync always` (production: the number is fsynced before the customer hears it) and
once with `everysec` for comparison, and prints creations/s and latency percentiles.

    .venv/bin/python benchmarks/bench_tickets.py [--count 10000] [--concurrency 1 16]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot import db  # noqa: E402
from bot.tickets.models import GradeReason, NewTicket  # noqa: E402
from bot.tickets.service import Policies  # noqa: E402
from bot.tickets.store import TicketStore  # noqa: E402

REASON = (GradeReason("default", "P3", "一般服务质量投诉", "Ordinary service-quality complaint"),)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(fsync: str, data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            str(ROOT / "redis.conf"),
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--appendfsync",
            fsync,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def ticket(i: int) -> NewTicket:
    return NewTicket(
        category="billing",
        description=f"第{i}号测试投诉：电费金额与抄表读数不符，请核实。",
        location="幸福路 12 号",
        channel="socketio",
        phone=f"+86138{i % 100_000_000:08d}",
        language="zh",
        grade="P3",
        grade_reasons=REASON,
        owner="wang.fang",
        created_at=datetime.now(timezone.utc),
        assign_reason="round_robin",
    )


async def run(port: int, count: int, concurrency: int) -> tuple[float, list[float]]:
    client = db.connect(f"redis://127.0.0.1:{port}/0")
    policies = Policies.load()
    store = TicketStore(client, policies.sla, grades=policies.grader.grades)
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            started = time.perf_counter()
            await store.create(ticket(i))
            latencies.append(time.perf_counter() - started)

    await client.flushdb()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    assert await client.zcard(store.keys.all) == count
    await client.close()
    return elapsed, latencies


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--fsync", nargs="+", default=["always", "everysec"])
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed; run scripts/setup.sh")
    print(f"{args.count} tickets per run through TicketStore.create (one Lua script each, AOF on)")
    print(
        f"{'appendfsync':<12}{'concurrency':>12}{'creations/s':>13}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for fsync in args.fsync:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-") as data_dir:
            proc, port = start_redis(fsync, Path(data_dir))
            try:
                for concurrency in args.concurrency:
                    elapsed, latencies = asyncio.run(run(port, args.count, concurrency))
                    ms = sorted(x * 1000 for x in latencies)
                    print(
                        f"{fsync:<12}{concurrency:>12}{args.count / elapsed:>13.0f}"
                        f"{statistics.median(ms):>9.2f}{percentile(ms, 95):>9.2f}"
                        f"{percentile(ms, 99):>9.2f}{ms[-1]:>9.2f}",
                        flush=True,
                    )
            finally:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
