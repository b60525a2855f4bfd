"""What the benchmarks share: free ports, processes in their own session, readiness waits,
percentiles, and Twilio-shaped inbound forms. Loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from bot.desk.simulator import inbound_form

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "latest.tar.gz"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_NUMBER = "+14155550100"
# What the turn benchmarks send: Chinese and English; FAQ, chit-chat, and planned-outage
# questions naming an area (these run a custom action that reads Redis). No forms: each
# message is one turn with the same answer whatever came before.
TURN_MESSAGES = [
    "电费怎么交",
    "How do I pay my electricity bill?",
    "营业厅几点开门",
    "What are your business hours?",
    "阶梯电价是什么意思",
    "What is tiered pricing?",
    "朝阳区最近有停电计划吗",
    "Any planned outages in Haidian this week?",
    "峰谷电价怎么算",
    "怎么申请电子发票",
    "谢谢",
    "thanks",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def wait_log(
    log: Path, text: str, timeout: float, proc: subprocess.Popen[bytes], what: str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s")


class Services:
    """Processes started for one benchmark, each in its own session (stopped as a group)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, args: list[str], env: dict[str, str], name: str
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.work / f"{name}.log"
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc, log

    def stop(self, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
        procs = [proc] if proc is not None else self.procs
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        if proc is not None:
            self.procs.remove(proc)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    """Resident memory of one process, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def inbound(body: str, phone: str, sid: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS, with its blank fields (the phone
    simulator's builder: one way to make it)."""
    return inbound_form(phone, body, sid, TWILIO_NUMBER)
