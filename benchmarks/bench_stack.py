"""Full-stack benchmark: Kefu's fleet with 1, 2 and 3 replicas against stock `rasa run`,
the same trained model, on this machine, in one run.

Baseline: one stock `rasa run` serving models/latest.tar.gz through Rasa's REST channel
with the default in-memory tracker and lock stores, and one action server (ours, so the
same actions run).
Kefu: `scripts/fleet.sh --replicas N --no-train` (nginx in front, N Rasa servers, N action
servers, N desks, one Redis with AOF `appendfsync always`): the Redis tracker and lock
stores, the event broker, the outbox; customers come in through nginx's public port.

For each setup, two phases:
1. throughput: `--conversations` customers (default 10) at once, each sending `--turns`
   messages one after another (Chinese and English; FAQ, chit-chat and outage questions
   that call the action server), waiting for the whole answer each time: web chat over
   socket.io for Kefu, REST for the baseline (stock Rasa has no durable web channel);
2. saturation (Kefu only): the same web load plus `--sms` signed SMS webhooks from
   `--sms-senders` senders at once, sent to nginx like Twilio would, from a process of
   their own (as from another machine), after one warm-up SMS per sender: acknowledgement
   latency, and how long until every SMS had its reply in the outbox.
Prints one table: turns/s, turn latency p50/p95/p99, SMS acknowledgement p50/p99, RSS.

Usage: .venv/bin/python benchmarks/bench_stack.py [--replicas 1,2,3] [--conversations 10]
       [--turns 20] [--sms 200] [--sms-senders 20] [--no-baseline] [--keep-logs]
Needs models/latest.tar.gz (scripts/train.sh), redis-server and nginx (scripts/setup.sh
--fleet). Loopback only; run it on an otherwise idle machine and compare figures of the
same run only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import socketio
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.support import (  # noqa: E402
    MODEL,
    ROOT,
    TURN_MESSAGES,
    Services,
    free_port,
    inbound,
    percentile,
    rss_mb,
    wait_http,
)

TOKEN = "bench-auth-token-0123456789abcdef"
ACTION_TOKEN = "bench" + "0" * 59
MESSAGES = TURN_MESSAGES
SETTLE_S = 1.5  # after the answer's first message, how long the warm-up waits for more


@dataclass
class Result:
    label: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    acks: list[float] = field(default_factory=list)
    sms_errors: int = 0
    sms_answered_s: float | None = None
    rss: list[float] = field(default_factory=list)

    def row(self) -> str:
        lat = self.latencies
        turns = f"{len(lat) / self.seconds:6.2f}" if self.seconds else "   n/a"
        cells = [
            f"{self.label:<26}",
            turns,
            *(f"{percentile(lat, q) * 1000:7.0f}" if lat else "    n/a" for q in (0.5, 0.95, 0.99)),
            f"{self.errors:5d}",
        ]
        if self.acks:
            cells += [
                f"{statistics.median(self.acks) * 1000:7.1f}",
                f"{percentile(self.acks, 0.99) * 1000:7.1f}",
                f"{self.sms_errors:5d}",
                f"{self.sms_answered_s:7.1f}" if self.sms_answered_s is not None else "      -",
            ]
        else:
            cells += ["      -", "      -", "    -", "      -"]
        rss = " + ".join(f"{r:.0f}" for r in self.rss) if self.rss else "-"
        return "  ".join(cells) + f"  {rss}"


HEADER = (
    f"{'setup':<26}  {'turns/s':>6}  {'p50 ms':>7}  {'p95 ms':>7}  {'p99 ms':>7}  {'errs':>5}  "
    f"{'ack p50':>7}  {'ack p99':>7}  {'errs':>5}  {'SMS s':>7}  Rasa RSS MB"
)


# ---------------------------------------------------------------- web customers


class RestCustomer:
    """Rasa's REST channel: the answer is the HTTP response."""

    def __init__(self, session: aiohttp.ClientSession, url: str, sender: str) -> None:
        self.session, self.url, self.sender = session, url, sender

    async def connect(self) -> None:
        return None

    async def ask(self, text: str, _expected: int) -> None:
        async with self.session.post(self.url, json={"sender": self.sender, "message": text}) as r:
            if r.status != 200 or not await r.json():
                raise RuntimeError(f"REST answered {r.status}, no message, to {text!r}")

    async def close(self) -> None:
        return None


class SocketCustomer:
    """The widget's protocol: session_request, then user_uttered / bot_uttered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.confirmed: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.client.on("bot_uttered", self.replies.put_nowait)
        self.client.on("session_confirm", self.confirmed.put_nowait)
        self.client.on("kefu_error", self.replies.put_nowait)

    async def connect(self) -> None:
        await self.client.connect(self.url, transports=["websocket"], socketio_path="/socket.io")
        await self.client.emit("session_request", {})
        await asyncio.wait_for(self.confirmed.get(), 30)

    async def ask(self, text: str, expected: int) -> None:
        await self.client.emit("user_uttered", {"message": text})
        for _ in range(expected):
            reply = await asyncio.wait_for(self.replies.get(), 60)
            if "code" in reply:  # kefu_error
                raise RuntimeError(f"refused: {reply}")

    async def count_replies(self, text: str) -> int:
        """Warm-up: how many messages answer `text`."""
        await self.client.emit("user_uttered", {"message": text})
        await asyncio.wait_for(self.replies.get(), 120)
        count = 1
        while True:
            try:
                await asyncio.wait_for(self.replies.get(), SETTLE_S)
                count += 1
            except asyncio.TimeoutError:
                return count

    async def close(self) -> None:
        await self.client.disconnect()


async def web_load(
    customers: list[RestCustomer] | list[SocketCustomer],
    turns: int,
    expected: dict[str, int],
    result: Result,
) -> None:
    await asyncio.gather(*(c.connect() for c in customers))

    async def converse(index: int, customer: RestCustomer | SocketCustomer) -> None:
        for n in range(turns):
            text = MESSAGES[(index + n) % len(MESSAGES)]
            began = time.perf_counter()
            try:
                await customer.ask(text, expected[text])
                result.latencies.append(time.perf_counter() - began)
            except (RuntimeError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
                result.errors += 1
                print(f"    turn failed: {exc!r}", flush=True)

    start = time.perf_counter()
    await asyncio.gather(*(converse(i, c) for i, c in enumerate(customers)))
    result.seconds = time.perf_counter() - start
    await asyncio.gather(*(c.close() for c in customers))


# ---------------------------------------------------------------- SMS


async def sms_load(
    url: str, signed_url: str, messages: int, senders: int, phone_base: int, result: Result
) -> None:
    """Signed webhooks as Twilio sends them (over the public `signed_url`) to `url`: each
    sender one after another, all senders at once."""
    validator = RequestValidator(TOKEN)
    per_sender = max(1, messages // senders)

    async def sender(session: aiohttp.ClientSession, index: int) -> None:
        phone = f"+86139{phone_base + index:08d}"
        for n in range(per_sender):
            sid = "SM" + os.urandom(16).hex()
            params = inbound(MESSAGES[(index + n) % len(MESSAGES)], phone, sid)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(signed_url, params),
            }
            began = time.perf_counter()
            try:
                async with session.post(url, data=urlencode(params), headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        result.sms_errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                result.sms_errors += 1
            result.acks.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=senders)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(sender(session, i) for i in range(senders)))


def _sms_load_process(
    url: str, signed_url: str, messages: int, senders: int, phone_base: int
) -> tuple[list[float], int]:
    """sms_load in a process of its own (Twilio is another machine): the web customers'
    event loop in this process would otherwise delay, and inflate, every timed request."""
    result = Result("sms")
    asyncio.run(sms_load(url, signed_url, messages, senders, phone_base, result))
    return result.acks, result.sms_errors


async def wait_sms_answered(redis_url: str, count: int, timeout: float) -> bool:
    """Whether every SMS turn finished (its reply queued in the outbox) within `timeout`."""
    import redis.asyncio as aioredis  # noqa: PLC0415 - only the Kefu phases need it

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            queued = await client.zcard("kefu:sms:queued")
            pending = await client.zcard("kefu:sms:inbox")
            seen = len(await client.keys("kefu:sms:seen:*"))
            if seen >= count and queued == 0 and pending == 0:
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await client.close()


# ---------------------------------------------------------------- setups


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEFU_", "RASA_"))}
    return {
        **env,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "KEFU_ACTION_TOKEN": ACTION_TOKEN,
        # A benchmark client is a machine: the per-customer turn limits would throttle it.
        "KEFU_WEB_CONVERSATION_TURNS_PER_MIN": "10000",
        "KEFU_WEB_SOCKET_TURNS_PER_MIN": "10000",
        "SMS_QUIET_HOURS": "off",
    }


async def baseline(args: argparse.Namespace, work: Path) -> Result:
    services = Services(work)
    result = Result("stock rasa run (REST)")
    try:
        redis_port, actions_port, rasa_port = free_port(), free_port(), free_port()
        services.spawn(
            ["redis-server", "--port", str(redis_port), "--dir", str(work), "--save", ""],
            dict(os.environ),
            "baseline-redis",
        )
        endpoints = work / "baseline-endpoints.yml"
        endpoints.write_text(
            "action_endpoint:\n"
            f"  url: http://127.0.0.1:{actions_port}/webhook\n"
            f"  headers:\n    Authorization: Bearer {ACTION_TOKEN}\n"
        )
        credentials = work / "baseline-credentials.yml"
        credentials.write_text("rest:\n")
        env = {
            **base_env(),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ACTIONS_PORT": str(actions_port),
        }
        actions, _ = services.spawn([sys.executable, "-m", "actions.server"], env, "baseline-act")
        rasa_bin = str(Path(sys.executable).parent / "rasa")
        rasa, _ = services.spawn(
            [
                rasa_bin,
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
                "--interface",
                "127.0.0.1",
                "--port",
                str(rasa_port),
            ],
            env,
            "baseline-rasa",
        )
        print("baseline: starting stock rasa run ...", flush=True)
        wait_http(f"http://127.0.0.1:{actions_port}/health", 120, actions, "action server")
        wait_http(f"http://127.0.0.1:{rasa_port}/", 600, rasa, "rasa")
        url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        connector = aiohttp.TCPConnector(limit=args.conversations)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        ) as session:
            warm = [RestCustomer(session, url, f"warm-{i}") for i in range(2)]
            await web_load(warm, len(MESSAGES), dict.fromkeys(MESSAGES, 1), Result("warm"))
            customers = [
                RestCustomer(session, url, f"bench-{i}") for i in range(args.conversations)
            ]
            await web_load(customers, args.turns, dict.fromkeys(MESSAGES, 1), result)
        result.rss = [rss_mb(rasa.pid)]
    finally:
        services.stop()
    return result


async def fleet(args: argparse.Namespace, work: Path, replicas: int) -> list[Result]:
    services = Services(work)
    run = work / f"fleet-{replicas}"
    run.mkdir()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    signed_base = f"http://localhost:{port}"  # fleet.sh's SMS_PUBLIC_URL: what Twilio signs
    redis_port = free_port()
    env = {
        **base_env(),
        "KEFU_RUN": str(run),
        "KEFU_LOCAL_REDIS_PORT": str(redis_port),
        "FLEET_PORT": str(port),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "FLEET_ACTIONS_PORT": str(free_port()),
        "FLEET_DESK_PORT": str(free_port()),
    }
    # fleet.sh gives replica i the base port + i: check those are free too.
    for key in ("RASA_PORT", "FLEET_ACTIONS_PORT", "FLEET_DESK_PORT"):
        env[key] = str(_free_run(replicas))
    results: list[Result] = []
    try:
        proc, _log = services.spawn(
            [str(ROOT / "scripts" / "fleet.sh"), "--replicas", str(replicas), "--no-train"],
            env,
            f"fleet-{replicas}",
        )
        print(f"kefu: starting the fleet with {replicas} replica(s) ...", flush=True)
        for i in range(replicas):
            wait_http(f"http://127.0.0.1:{int(env['RASA_PORT']) + i}/", 900, proc, f"rasa-{i + 1}")
            wait_http(
                f"http://127.0.0.1:{int(env['FLEET_DESK_PORT']) + i}/healthz", 120, proc, "desk"
            )
        wait_http(f"{public}/", 120, proc, "nginx")
        redis_url = _redis_url(run, redis_port)

        # Warm-up: every replica loads lazily; learn how many messages answer each text.
        warm = SocketCustomer(public)
        await warm.connect()
        expected = {text: await warm.count_replies(text) for text in MESSAGES}
        await warm.close()
        await web_load(
            [SocketCustomer(public) for _ in range(2 * replicas)],
            len(MESSAGES),
            expected,
            Result("warm"),
        )

        throughput = Result(f"kefu fleet x{replicas} (web)")
        customers = [SocketCustomer(public) for _ in range(args.conversations)]
        await web_load(customers, args.turns, expected, throughput)
        results.append(throughput)

        saturated = Result(f"kefu fleet x{replicas} (web+SMS)")
        customers = [SocketCustomer(public) for _ in range(args.conversations)]
        loop = asyncio.get_running_loop()
        sms_url = f"{public}/webhooks/sms/webhook"
        signed_url = f"{signed_base}/webhooks/sms/webhook"
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            # Warm-up, as for the web: one SMS per sender (other numbers), all answered,
            # so the timed webhooks meet a running desk, not its first requests.
            await loop.run_in_executor(
                pool,
                _sms_load_process,
                sms_url,
                signed_url,
                args.sms_senders,
                args.sms_senders,
                10_000_000 * replicas + 5_000_000,
            )
            await wait_sms_answered(redis_url, args.sms_senders, 300)
            sms_start = time.perf_counter()
            _, (saturated.acks, saturated.sms_errors) = await asyncio.gather(
                web_load(customers, args.turns, expected, saturated),
                loop.run_in_executor(
                    pool,
                    _sms_load_process,
                    sms_url,
                    signed_url,
                    args.sms,
                    args.sms_senders,
                    10_000_000 * replicas,
                ),
            )
        if await wait_sms_answered(redis_url, len(saturated.acks), 600):
            saturated.sms_answered_s = time.perf_counter() - sms_start
        results.append(saturated)
        pids = [_pid(run, f"rasa-{i + 1}") for i in range(replicas)]
        for r in results:
            r.rss = [rss_mb(pid) for pid in pids]
    finally:
        services.stop(timeout=60)
    return results


def _free_run(count: int) -> int:
    """A base port with `count` free ports from it."""
    while True:
        base = free_port()
        if base + count < 65535 and all(_is_free(base + i) for i in range(count)):
            return base


def _is_free(port: int) -> bool:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid(run: Path, name: str) -> int:
    return int((run / "fleet" / f"{name}.pid").read_text().strip())


def _redis_url(run: Path, port: int) -> str:
    password = (run / "redis_password").read_text().strip()
    return f"redis://:{password}@127.0.0.1:{port}/0"


async def bench(args: argparse.Namespace) -> None:
    if not MODEL.exists():
        sys.exit("no trained model: run scripts/train.sh")
    work = Path(tempfile.mkdtemp(prefix="kefu-bench-stack-"))
    print(f"logs in {work}", flush=True)
    results: list[Result] = []
    try:
        if not args.no_baseline:
            results.append(await baseline(args, work))
            print(results[-1].row(), flush=True)
        for replicas in args.replicas:
            for r in await fleet(args, work, replicas):
                results.append(r)
                print(r.row(), flush=True)
    finally:
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"model {MODEL.resolve().name}, {os.cpu_count()} cores, load before: "
        f"{os.getloadavg()[0]:.2f}; {args.conversations} conversations x {args.turns} turns; "
        f"SMS: {args.sms} webhooks from {args.sms_senders} senders during the web load"
    )
    print(HEADER)
    for r in results:
        print(r.row())
    base = next((r for r in results if r.label.startswith("stock")), None)
    if base and base.seconds:
        for r in results:
            if r is not base and r.seconds and r.latencies:
                ratio = (len(r.latencies) / r.seconds) / (len(base.latencies) / base.seconds)
                print(f"  {r.label}: {ratio:.2f} x the baseline's turns/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", default="1,2,3", help="fleet sizes to measure, e.g. 1,2")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--turns", type=int, default=20, help="messages per conversation")
    parser.add_argument("--sms", type=int, default=200)
    parser.add_argument("--sms-senders", type=int, default=20)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    args.replicas = [int(n) for n in str(args.replicas).split(",") if n]
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
