"""Background workers: one way to run a supervised periodic task, and to stop any task.

Every worker of the desk (live view, handoff sync, hand-back retries, SLA monitor, Redis
memory watch) and of the SMS gateway runs as a `Periodic`:

    workers = Workers()                                   # one per process (app[WORKERS])
    monitor = workers.periodic("sla_monitor", sweep, every_s=30)
    ...
    await monitor.stop()                                  # or: await workers.stop_all()
    workers.status()  # {"sla_monitor": {"running": True, "steps": 12, "errors": 0, ...}}

- `step` is an async function doing ONE round (a sweep, one blocking XREAD...). The task
  calls it, waits `every_s` seconds, calls it again, until stopped. `every_s=0` is for a
  step that waits by itself (a blocking read); anything else would spin.
- An exception from a step never kills the worker: it is counted, logged (one line for a
  Redis or network failure, a traceback for anything else) and the step is retried after
  `retry_s` (default: `every_s`, or 1 s for a blocking step). With `retry_max_s`, the
  wait doubles after each failure in a row up to that (backoff), and resets on success.
- Started, stopped and every failure are logged under the worker's name; the counts are
  in `status()`, which the desk serves on /healthz ("workers").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]
# Failures expected in normal operation (Redis restarting, a network blip): a warning line,
# not a traceback.
TRANSIENT: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


async def stop_task(task: asyncio.Task[Any], wait_s: float = 0.5) -> None:
    """Cancel until it is done.

    With Python 3.10, redis-py 4.6 can swallow a cancel that lands inside a
    command's timeout block (redis/redis-py#2551), which would hang shutdown.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=wait_s)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


@dataclass
class TaskStats:
    """What /healthz shows of one worker."""

    every_s: float
    running: bool = False
    steps: int = 0  # rounds completed without an error
    errors: int = 0
    last_error: str | None = None
    last_error_at: float | None = None  # Unix time


class Periodic:
    """A supervised periodic task (see the module docstring)."""

    def __init__(
        self,
        name: str,
        step: Step,
        every_s: float,
        *,
        retry_s: float | None = None,
        retry_max_s: float | None = None,
        delay_first: bool = False,
    ) -> None:
        self.name = name
        self.stats = TaskStats(every_s=every_s)
        self._step = step
        self._every_s = every_s
        self._retry_s = retry_s if retry_s is not None else (every_s or 1.0)
        self._retry_max_s = max(retry_max_s or 0.0, self._retry_s)
        self._failures = 0  # in a row
        self._delay_first = delay_first  # wait every_s before the first round
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Started and not yet stopped (or ended)."""
        return self._task is not None and not self._task.done()

    def start(self) -> Periodic:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def _run(self) -> None:
        log.info("worker %s started (every %.1fs)", self.name, self._every_s)
        self.stats.running = True
        try:
            if self._delay_first:
                await asyncio.sleep(self._every_s)
            while True:
                delay = self._every_s
                try:
                    await self._step()
                    self.stats.steps += 1
                    self._failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a worker outlives its failures
                    self._failures += 1
                    delay = min(self._retry_s * 2 ** (self._failures - 1), self._retry_max_s)
                    self._count(exc, delay)
                await asyncio.sleep(delay)  # 0 still yields to the loop
        finally:
            self.stats.running = False
            log.info("worker %s stopped", self.name)

    def _count(self, exc: Exception, delay: float) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.stats.last_error_at = time.time()
        if isinstance(exc, TRANSIENT):
            log.warning("worker %s: %s; retrying in %.1fs", self.name, self.stats.last_error, delay)
        else:
            log.exception("worker %s failed; retrying in %.1fs", self.name, delay)


class Workers:
    """The named workers of one process, for stopping them and for /healthz."""

    def __init__(self) -> None:
        self._workers: dict[str, Periodic] = {}

    def periodic(
        self,
        name: str,
        step: Step,
        every_s: float,
        *,
        retry_s: float | None = None,
        retry_max_s: float | None = None,
        delay_first: bool = False,
    ) -> Periodic:
        """Starts a `Periodic` and registers it under `name` (one worker per name)."""
        if name in self._workers and self._workers[name].stats.running:
            raise ValueError(f"worker {name} is already running")
        worker = Periodic(
            name, step, every_s, retry_s=retry_s, retry_max_s=retry_max_s, delay_first=delay_first
        )
        self._workers[name] = worker
        return worker.start()

    async def stop_all(self) -> None:
        for worker in self._workers.values():
            await worker.stop()

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: asdict(worker.stats) for name, worker in self._workers.items()}
