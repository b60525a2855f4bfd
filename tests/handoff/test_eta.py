"""业务等候时间预告: the estimate is position, agents online and average handle time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.handoff.eta import estimate_minutes


def test_free_agents_take_the_first_customers_at_once() -> None:
    assert estimate_minutes(1, agents_online=2, avg_handle_s=600, busy_agents=0) == 1
    assert estimate_minutes(2, agents_online=2, avg_handle_s=600, busy_agents=0) == 1


def test_busy_agents_free_up_one_every_average_over_n() -> None:
    # 2 agents, both busy, 10 min average: one frees up every 5 minutes.
    assert estimate_minutes(1, 2, 600, busy_agents=2) == 5
    assert estimate_minutes(3, 2, 600, busy_agents=2) == 15
    # One of two agents free: the 1st goes at once, the 2nd waits for a release.
    assert estimate_minutes(2, 2, 600, busy_agents=1) == 5


def test_nobody_online_has_no_estimate() -> None:
    assert estimate_minutes(1, 0, 300) is None


@given(
    position=st.integers(1, 500),
    agents=st.integers(1, 50),
    avg=st.floats(1, 7200),
    busy=st.integers(0, 100),
)
def test_estimates_are_positive_and_monotonic(
    position: int, agents: int, avg: float, busy: int
) -> None:
    here = estimate_minutes(position, agents, avg, busy)
    assert here is not None and here >= 1
    assert estimate_minutes(position + 1, agents, avg, busy) >= here
    assert estimate_minutes(position, agents + 1, avg, busy) <= here
    assert estimate_minutes(position, agents, avg * 2, busy) >= here
