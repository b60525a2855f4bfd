"""业务等候时间预告: the wait estimate told to a customer in the queue."""

from __future__ import annotations

import math


def estimate_minutes(
    position: int, agents_online: int, avg_handle_s: float, busy_agents: int = 0
) -> int | None:
    """Whole minutes until an agent is expected to take the customer at `position` (1 = next).

    Free agents take the first customers at once (about a minute: they have to notice and
    claim). Everyone else waits for agents to finish: with n agents each finishing a
    conversation every `avg_handle_s` on average, one frees up every avg_handle_s / n, so the
    k-th customer beyond the free agents waits about k * avg_handle_s / n.
    None when nobody is online (there is no estimate to give).
    """
    if agents_online <= 0:
        return None
    position = max(position, 1)
    free = max(agents_online - max(busy_agents, 0), 0)
    if position <= free:
        return 1
    waiting_for_release = position - free
    return max(1, math.ceil(waiting_for_release * avg_handle_s / agents_online / 60))
