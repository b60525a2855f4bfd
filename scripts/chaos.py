#!/usr/bin/env python3
"""Fault injection against the fleet (issue 13): customers keep writing while processes die.

Starts scripts/fleet.sh --replicas 2 (or reuses a running fleet with --attach), runs a load
of web (socket.io) and SMS (signed Twilio webhooks) customers -- FAQ questions, complaints
carried through to the ticket number, handoffs an agent answers in the console -- and,
while it runs, SIGKILLs in turn one Rasa replica (the one holding the web sockets), one
action server, one desk (right after a burst of outage notices, so its outbox workers are
sending) and Redis (restarted by the fleet's supervisor on the same AOF data). A customer
texts STOP mid-run. Then it counts, from Redis and from what the customers saw:
- every SMS answered exactly once (the sink holds one reply:<MessageSid> per message);
- every web message answered (after a drop the visitor reconnects and sends again);
- every outbox message delivered to the sink exactly once (no outbox id twice);
- every completed complaint has one ticket and the customer has its number;
- no handoff left waiting or with the agent; the agent's reply arrived once;
- nothing but answers reached the number that texted STOP;
- the SLA monitor still escalates (a ticket filed with deadlines long past).
Then the Twilio variants (scripts/chaoslib/twilio_variants.py): two desks sending through
Prism's mock of Twilio's API, answering 429/500, 401 (a rotated token) and 21610 (STOP).

Prints the figures, every loss or duplicate by its id, and a summary; exits 1 when
anything was lost, duplicated, stuck or failed.

  .venv/bin/python scripts/chaos.py                  # 1000 messages (about 10 minutes)
  .venv/bin/python scripts/chaos.py --small          # about 100 messages (CI)
  .venv/bin/python scripts/chaos.py --attach RUN_DIR --url http://127.0.0.1:PORT \\
      [--twilio-token TOKEN] [--settle 150]          # a fleet someone else started
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.sms import outbox, sink  # noqa: E402
from scripts.chaoslib import checks, scenarios, twilio_variants  # noqa: E402
from scripts.chaoslib import fleet as fleets  # noqa: E402
from scripts.chaoslib.agent import Agent  # noqa: E402
from scripts.chaoslib.customers import SinkWatcher  # noqa: E402
from scripts.chaoslib.fleet import Fleet  # noqa: E402
from scripts.chaoslib.scenarios import Load  # noqa: E402

# When each kill happens: the share of the planned messages sent by then.
KILLS = ((0.15, "rasa"), (0.35, "actions"), (0.55, "desk"), (0.75, "redis"))
BURST = 150  # outage notices queued just before the desk is killed


async def until(check: Callable[[], bool], every: float = 0.2) -> None:
    """Polls `check`: the load's progress lives in plain counters, not events."""
    while True:
        if check():
            return
        await asyncio.sleep(every)


def log(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def held_by(redis_url: str, pid: int) -> int:
    """Outbox entries the process `pid` had read and not finished (its consumers')."""
    redis = db.connect(redis_url)
    try:
        consumers = await redis.xinfo_consumers(outbox.STREAM, outbox.GROUP)
    finally:
        await redis.close()
    return sum(int(c["pending"]) for c in consumers if f"-{pid}-" in str(c["name"]))


async def watch_restart(
    fleet: Fleet, name: str, pid: int, at: float, out: dict[str, object]
) -> None:
    await until(lambda: fleet.restarted(name, pid))
    out["restarted after s"] = round(time.time() - at, 1)
    for _ in range(1500):
        if await asyncio.to_thread(fleet.ready, name):
            out["serving again after s"] = round(time.time() - at, 1)
            return
        await asyncio.sleep(0.2)


async def inject(load: Load, done: asyncio.Event, faults: list[dict[str, object]]) -> None:
    """The kills, in turn, as the load reaches each share of its messages."""
    fleet = load.fleet
    watchers = []
    for share, kind in KILLS:
        await until(lambda: load.sent >= share * load.planned or done.is_set())  # noqa: B023
        fault: dict[str, object] = {"kind": kind, "at message": load.sent}
        if kind == "rasa":
            name = fleet.serving_rasa()
        elif kind == "actions":
            name = "actions-2"
        elif kind == "desk":
            phones = [load.phone("50") for _ in range(BURST)]
            await scenarios.notices(load, phones, "停电通知：今晚22点至次日6点线路检修。")
            await asyncio.sleep(0.8)  # its workers are sending the burst now
            name = "desk-1"
        else:
            name = "redis"
        pid = fleet.pid(name)
        if kind == "desk":
            fault["outbox entries it held"] = await held_by(fleet.redis_url, pid)
        fleet.kill(name)
        at = time.time()
        fault |= {"process": name, "pid": pid}
        faults.append(fault)
        log(f"SIGKILL {name} (pid {pid}) at message {load.sent}")
        watchers.append(asyncio.create_task(watch_restart(fleet, name, pid, at, fault)))
        if kind == "redis":
            await asyncio.sleep(3)
    await asyncio.gather(*watchers)


async def run_load(load: Load, concurrency: int, done: asyncio.Event) -> None:
    gate = asyncio.Semaphore(concurrency)
    durations = load.durations
    stop_at = int(load.planned * 0.3)

    async def one(name: str) -> None:
        async with gate:
            began = time.monotonic()
            try:
                await scenarios.SCENARIOS[name](load)
            except Exception as exc:  # noqa: BLE001 - a customer script broke: report it
                load.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            durations.append((round(time.monotonic() - began, 1), name))

    async def opt_out_mid_run() -> None:
        await until(lambda: load.sent >= stop_at or done.is_set())
        try:
            await scenarios.opt_out(load)
        except Exception as exc:  # noqa: BLE001
            load.errors.append(f"opt_out: {type(exc).__name__}: {exc}")

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            busy = sum(not t.done() for t in tasks)
            log(f"{load.sent} messages sent, {busy} customers still talking")

    tasks = [asyncio.create_task(one(name)) for name in scenarios.plan(load.planned)]
    stopper = asyncio.create_task(opt_out_mid_run())
    reporter = asyncio.create_task(progress())
    await asyncio.gather(*tasks)
    done.set()
    await stopper
    reporter.cancel()


async def signed_base(fleet: Fleet, http: aiohttp.ClientSession) -> str:
    """The public URL the desks check Twilio's signatures against (SMS_PUBLIC_URL):
    fleet.sh's http://localhost:PORT, else the URL as given."""
    from twilio.request_validator import RequestValidator

    for base in (fleet.url.replace("127.0.0.1", "localhost"), fleet.url):
        params = {"From": "+8613800138000", "Body": "probe"}  # no MessageSid: a 400 if signed
        signature = RequestValidator(fleet.twilio_token).compute_signature(
            base + "/webhooks/sms/webhook", params
        )
        async with http.post(
            fleet.url + "/webhooks/sms/webhook",
            data=params,
            headers={"X-Twilio-Signature": signature},
        ) as response:
            if response.status != 403:
                return base
    raise RuntimeError("the desks refuse our webhook signatures: pass --twilio-token")


async def chaos(fleet: Fleet, args: argparse.Namespace) -> checks.Report:
    redis = db.connect(fleet.redis_url)
    since = time.time()
    newest = await redis.xrevrange(sink.STREAM, count=1)
    start_id = newest[0][0] if newest else "0-0"
    watcher = SinkWatcher(fleet.redis_url, start_id)
    watching = asyncio.create_task(watcher.run())
    agent = Agent(fleet.url, fleet.redis_url)
    await agent.start()
    timeout = aiohttp.ClientTimeout(total=30)
    faults: list[dict[str, object]] = []
    async with aiohttp.ClientSession(timeout=timeout) as http:
        load = Load(
            fleet,
            watcher,
            agent,
            http,
            await signed_base(fleet, http),
            f"{random.randrange(1000):03d}",
            args.messages,
        )
        done = asyncio.Event()
        log(f"load: about {args.messages} messages, {args.concurrency} customers at a time")
        started = time.monotonic()
        injecting = asyncio.create_task(inject(load, done, faults))
        await run_load(load, args.concurrency, done)
        load_s = time.monotonic() - started
        log(f"load done: {load.sent} messages in {load_s:.0f} s; waiting for the kills' restarts")
        await injecting
        log("settling: inbox, outbox and handoff queue drain")
        settle_start = time.monotonic()
        while time.monotonic() - settle_start < fleet.settle_s:
            try:
                if await checks.settled(redis, load, since):
                    break
            except Exception:  # noqa: BLE001 - Redis still loading
                pass
            await asyncio.sleep(1)
        settle_s = time.monotonic() - settle_start
        await asyncio.sleep(2)  # the sink watcher reads the last deliveries
        number, escalated_s = await checks.sla_escalates(redis, args.sla_timeout)
        report = await checks.account(redis, load, start_id, since)
    report.figures = {
        "messages sent": load.sent,
        "load duration s": round(load_s, 1),
        "turns per s": round(load.sent / load_s, 2) if load_s else 0,
        "settle s": round(settle_s, 1),
        **report.figures,
        "slowest customers (s, script)": sorted(load.durations, reverse=True)[:5],
        "SLA: overdue ticket escalated after s": escalated_s and round(escalated_s, 1),
        "faults": faults,
    }
    if escalated_s is None:
        report.other.append(f"SLA: overdue ticket {number} was not escalated")
    report.other += [f"customer script error: {e}" for e in load.errors]
    watching.cancel()
    await agent.close()
    await watcher.redis.close()
    await redis.close()
    return report


def print_report(title: str, report: checks.Report) -> None:
    print(f"\n===== {title} =====")
    for name, value in report.figures.items():
        if name == "faults":
            for fault in value:  # type: ignore[attr-defined]
                print(f"  fault: {json.dumps(fault, ensure_ascii=False)}")
        else:
            print(f"  {name}: {value}")
    for label, items in (("LOST", report.lost), ("DUPLICATE", report.duplicated)):
        for item in items:
            print(f"  {label}: {item}")
    for item in report.other:
        print(f"  PROBLEM: {item}")


def summary(args: argparse.Namespace, reports: dict[str, checks.Report]) -> str:
    main = reports["fleet"]
    f = main.figures
    kills = ", ".join(
        f"{x['process']} (back in {x.get('serving again after s', '?')} s)"
        for x in f.get("faults", [])  # type: ignore[union-attr]
    )
    lines = [
        f"Chaos run ({'small' if args.small else 'full'}): {f['messages sent']} customer "
        f"messages ({f['sms messages']} SMS, {f['web messages']} web) through a 2-replica "
        f"fleet in {f['load duration s']} s, SIGKILLing {kills}.",
        f"- SMS answered exactly once: {f['sms answered exactly once']}/{f['sms messages']}; "
        f"web answered: {f['web answered']}/{f['web messages']} "
        f"({f['web sent again after a drop/refusal']} sent again after a drop).",
        f"- Outbox: {f['outbox messages']} messages {f['outbox by status']}, "
        f"{f['sink deliveries']} sink deliveries, duplicates: "
        f"{sum('outbox' in d for d in main.duplicated)}.",
        f"- Complaints: {f['complaints with a ticket number']}/{f['complaints']} reached a "
        f"ticket number, one ticket each; handoffs: "
        f"{f['handoffs answered by the agent and handed back']}/{f['handoffs']} answered by the "
        f"agent and handed back, {f['handoffs waiting at the end']} waiting.",
        f"- STOP mid-run: {f['non-reply SMS after STOP']} non-reply SMS after it; SLA monitor "
        f"escalated an overdue ticket after {f['SLA: overdue ticket escalated after s']} s.",
    ]
    for name, report in reports.items():
        if name != "fleet":
            lines.append(f"- Twilio {name}: {report.figures.get('summary', '')}")
    problems = sum(len(r.lost) + len(r.duplicated) + len(r.other) for r in reports.values())
    lines.append(
        "Result: nothing lost or duplicated."
        if problems == 0
        else f"Result: {problems} problem(s), listed above."
    )
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--small", action="store_true", help="about 100 messages (CI)")
    parser.add_argument("--concurrency", type=int, default=12, help="customers at a time")
    parser.add_argument("--attach", type=Path, metavar="RUN_DIR", help="a running fleet's KEFU_RUN")
    parser.add_argument("--url", help="with --attach: its public URL")
    parser.add_argument("--twilio-token", help="with --attach: the webhook signing token")
    parser.add_argument(
        "--settle",
        type=float,
        default=150,
        help="with --attach: the longest wait for "
        "crashed work to be taken over (allow SMS_RECLAIM_IDLE_S and TICKET_LOCK_LIFETIME)",
    )
    parser.add_argument("--sla-timeout", type=float, default=45)
    parser.add_argument("--no-twilio", action="store_true", help="skip the Twilio variants")
    parser.add_argument("--twilio-messages", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    args = parser.parse_args()
    if args.small:
        args.messages, args.concurrency, args.twilio_messages = 100, 8, 20
    if bool(args.attach) != bool(args.url):
        parser.error("--attach and --url go together")
    return args


def main() -> int:
    args = parse()
    run = Path(tempfile.mkdtemp(prefix="kefu-chaos-"))
    if args.attach:
        fleet = fleets.attach(args.attach, args.url, args.twilio_token, args.settle)
        log(f"attached to the fleet at {fleet.url} ({args.attach})")
    else:
        log(f"starting the fleet (run directory {run})")
        started = time.monotonic()
        fleet = fleets.start(run / "kefu-run")
        log(f"fleet ready in {time.monotonic() - started:.0f} s at {fleet.url}")
    reports: dict[str, checks.Report] = {}
    try:
        reports["fleet"] = asyncio.run(chaos(fleet, args))
        if not args.no_twilio:
            try:
                reports |= asyncio.run(twilio_variants.run(fleet, run, args.twilio_messages))
            except Exception as exc:  # noqa: BLE001 - report it with the figures we have
                broken = checks.Report()
                broken.other.append(f"the Twilio variants broke: {type(exc).__name__}: {exc}")
                reports["variants"] = broken
    finally:
        fleet.stop()
        if not args.keep and not args.attach and all(r.ok for r in reports.values()):
            shutil.rmtree(run, ignore_errors=True)
    for name, report in reports.items():
        print_report(name, report)
    print("\n===== summary =====")
    print(summary(args, reports))
    if not all(r.ok for r in reports.values()):
        print(f"(logs kept in {run})")
    return 0 if all(r.ok for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
