"""scripts/start.sh never silently uses a Redis it did not start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import redis

from tests.conftest import ROOT, free_port, wait_until


def test_start_refuses_a_foreign_redis_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    foreign = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: redis.Redis(port=port).ping(), 10, "foreign redis", [foreign])
        redis.Redis(port=port).set("someone:else", "their data")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "RASA_"))}
        env.update(KEFU_LOCAL_REDIS_PORT=str(port), KEFU_RUN=str(tmp_path / "run"))
        done = subprocess.run(
            [str(ROOT / "scripts" / "start.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode != 0
        assert "KEFU_LOCAL_REDIS_PORT" in done.stderr and "REDIS_URL" in done.stderr
        assert redis.Redis(port=port).get("someone:else") == b"their data"
        assert not (tmp_path / "run" / "logs" / "rasa.log").exists()  # stopped before Rasa
    finally:
        foreign.terminate()
        foreign.wait(10)
