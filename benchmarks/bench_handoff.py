"""Handoff benchmark: queue operations and the event broker on a real Redis.

Starts its own redis-server (the project's durable redis.conf, in a temporary folder) and
reports:
- enqueues per second (the action server's HandoffService.request path minus Rasa);
- claims per second with N agents taking from one queue through two connection pools
  (standing in for two desk processes), and that no conversation went to two agents;
- broker events per second from publish() until they are in the Redis Stream.

Usage: .venv/bin/python benchmarks/bench_handoff.py [--conversations 2000] [--agents 8]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.broker import RedisStreamEventBroker  # noqa: E402
from bot.handoff.policy import HandoffConfig  # noqa: E402
from bot.handoff.store import HandoffStore  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def bench(url: str, conversations: int, agents: int) -> None:
    config = HandoffConfig.load()
    one, two = db.connect(url), db.connect(url)
    stores = [HandoffStore(one, config.queue), HandoffStore(two, config.queue)]
    grades = config.queue.grades

    start = time.perf_counter()
    for i in range(conversations):
        await stores[0].enqueue(
            f"web-{i}", channel="socketio", language="zh", grade=grades[i % len(grades)],
            reason="human_handoff",
        )  # fmt: skip
    elapsed = time.perf_counter() - start
    print(f"enqueue:  {conversations / elapsed:8.0f} /s  ({conversations} sequential)")

    async def agent(n: int) -> list[str]:
        store = stores[n % 2]
        taken = []
        while (conversation := await store.claim_next(f"agent{n}")) is not None:
            taken.append(conversation)
        return taken

    start = time.perf_counter()
    results = await asyncio.gather(*(agent(n) for n in range(agents)))
    elapsed = time.perf_counter() - start
    taken = [c for batch in results for c in batch]
    ok = len(taken) == len(set(taken)) == conversations
    print(
        f"claim:    {conversations / elapsed:8.0f} /s  ({agents} agents, 2 pools; "
        f"{'every conversation claimed exactly once' if ok else 'MISMATCH'})"
    )

    broker = RedisStreamEventBroker(url, stream="bench:events")
    await broker.connect()
    events = conversations * 5
    start = time.perf_counter()
    for i in range(events):
        broker.publish({"event": "user", "sender_id": f"web-{i % 100}", "text": "停电了"})
        if i % 500 == 0:
            await asyncio.sleep(0)
    await broker.flush(timeout=120)
    elapsed = time.perf_counter() - start
    print(f"broker:   {events / elapsed:8.0f} events/s into the stream ({events} events)")
    await broker.close()
    await one.close()
    await two.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed; run scripts/setup.sh")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            ["redis-server", str(ROOT / "redis.conf"), "--port", str(port), "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            asyncio.run(bench(f"redis://127.0.0.1:{port}/0", args.conversations, args.agents))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
