"""The fleet under test: started with scripts/fleet.sh on free ports (its own KEFU_RUN), or
an already running one (--attach). Knows each process's current pid and kills one."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALWAYS_OPEN = ROOT / "tests" / "handoff" / "data" / "always_open.yml"
REPLICAS = 2
# What the chaos run needs of the fleet's settings, and why (see docs in chaos.py):
CHAOS_SETTINGS = {
    # A crashed process's inbox turns and outbox entries are taken over this soon.
    "SMS_RECLAIM_IDLE_S": "5",
    # A Rasa killed mid-turn holds its conversation's lock this long.
    "TICKET_LOCK_LIFETIME": "15",
    # The desks look for missed deadlines this often (the SLA check after the kills).
    "KEFU_SLA_CHECK_INTERVAL_S": "2",
    # Agents around the clock: handoffs must not depend on the time of day.
    "KEFU_BUSINESS_HOURS_FILE": str(ALWAYS_OPEN),
    "SMS_QUIET_HOURS": "off",
    # Paced (as in production) but fast enough; a burst keeps the outbox busy ~2 s.
    "SMS_RATE_PER_SEC": "50",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_run(n: int) -> int:
    """The first of `n` consecutive free ports (fleet.sh numbers replicas upwards)."""
    for _ in range(100):
        first = free_port()
        try:
            for port in range(first + 1, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports")


def http_status(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Fleet:
    url: str  # the public entry (nginx)
    run: Path  # its KEFU_RUN
    redis_url: str
    twilio_token: str  # webhooks are signed with it
    proc: subprocess.Popen[bytes] | None = None  # fleet.sh, when we started it
    settle_s: float = 60.0  # how long crashed work may take to be taken over
    kills: list[tuple[str, int, float]] = field(default_factory=list)  # name, pid, at

    def pid(self, name: str) -> int:
        return int((self.run / "fleet" / f"{name}.pid").read_text())

    def names(self) -> list[str]:
        return sorted(p.stem for p in (self.run / "fleet").glob("*.pid"))

    def log(self, name: str) -> Path:
        return self.run / "fleet" / "logs" / f"{name}.log"

    def port_of(self, name: str) -> int:
        """A Rasa replica's, a desk's or an action server's own port (from nginx.conf)."""
        kind, n = name.rsplit("-", 1)
        upstream = {"rasa": "kefu_rasa", "desk": "kefu_desk", "actions": "kefu_actions"}[kind]
        conf = (self.run / "fleet" / "nginx.conf").read_text()
        block = conf.split(f"upstream {upstream} {{", 1)[1].split("}", 1)[0]
        ports = re.findall(r"server 127\.0\.0\.1:(\d+)", block)
        return int(ports[int(n) - 1])

    def upstream_ports(self) -> set[int]:
        """The ports nginx's workers hold established connections to (as
        tests/integration/test_fleet.py finds the replica holding a websocket)."""
        master = self.pid("nginx")
        inodes: set[str] = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != master:
                    continue
                for fd in (stat.parent / "fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED, nginx's
                    ports.add(int(fields[2].rsplit(":", 1)[1], 16))
        return ports

    def serving_rasa(self) -> str:
        """The Rasa replica holding the most web sockets right now (nginx hashes by client
        address: every socket from 127.0.0.1 goes to the same one)."""
        held = self.upstream_ports()
        for name in (f"rasa-{i + 1}" for i in range(REPLICAS)):
            if self.port_of(name) in held:
                return name
        return "rasa-1"

    def kill(self, name: str) -> int:
        """SIGKILLs `name`'s current process (a crash: no shutdown hook runs)."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        self.kills.append((name, pid, time.time()))
        return pid

    def restarted(self, name: str, old_pid: int) -> bool:
        try:
            pid = self.pid(name)
        except (OSError, ValueError):
            return False
        return pid != old_pid and alive(pid)

    def ready(self, name: str) -> bool:
        """The process answers its health check (Rasa: its model is loaded)."""
        if name == "redis":
            return self.restarted("redis", -1)
        if name == "nginx":
            return http_status(self.url + "/") == 200
        path = {"rasa": "/", "desk": "/healthz", "actions": "/health"}[name.split("-")[0]]
        return http_status(f"http://127.0.0.1:{self.port_of(name)}{path}") == 200

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)  # what Ctrl-C does: fleet.sh stops everything
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def start(run: Path, timeout: float = 600) -> Fleet:
    """scripts/fleet.sh --replicas 2 --no-train on free ports with its own run directory."""
    run.mkdir(parents=True, exist_ok=True)
    rasa, actions, desk = free_run(REPLICAS), free_run(REPLICAS), free_run(REPLICAS)
    public, actions_lb, redis_port = free_port(), free_port(), free_port()
    token = secrets.token_hex(16)
    # Nothing of the caller's Kefu configuration leaks in (as tests/integration/test_fleet.py).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "RASA_", "KEFU_", "DESK_", "ACTION", "SMS_", "TWILIO_"))
    }
    env.update(
        KEFU_RUN=str(run),
        KEFU_LOCAL_REDIS_PORT=str(redis_port),
        FLEET_PORT=str(public),
        RASA_PORT=str(rasa),
        ACTIONS_PORT=str(actions_lb),
        FLEET_ACTIONS_PORT=str(actions),
        FLEET_DESK_PORT=str(desk),
        TWILIO_AUTH_TOKEN=token,
        **CHAOS_SETTINGS,
    )
    out = run / "fleet.out"
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "fleet.sh"), "--replicas", str(REPLICAS), "--no-train"],
        cwd=ROOT,
        env=env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while "fleet ready" not in out.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            raise RuntimeError(f"the fleet did not start; see {out} and {run}/fleet/logs/")
        time.sleep(0.5)
    password = (run / "redis_password").read_text().strip()
    return Fleet(
        f"http://127.0.0.1:{public}",
        run,
        f"redis://:{password}@127.0.0.1:{redis_port}/0",
        token,
        proc,
        settle_s=60.0,
    )


def attach(run: Path, url: str, twilio_token: str | None, settle_s: float) -> Fleet:
    """A fleet someone else started (e.g. tests/integration/test_fleet.py's fixture)."""
    password = (run / "redis_password").read_text().strip()
    cmdline = Path(f"/proc/{int((run / 'fleet' / 'redis.pid').read_text())}/cmdline")
    found = re.search(r":(\d+)", cmdline.read_text().replace("\0", " "))
    if found is None:
        raise RuntimeError("cannot tell the fleet's Redis port from its process")
    token = twilio_token or (run / "sms_local_token").read_text().strip()
    redis_url = f"redis://:{password}@127.0.0.1:{found.group(1)}/0"
    return Fleet(url.rstrip("/"), run, redis_url, token, None, settle_s=settle_s)
