"""The one way to get an asyncio Redis client: Redis is the system of record. (And how
Rasa's own stores, built on redis-py's synchronous client, ride out a Redis restart and
get an asyncio twin for their per-turn commands.)"""

from __future__ import annotations

import inspect

import redis
import redis.asyncio as aioredis
import redis.retry
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Every Redis call must fail fast rather than hang a webhook or a bot turn.
SOCKET_TIMEOUT_S = 5.0
# After Redis restarts, redis-py's asyncio pool hands out a connection the old server
# closed, and the next command fails with "Connection closed by server". A command that
# fails on a closed connection is sent once more on a new one. Only connection errors: a
# timeout may mean Redis ran the command, and a second run of a write is not harmless.
# (A connection that breaks after Redis ran a command but before its answer can still
# run it twice: ticket creation and outbox messages carry idempotency keys for that.)
RETRIED_ERRORS = (RedisConnectionError,)


def connect(url: str, block_ms: int = 0) -> aioredis.Redis:
    """A client for `url` (redis://[:password@]host:port/db) returning str values.

    `block_ms`: the longest blocking read (XREAD BLOCK) the client will make; a read
    must not time out while Redis is still legitimately waiting. Give such a worker its own
    client: a blocked connection serves nobody else.
    """
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S + block_ms / 1000,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
        retry=Retry(NoBackoff(), retries=1, supported_errors=RETRIED_ERRORS),
        retry_on_error=list(RETRIED_ERRORS),
    )


# Rasa's tracker and lock stores (bot/trackers.py, bot/locks.py) cannot finish a turn
# without Redis: a turn's save that fails while Redis restarts loses the turn's events
# though its side effects (a ticket, a queued handoff) stay. So their commands that fail
# to connect are retried for about 9 s (0.1 s doubling to 2 s, 8 times), a restart's time
# (1-2 s measured on the fleet). Connection errors only, as above.
STORE_RETRY = redis.retry.Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=8)
_ASYNC_STORE_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=8)


def ride_out_restarts(client: redis.Redis) -> None:
    """Makes a synchronous client's new connections retry connection errors (call before
    its first command)."""
    client.connection_pool.connection_kwargs.update(
        retry=STORE_RETRY, retry_on_error=list(RETRIED_ERRORS)
    )


def async_twin(client: redis.Redis) -> aioredis.Redis:
    """An asyncio client to the same server and database as the synchronous store client
    `client`, with its settings and the stores' retries. A turn's store commands awaited
    on it leave Rasa's event loop free while Redis answers; on the synchronous client the
    loop stood still for each round trip (docs/performance.md)."""
    pool = client.connection_pool
    ssl = issubclass(pool.connection_class, redis.SSLConnection)
    connection_class = aioredis.SSLConnection if ssl else aioredis.Connection
    accepted = {  # its own and its bases' (4.6's Connection passes **kwargs up)
        name
        for cls in connection_class.__mro__
        for name in inspect.signature(cls.__init__).parameters
    }
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in accepted}
    kwargs.update(retry=_ASYNC_STORE_RETRY, retry_on_error=list(RETRIED_ERRORS))
    return aioredis.Redis(
        connection_pool=aioredis.ConnectionPool(connection_class=connection_class, **kwargs)
    )
