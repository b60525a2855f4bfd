"""Hand-back retries and queue expiry (a desk worker, every RETRY_EVERY_S).

- A hand-back or close Rasa has not confirmed (its /conversations API was down) is sent
  again until Rasa confirms it (AgentOps.retry_pending).
- A queued handoff nobody claimed in time is ended, and the customer told
  (AgentOps.expire_waiting).
Safe in every desk process at once: both claim their work atomically in Redis.
"""

from __future__ import annotations

from bot.handoff.agent_ops import AgentOps
from bot.tasks import Periodic, Workers

WORKER = "handoff_retry"  # its name in /healthz "workers"
RETRY_EVERY_S = 10.0


def start(workers: Workers, ops: AgentOps) -> Periodic:
    async def round_() -> None:
        await ops.expire_waiting()
        await ops.retry_pending()

    # The first round waits: at startup the console has only just been built.
    return workers.periodic(WORKER, round_, RETRY_EVERY_S, delay_first=True)
