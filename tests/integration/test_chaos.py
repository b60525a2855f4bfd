"""Issue 13: the fault-injection run, small (scripts/chaos.py --small, about 100 messages,
one SIGKILL of each process kind, then the Twilio variants), as CI runs it.

The script starts its own fleet (scripts/fleet.sh --replicas 2, free ports, its own run
directory) with the settings a chaos run needs (crashed work taken over after 5 s, agents
around the clock, the SLA check every 2 s): see scripts/chaoslib/fleet.py CHAOS_SETTINGS.
It exits 1 when anything was lost, duplicated, stuck or failed; the figures it prints are
checked here too, so a run that quietly did nothing fails.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import MODEL, ROOT

pytestmark = pytest.mark.stack

TIMEOUT_S = 420  # about 2.5 minutes on CI's machine; generous for a loaded one


def figure(output: str, name: str) -> str:
    found = re.search(rf"^  {re.escape(name)}: (.+)$", output, re.MULTILINE)
    assert found, f"{name!r} missing from the report:\n{output[-3000:]}"
    return found.group(1)


def test_nothing_is_lost_or_duplicated_while_processes_are_killed() -> None:
    if not MODEL.exists():
        pytest.fail("no trained model; run scripts/train.sh (scripts/test.sh does)")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--small"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Result: nothing lost or duplicated." in output

    sms = int(figure(output, "sms messages"))
    web = int(figure(output, "web messages"))
    assert sms >= 30 and web >= 30 and sms + web >= 90
    assert int(figure(output, "sms answered exactly once")) == sms
    assert int(figure(output, "web answered")) == web
    assert int(figure(output, "complaints with a ticket number")) == int(
        figure(output, "complaints")
    )
    assert int(figure(output, "handoffs answered by the agent and handed back")) == int(
        figure(output, "handoffs")
    )
    assert figure(output, "handoffs waiting at the end") == "0"
    assert figure(output, "non-reply SMS after STOP") == "0"
    assert figure(output, "SLA: overdue ticket escalated after s") != "None"
    # One SIGKILL of each kind, each process back.
    kills = re.findall(r'^  fault: \{"kind": "(\w+)".*"serving again after s"', output, re.M)
    assert sorted(kills) == ["actions", "desk", "rasa", "redis"], output[-3000:]
    # The Twilio variants ran: 401 paused with one alert, nothing failed.
    assert re.search(r"401 \(rotated token\): sending paused on both desks with 1 alert", output)
