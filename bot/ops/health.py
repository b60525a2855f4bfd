"""What the three process kinds share for /healthz, /readyz and /metrics.

- /healthz is liveness: the process answers. It needs nothing else (a Redis outage must not
  make an orchestrator restart every process), and says nothing about customers.
- /readyz is readiness: this process can do its work now (Redis answers a PING within
  READY_TIMEOUT_S; for Rasa, the model is loaded too). 200 {"status": "ready"} or 503
  {"status": "not_ready", "failed": [...]}: check names only, never an address or error.
- /metrics needs KEFU_METRICS_TOKEN as a bearer token: the counts are nobody's business
  outside, and a scrape token that can do nothing else is the one Prometheus should hold.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from redis.exceptions import RedisError

from bot.ops.gauges import Snapshot
from bot.ops.metrics import REDIS_ERRORS

READY_TIMEOUT_S = 1.0
CONTENT_TYPE = CONTENT_TYPE_LATEST


async def redis_ready(redis: aioredis.Redis) -> bool:
    try:
        await asyncio.wait_for(redis.ping(), READY_TIMEOUT_S)
    except (RedisError, OSError, asyncio.TimeoutError):
        REDIS_ERRORS.labels("readyz").inc()
        return False
    return True


def readiness(failed: list[str]) -> tuple[int, dict[str, Any]]:
    """The status code and body of /readyz given the checks that failed."""
    if failed:
        return 503, {"status": "not_ready", "failed": failed}
    return 200, {"status": "ready"}


def scrape_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether `authorization` is `Bearer <token>`; never with no token configured."""
    scheme, _, given = (authorization or "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def exposition(families: list[Metric]) -> bytes:
    """The process's registry, then `families` (read from Redis for this scrape)."""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(Snapshot(families))
    return generate_latest(REGISTRY) + generate_latest(snapshot)
