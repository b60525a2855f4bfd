"""SMS channel benchmark: Kefu's SMS path versus Rasa's stock Twilio channel, same run.

Starts its own Redis (the project's durable redis.conf), action server, a Prism mock of
Twilio's API (for the stock channel's outbound calls), a desk (Kefu's webhook,
/webhooks/sms/webhook) and ONE `rasa run` with both input channels (bot.sms.channel.SmsInput
consuming the inbox, stock `twilio` at /webhooks/twilio/), then for each channel sends 200
signed webhooks from 20 concurrent senders (10 each, in sequence) and reports:

- acknowledgement latency p50/p99/max, while the bot is busy with the earlier turns
  (Twilio gives up on a webhook after 15 s);
- end-to-end SMS turns per second: from the first webhook to the 200th reply in Kefu's
  outbox; for the stock channel, to the last webhook answered (it answers only after the
  turn and its blocking Twilio send).

Usage: .venv/bin/python benchmarks/bench_sms.py [--messages 200] [--senders 20]
Needs models/latest.tar.gz (scripts/train.sh) and `npm ci` (Prism). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import redis.asyncio as aioredis
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.support import (  # noqa: E402
    ACCOUNT_SID,
    MODEL,
    ROOT,
    Services,
    free_port,
    inbound,
    percentile,
    wait_http,
    wait_log,
)
from bot.sms import outbox  # noqa: E402

PRISM = ROOT / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"
TOKEN = "bench-auth-token-0123456789abcdef"
TWILIO_TIMEOUT_S = 15.0
QUESTIONS = [
    "电费怎么交",
    "营业厅几点开门",
    "阶梯电价是什么意思",
    "峰谷电价怎么算",
    "How do I pay my electricity bill?",
    "What are your business hours?",
    "怎么申请电子发票",
    "电表走得太快了",
    "What is tiered pricing?",
    "你们的客服电话是多少",
]

# Makes the stock channel's blocking twilio client call Prism instead of api.twilio.com;
# the channel's code is untouched.
SITECUSTOMIZE = """
import os
base = os.environ.get("BENCH_TWILIO_API_BASE")
if base:
    from twilio.http import http_client as _h
    _orig = _h.TwilioHttpClient.request
    def _request(self, method, url, *args, **kwargs):
        if url.startswith("https://api.twilio.com"):
            url = base + url[len("https://api.twilio.com"):]
        return _orig(self, method, url, *args, **kwargs)
    _h.TwilioHttpClient.request = _request
"""


async def load(
    url: str, label: str, messages: int, senders: int, phone_base: int
) -> tuple[list[float], float, float, int]:
    """Sends `messages` signed webhooks from `senders` concurrent senders.
    Returns (latencies, start, end of last response, non-2xx count)."""
    validator = RequestValidator(TOKEN)
    latencies: list[float] = []
    errors = 0
    per_sender = messages // senders

    async def sender(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal errors
        phone = f"+86139{phone_base + index:08d}"
        for n in range(per_sender):
            sid = "SM" + os.urandom(16).hex()
            params = inbound(QUESTIONS[(index + n) % len(QUESTIONS)], phone, sid)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, params),
            }
            began = time.perf_counter()
            try:
                async with session.post(url, data=urlencode(params), headers=headers) as response:
                    await response.read()
                    if response.status >= 300:
                        errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                errors += 1
            latencies.append(time.perf_counter() - began)

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(sender(session, i) for i in range(senders)))
        end = time.perf_counter()
    print(f"  {label}: {len(latencies)} webhooks sent in {end - start:.1f}s", flush=True)
    return latencies, start, end, errors


async def wait_replies(redis: aioredis.Redis, count: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        ids = await redis.zrange(outbox.RECENT, 0, -1)
        replies = 0
        for message_id in ids:
            if await redis.hget(outbox.msg_key(message_id), "part") == "1":
                replies += 1
        if replies >= count:
            return time.perf_counter()
        await asyncio.sleep(0.2)
    raise TimeoutError(f"only {replies} of {count} replies reached the outbox")


def report(label: str, latencies: list[float], seconds: float, turns: int, errors: int) -> None:
    over = sum(1 for lat in latencies if lat >= TWILIO_TIMEOUT_S)
    print(
        f"{label:<34} ack p50 {statistics.median(latencies) * 1000:8.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:8.1f} ms   max {max(latencies) * 1000:8.1f} ms   "
        f"≥15s {over:3d}   errors {errors:3d}   e2e {turns / seconds:5.2f} turns/s "
        f"({turns} in {seconds:.1f}s)"
    )


async def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="kefu-bench-sms-"))
    services = Services(work)
    try:
        redis_port, actions_port, rasa_port, prism_port, desk_port = (free_port() for _ in range(5))
        services.spawn(
            [
                "redis-server",
                str(ROOT / "redis.conf"),
                "--port",
                str(redis_port),
                "--dir",
                str(work),
            ],
            dict(os.environ),
            "redis",
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        site = work / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        credentials = work / "credentials.yml"
        credentials.write_text(
            "bot.sms.channel.SmsInput:\n"
            f"twilio:\n  account_sid: {ACCOUNT_SID}\n  auth_token: {TOKEN}\n"
            '  twilio_number: "+14155550100"\n'
        )
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_port),
            "REDIS_DB": "0",
            "REDIS_PASSWORD": "",
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
            "ACTIONS_PORT": str(actions_port),
            # endpoints.yml sends it to the action server, which refuses calls without it.
            "KEFU_ACTION_TOKEN": "bench" + "0" * 59,
            "KEFU_TRACKER_RETENTION_S": "86400",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "BENCH_TWILIO_API_BASE": f"http://127.0.0.1:{prism_port}",
            "PYTHONPATH": f"{site}:{ROOT}",
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
            "SMS_PUBLIC_URL": "",
            "DESK_PORT": str(desk_port),
            "RASA_URL": f"http://127.0.0.1:{rasa_port}",
            "RASA_TOKEN": "bench" + "1" * 59,
            "DESK_API_TOKEN": "bench" + "2" * 59,
            "KEFU_WEB_SESSION_SECRET": "bench" + "3" * 59,
        }
        bin_dir = Path(sys.executable).parent
        prism_proc, prism_log = services.spawn(
            [str(PRISM), "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(prism_port)],
            {**os.environ, "NO_COLOR": "1"},
            "prism",
        )
        actions_proc, _ = services.spawn([sys.executable, "-m", "actions.server"], env, "actions")
        desk_proc, _ = services.spawn([sys.executable, "-m", "bot.desk"], env, "desk")
        rasa_proc, _ = services.spawn(
            [
                str(bin_dir / "rasa"),
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                str(credentials),
                "--port",
                str(rasa_port),
            ],
            env,
            "rasa",
        )
        print(f"starting services (logs in {work}) ...", flush=True)
        wait_http(f"http://127.0.0.1:{actions_port}/health", 120, actions_proc, "action server")
        wait_log(prism_log, "Prism is listening", 120, prism_proc, "prism")
        wait_http(f"http://127.0.0.1:{desk_port}/healthz", 120, desk_proc, "desk")
        wait_http(f"http://127.0.0.1:{rasa_port}/webhooks/sms/", 300, rasa_proc, "rasa")
        base = f"http://127.0.0.1:{rasa_port}"
        kefu = f"http://127.0.0.1:{desk_port}/webhooks/sms/webhook"
        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        # Warm up both paths (first turns load lazily).
        await load(kefu, "warm-up (kefu)", 4, 2, 90_000_000)
        await wait_replies(redis, 4, 120)
        await load(f"{base}/webhooks/twilio/webhook", "warm-up (stock)", 4, 2, 90_000_100)
        await redis.delete(outbox.RECENT)

        n, senders = args.messages, args.senders
        print(
            f"load: {n} signed webhooks from {senders} concurrent senders per channel", flush=True
        )
        lat_k, start_k, _end_k, err_k = await load(
            kefu, "kefu desk + SmsInput", n, senders, 10_000_000
        )
        done_k = await wait_replies(redis, n, 600)
        lat_s, start_s, end_s, err_s = await load(
            f"{base}/webhooks/twilio/webhook", "stock twilio", n, senders, 20_000_000
        )
        await redis.close()
        print()
        print(f"Rasa 3.6.21, model {MODEL.name}, {os.cpu_count()} cores, same `rasa run` process")
        report("kefu (desk acks, Rasa answers)", lat_k, done_k - start_k, n, err_k)
        report("stock rasa twilio (holds webhook)", lat_s, end_s - start_s, n, err_s)
    finally:
        services.stop()
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"no model at {MODEL}: run scripts/train.sh first")
    if not PRISM.exists() or not SPEC.exists():
        sys.exit("Prism or the Twilio spec is missing: run npm ci")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
