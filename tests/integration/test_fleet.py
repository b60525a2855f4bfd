"""scripts/fleet.sh: two replicas of Rasa, the action server and the desk behind one nginx.

The fleet starts once for the module (two Rasa model loads: the expensive part), on free
ports, with its own run directory and Redis. The tests SIGKILL one process of each kind
and check that the customer's conversation goes on on the other replica while the
supervisor restarts the dead one; the last test waits for the restarted Rasa.

For the SMS tests through the fleet: `fleet.url` is the public base URL (Twilio's
webhooks at /webhooks/sms/...), signed with SMS_TEST_TOKEN (`fleet.twilio_token`; the
`post_signed` helper of tests/support/sms.py uses it by default), and `fleet.redis_url`
reaches the fleet's Redis (the local SMS sink).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import (
    DESK_TEST_TOKEN,
    MODEL,
    RASA_TOKEN,
    ROOT,
    SMS_TEST_TOKEN,
    free_port,
    wait_until,
)
from tests.support.desk_process import create_users
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack

REPLICAS = 2
AGENT, PASSWORD = "fleet.agent", "fleet-agent-password-0123"


@dataclass
class Fleet:
    url: str  # the public entry (nginx), as customers, agents and Twilio reach it
    run: Path  # the fleet's KEFU_RUN: secrets, fleet/logs/, fleet/<name>.pid
    ports: dict[str, int]  # "rasa-1", "desk-2", "actions-1", ... -> port on 127.0.0.1
    redis_url: str
    actions_lb: int  # nginx's loopback balancer, Rasa's ACTION_ENDPOINT_URL
    twilio_token: str = SMS_TEST_TOKEN

    def pid(self, name: str) -> int:
        """The current process of `name` (the supervisor rewrites the file on a restart)."""
        return int((self.run / "fleet" / f"{name}.pid").read_text())

    def log(self, name: str) -> str:
        return (self.run / "fleet" / "logs" / f"{name}.log").read_text(errors="replace")

    def direct(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


def free_run(n: int) -> int:
    """The first of `n` consecutive free ports (the fleet numbers its replicas upwards)."""
    for _ in range(100):
        first = free_port()
        if first + n > 65535:
            continue
        try:
            for port in range(first + 1, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def ready(fleet: Fleet) -> bool:
    paths = {"rasa": "/", "actions": "/health", "desk": "/healthz"}
    return all(
        status(fleet.direct(name) + paths[name.split("-")[0]]) == 200 for name in fleet.ports
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not MODEL.exists():
        pytest.fail("no trained model; run scripts/train.sh (scripts/test.sh does)")
    run = tmp_path_factory.mktemp("fleet-run")
    rasa, actions, desk = free_run(REPLICAS), free_run(REPLICAS), free_run(REPLICAS)
    public, actions_lb, redis_port = free_port(), free_port(), free_port()
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
        TWILIO_AUTH_TOKEN=SMS_TEST_TOKEN,
        DESK_API_TOKEN=DESK_TEST_TOKEN,
        RASA_TOKEN=RASA_TOKEN,
        SMS_QUIET_HOURS="off",
        SMS_RATE_PER_SEC="100",
    )
    ports = {}
    for i in range(REPLICAS):
        ports |= {f"rasa-{i + 1}": rasa + i, f"actions-{i + 1}": actions + i}
        ports[f"desk-{i + 1}"] = desk + i
    out = run / "fleet.out"
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "fleet.sh"), "--replicas", str(REPLICAS), "--no-train"],
        cwd=ROOT,
        env=env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    password = ""
    try:
        wait_until(lambda: "fleet ready" in out.read_text(), 600, "the fleet", [proc])
        password = (run / "redis_password").read_text().strip()
        yield Fleet(
            f"http://127.0.0.1:{public}",
            run,
            ports,
            f"redis://:{password}@127.0.0.1:{redis_port}/0",
            actions_lb,
        )
    except BaseException:
        logs = sorted((run / "fleet" / "logs").glob("*.log")) if (run / "fleet").exists() else []
        for log in [out, *logs]:
            sys.stderr.write(
                f"\n===== {log.name} =====\n{log.read_text(errors='replace')[-3000:]}\n"
            )
        raise
    finally:
        pids = [int(p.read_text()) for p in (run / "fleet").glob("*.pid")]
        proc.send_signal(signal.SIGTERM)  # what Ctrl-C does: the script stops everything
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # After the script: nothing it started is left running.
    left = [pid for pid in pids if alive(pid)]
    assert not left, f"still running after the fleet stopped: {left}"


def nginx_upstream_ports(fleet: Fleet) -> set[int]:
    """The ports nginx's workers hold open connections to (their upstream sockets)."""
    master = fleet.pid("nginx")
    workers = [
        int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _ppid(stat) == master
    ]
    inodes = set()
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED, nginx's
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1  # gone meanwhile


def serving_rasa(fleet: Fleet) -> str:
    """The Rasa replica nginx proxies the one open socket.io connection to."""
    upstream = nginx_upstream_ports(fleet)
    names = [n for n in fleet.ports if n.startswith("rasa-") and fleet.ports[n] in upstream]
    assert len(names) == 1, names
    return names[0]


async def turn(customer: Customer, text: str) -> list[str]:
    """One message and every reply of the bot's turn."""
    await customer.say(text)
    replies = [(await customer.reply())["text"]]
    while True:
        try:
            replies.append((await customer.reply(timeout=1.5))["text"])
        except asyncio.TimeoutError:
            return replies


async def wait_restarted(fleet: Fleet, name: str, old_pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = fleet.pid(name)
        if pid != old_pid and alive(pid):
            return pid
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{name} was not restarted")


async def test_customers_behind_one_address_are_spread_over_the_replicas(fleet: Fleet) -> None:
    """Every customer here comes from 127.0.0.1, as customers behind one carrier NAT or one
    load balancer do. New websockets still go to the least busy replica; long-polling
    customers are pinned by the widget's route key, each to one replica for its session
    (a polling request at another replica would be refused: unknown session)."""
    rasa_ports = {port for name, port in fleet.ports.items() if name.startswith("rasa-")}
    sockets = [Customer(fleet.url) for _ in range(2 * REPLICAS)]
    for customer in sockets:
        await customer.connect()
    assert rasa_ports <= nginx_upstream_ports(fleet)
    for customer in sockets:
        await customer.client.disconnect()
    await asyncio.sleep(0.5)  # their lines (101, logged at the close) before the next part

    log = fleet.run / "fleet" / "logs" / "nginx-access.log"
    pollers = [
        Customer(f"{fleet.url}/?kefu_route=page-{i}", transports=["polling"]) for i in range(12)
    ]
    # Polling first, then the upgrade to a websocket, which carries the polling session's id.
    pollers.append(
        Customer(f"{fleet.url}/?kefu_route=upgrade", transports=["polling", "websocket"])
    )
    replicas_used = set()
    for customer in pollers:
        start = log.stat().st_size
        await customer.connect()
        assert "Ways to pay" in await customer.ask("how do I pay my bill")
        await customer.client.disconnect()
        await asyncio.sleep(0.3)  # nginx logs a request when it ends
        # 499: the long-poll still waiting at the disconnect, which nginx may log late, in
        # the next customer's lines; every other request of this session is here.
        upstreams = set(
            re.findall(
                r'"\w+ /socket\.io/" (?!499)\d+ .*upstream=127\.0\.0\.1:(\d+)',
                log.read_bytes()[start:].decode(),
            )
        )
        # Every request of the session (handshake, polls, posts, upgrade) at one replica.
        assert len(upstreams) == 1, upstreams
        replicas_used |= {int(port) for port in upstreams}
    # Thirteen route keys on two replicas: all on one would be 1 in 4,096.
    assert replicas_used == rasa_ports


async def test_a_web_customer_goes_on_while_their_rasa_is_killed(fleet: Fleet) -> None:
    customer = Customer(fleet.url)
    await customer.connect()
    assert "Ways to pay" in (await turn(customer, "how do I pay my bill"))[0]
    # In the complaint form, in English: what the other replica must know.
    opened = await turn(customer, "I want to complain, the meter reader was rude and shouted")
    assert "What is it about" in opened[-1]

    victim = serving_rasa(fleet)
    old = fleet.pid(victim)
    os.kill(old, signal.SIGKILL)
    await wait_restarted(fleet, victim, old)
    assert re.search(rf"\[fleet\] pid {old} exited with status 137", fleet.log(victim))

    # The widget reconnects with its token; nginx sends it to the live replica at once.
    again = Customer(fleet.url, customer.token)
    await again.connect()
    assert again.resumed and again.session_id == customer.session_id
    assert "address" in (await turn(again, "Staff conduct"))[-1]  # same form, same language
    assert serving_rasa(fleet) != victim
    await again.client.disconnect()


async def test_an_agent_session_is_good_on_every_desk(fleet: Fleet) -> None:
    create_users({**os.environ, "REDIS_URL": fleet.redis_url}, [(AGENT, "agent")], PASSWORD)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (any port)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        desk1 = fleet.direct("desk-1")
        form = await (await http.get(f"{desk1}/console/login")).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        data = {"username": AGENT, "password": PASSWORD, "csrf_token": csrf}
        async with http.post(f"{desk1}/console/login", data=data) as response:
            assert response.status == 200 and 'name="csrf-token"' in await response.text()
        # The session lives in Redis: desk 2 and the public entry know it too.
        for base in (fleet.direct("desk-2"), fleet.url):
            async with http.get(f"{base}/console/", allow_redirects=False) as response:
                assert response.status == 200, base
                assert AGENT in await response.text()


async def test_a_killed_desk_and_action_server_are_replaced_while_others_answer(
    fleet: Fleet,
) -> None:
    customer = Customer(fleet.url)
    await customer.connect()
    old = {name: fleet.pid(name) for name in ("desk-1", "actions-1")}
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)
    # Meanwhile: the website from the other desk; calls to the action servers through
    # nginx's balancer (round robin: every other one would be the dead server's).
    for _ in range(4):
        assert status(fleet.url + "/") == 200
        assert status(f"http://127.0.0.1:{fleet.actions_lb}/health") == 200
    errors = (fleet.run / "fleet" / "logs" / "nginx-error.log").read_text()
    for name in old:
        assert f'upstream: "http://127.0.0.1:{fleet.ports[name]}/' in errors, name
    # Rasa's own action calls (each complaint turn runs the form's validation action).
    opened = await turn(customer, "I want to complain, the meter reader was rude and shouted")
    assert "What is it about" in opened[-1]
    assert "address" in (await turn(customer, "Staff conduct"))[-1]
    await customer.client.disconnect()

    for name, pid in old.items():
        await wait_restarted(fleet, name, pid)
    wait_until(lambda: status(fleet.direct("desk-1") + "/healthz") == 200, 30, "desk-1")
    wait_until(lambda: status(fleet.direct("actions-1") + "/health") == 200, 30, "actions-1")


def test_only_public_paths_answer_at_the_public_port(fleet: Fleet) -> None:
    for path in ("/", "/vendor/socket.io.min.js", "/console/login"):
        assert status(fleet.url + path) == 200, path
    assert status(fleet.url + "/socket.io/?EIO=4&transport=polling") == 200
    private = [
        f"/conversations/x/tracker?token={RASA_TOKEN}",
        f"/model?token={RASA_TOKEN}",
        "/status",
        "/api/tickets",
        "/api/sms/outbox",
        "/healthz",
    ]
    for path in private:
        assert status(fleet.url + path) == 404, path
    # The balancer in front of the action servers is on loopback, for Rasa's calls only.
    assert status(f"http://127.0.0.1:{fleet.actions_lb}/nothing") == 404
    access = (fleet.run / "fleet" / "logs" / "nginx-access.log").read_text()
    assert RASA_TOKEN not in access  # paths only, never query strings


def test_every_replica_is_back(fleet: Fleet) -> None:
    """Last: the killed Rasa has loaded its model again (it started in the first test)."""
    wait_until(lambda: ready(fleet), 180, "every replica")
