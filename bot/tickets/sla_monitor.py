"""The SLA monitor: a desk worker that escalates every missed deadline exactly once.

It may run in every desk process at once: each missed deadline is a member of one Redis
sorted set, and a Lua script atomically removes it and escalates, so exactly one process
escalates it (see TicketStore.escalate). The deadlines themselves come from bot.tickets.sla.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.ops.metrics import SLA_BREACHES
from bot.tasks import Periodic, Workers
from bot.tickets.sla import Clock, utc_now

if TYPE_CHECKING:
    from bot.tickets.store import Escalation, TicketStore

log = logging.getLogger(__name__)

WORKER = "sla_monitor"  # its name in /healthz "workers"


class SlaMonitor:
    """Finds missed deadlines and escalates each exactly once (safe in many processes)."""

    BATCH = 100

    def __init__(self, store: TicketStore, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock
        self._checked_durability = False

    async def run_once(self) -> list[Escalation]:
        """One sweep; returns the escalations THIS monitor performed."""
        now = self._clock()
        done: list[Escalation] = []
        # Bounded: each due member is removed by whichever monitor claims it.
        for _ in range(1000):
            due = await self._store.due_deadlines(now, self.BATCH)
            for member in due:
                escalation = await self._store.escalate(member, now)
                if escalation is not None:
                    log.warning(
                        "SLA breach: %s missed its %s deadline %s; grade %s -> %s",
                        escalation.number,
                        escalation.kind,
                        escalation.deadline.isoformat(),
                        escalation.from_grade,
                        escalation.to_grade,
                    )
                    SLA_BREACHES.labels(escalation.kind).inc()
                    done.append(escalation)
            if len(due) < self.BATCH:
                break
        return done

    async def sweep(self) -> None:
        """The worker's round. The first one also warns about a Redis that could lose
        tickets (checked here, not at startup, so a Redis still starting does not stop
        the desk)."""
        if not self._checked_durability:
            for warning in await self._store.check_durability():
                log.warning("%s", warning)
            self._checked_durability = True
        await self.run_once()


def start(workers: Workers, store: TicketStore, interval_s: float) -> Periodic:
    """Runs the monitor every interval_s as the supervised worker "sla_monitor"."""
    return workers.periodic(WORKER, SlaMonitor(store).sweep, interval_s)
