"""Rasa's conversation lock store, made safe for several Rasa processes and for crashes
(endpoints.yml: `lock_store: type: bot.locks.KefuLockStore`).

Rasa serialises the turns of one conversation with a ticket lock kept in Redis. Its
RedisLockStore has three gaps that a fleet meets:
- issuing and returning a ticket are read-modify-write in Python: two replicas issuing
  tickets for one conversation at once (an SMS customer's two quick texts, claimed by two
  replicas) can both get the same number, and their turns overwrite each other's events.
  Here both are one Lua script each, atomic in Redis.
- a Rasa killed mid-turn leaves its ticket until it expires (TICKET_LOCK_LIFETIME). When
  the dead ticket and the next waiter's both expire within one polling interval, the
  waiter finds no ticket at all and waits for ever (the lock then "serves" no number).
  Here a waiter goes ahead as soon as no live ticket numbered below its own remains.
- waiters poll once a second, so a conversation's second message waited up to a second
  after the first was answered. Here they poll every POLL_S.
- every turn read the lock back after taking its ticket. Here the ticket's script also
  says whether a live ticket is ahead; when none is (nearly every turn), the turn goes
  ahead without that read: two round trips a turn instead of three, both awaited on an
  asyncio client (bot.db.async_twin), so the event loop does not stand still for them.
The key also gets a Redis TTL, so a lock a crash left behind does not stay for good, and
commands ride out a Redis restart (bot.db.ride_out_restarts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot import db

logger = logging.getLogger(__name__)

POLL_S = 0.05
KEY_TTL_MARGIN_S = 60  # the key outlives its last ticket by this much

# KEYS[1] lock key; ARGV: now, lifetime, conversation id, ttl margin. Drops expired
# tickets, appends the next number (Rasa's rule: last live number + 1, else 0); returns
# {number, how many live tickets are ahead of it}.
_ISSUE = """
local now, lifetime = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept, last, latest = {}, -1, now + lifetime
local raw = redis.call('GET', KEYS[1])
if raw then
  for _, item in ipairs(cjson.decode(raw)['tickets'] or {}) do
    local t = cjson.decode(item)
    if tonumber(t['expires']) >= now then
      table.insert(kept, cjson.encode(item))
      last = tonumber(t['number'])
      if tonumber(t['expires']) > latest then latest = tonumber(t['expires']) end
    end
  end
end
local number, ahead = last + 1, #kept
local ticket = string.format('{"number": %d, "expires": %.6f}', number, now + lifetime)
table.insert(kept, cjson.encode(ticket))
local lock = '{"conversation_id": ' .. cjson.encode(ARGV[3]) .. ', "tickets": ['
  .. table.concat(kept, ', ') .. ']}'
redis.call('SET', KEYS[1], lock, 'EX', math.ceil(latest - now + tonumber(ARGV[4])))
return {number, ahead}
"""

# KEYS[1] lock key; ARGV: now, ticket number to return, ttl margin.
_RETURN = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local data = cjson.decode(raw)
local now, kept, latest = tonumber(ARGV[1]), {}, 0
for _, item in ipairs(data['tickets'] or {}) do
  local t = cjson.decode(item)
  if tonumber(t['number']) ~= tonumber(ARGV[2]) and tonumber(t['expires']) >= now then
    table.insert(kept, cjson.encode(item))
    if tonumber(t['expires']) > latest then latest = tonumber(t['expires']) end
  end
end
if #kept == 0 then redis.call('DEL', KEYS[1]) return 1 end
local lock = '{"conversation_id": ' .. cjson.encode(data['conversation_id']) .. ', "tickets": ['
  .. table.concat(kept, ', ') .. ']}'
redis.call('SET', KEYS[1], lock, 'EX', math.ceil(latest - now + tonumber(ARGV[3])))
return 1
"""


class KefuLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        # Rasa builds a custom lock store from its endpoints.yml section.
        if endpoint_config is not None:
            kwargs = {**endpoint_config.kwargs, **kwargs}
            kwargs.setdefault("host", endpoint_config.url or "localhost")
        kwargs.pop("type", None)
        super().__init__(**kwargs)
        db.ride_out_restarts(self.red)
        self._issue = self.red.register_script(_ISSUE)
        self._return = self.red.register_script(_RETURN)
        # The turn's path (lock()) awaits the same scripts on an asyncio client.
        redis = db.async_twin(self.red)
        self._issue_async = redis.register_script(_ISSUE)
        self._return_async = redis.register_script(_RETURN)

    def _key(self, conversation_id: str) -> str:
        return str(self.key_prefix) + conversation_id

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 60) -> int:
        number, _ahead = self._issue(
            keys=[self._key(conversation_id)],
            args=[repr(time.time()), lock_lifetime, conversation_id, KEY_TTL_MARGIN_S],
        )
        return int(number)

    async def _take_ticket(
        self, conversation_id: str, lock_lifetime: float
    ) -> tuple[int, Ticket, int]:
        """The ticket's number, the ticket, and how many live tickets are ahead of it."""
        now = time.time()
        number, ahead = await self._issue_async(
            keys=[self._key(conversation_id)],
            args=[repr(now), lock_lifetime, conversation_id, KEY_TTL_MARGIN_S],
        )
        return int(number), Ticket(int(number), now + lock_lifetime), int(ahead)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """Rasa's LockStore.lock, without reading the lock back when nobody is ahead."""
        number, ticket, ahead = await self._take_ticket(conversation_id, lock_lifetime)
        try:
            if ahead:
                yield await self._acquire_lock(conversation_id, number, wait_time_in_seconds)
            else:
                yield TicketLock(conversation_id, deque([ticket]))
        finally:
            await self._return_ticket(conversation_id, number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        try:
            self._return(
                keys=[self._key(conversation_id)],
                args=[repr(time.time()), ticket_number, KEY_TTL_MARGIN_S],
            )
        except Exception:  # noqa: BLE001 - as Rasa: a failed clean-up must not fail the turn
            logger.exception("could not return lock ticket %s of a conversation", ticket_number)

    async def _return_ticket(self, conversation_id: str, ticket_number: int) -> None:
        """cleanup(), awaited."""
        try:
            await self._return_async(
                keys=[self._key(conversation_id)],
                args=[repr(time.time()), ticket_number, KEY_TTL_MARGIN_S],
            )
        except Exception:  # noqa: BLE001 - as Rasa: a failed clean-up must not fail the turn
            logger.exception("could not return lock ticket %s of a conversation", ticket_number)

    async def _acquire_lock(
        self, conversation_id: str, ticket: int, wait_time_in_seconds: float
    ) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or not _ahead_of(lock, ticket):
                return lock or TicketLock(conversation_id)
            await asyncio.sleep(POLL_S)


def _ahead_of(lock: TicketLock, ticket: int) -> bool:
    """Whether a live ticket numbered below `ticket` holds the conversation."""
    return any(t.number < ticket and not t.has_expired() for t in lock.tickets)
