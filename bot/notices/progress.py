"""How far an outage's broadcast has got, from its outbox messages' own statuses.

Per outage, two sets (prefix kefu:notices:outage:{id}:): `recipients` (phones) and
`messages` (outbox ids). summary() reads the statuses in pipelined batches of 1,000 HGETs:
for 10,000 recipients that is ten round trips, and no counter can drift from the truth,
because the outbox's status is the only record of a message's fate.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from bot.notices.subscriptions import PREFIX
from bot.sms import outbox
from bot.sms.settings import Retention

BATCH = 1000
KEYS = ("recipients", "queued", "sent", "delivered", "failed", "expired", "skipped")
# Outbox status -> the operator's column.
COLUMN = {
    "pending": "queued",
    "deferred": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "expired": "expired",
    "skipped": "skipped",
}


def recipients_key(outage_id: str) -> str:
    return f"{PREFIX}outage:{outage_id}:recipients"


def messages_key(outage_id: str) -> str:
    return f"{PREFIX}outage:{outage_id}:messages"


def record(
    pipe: aioredis.client.Pipeline, outage_id: str, phones: Iterable[str], ids: Iterable[str]
) -> None:
    """Queues on `pipe` the recipients and outbox ids of a batch of notices."""
    ttl = Retention.from_env().outbox_s
    phones, ids = list(phones), list(ids)
    if phones:
        pipe.sadd(recipients_key(outage_id), *phones)
        pipe.expire(recipients_key(outage_id), ttl)
    if ids:
        pipe.sadd(messages_key(outage_id), *ids)
        pipe.expire(messages_key(outage_id), ttl)


async def summary(redis: aioredis.Redis, outage_id: str) -> dict[str, int]:
    """{"recipients", "queued", "sent", "delivered", "failed", "expired", "skipped"}: distinct
    phones notified about the outage, and its notices (all kinds) by status."""
    counts = dict.fromkeys(KEYS, 0)
    counts["recipients"] = int(await redis.scard(recipients_key(outage_id)))
    cursor = 0
    while True:
        cursor, ids = await redis.sscan(messages_key(outage_id), cursor, count=BATCH)
        if ids:
            async with redis.pipeline(transaction=False) as pipe:
                for message_id in ids:
                    pipe.hget(outbox.msg_key(message_id), "status")
                for status in await pipe.execute():
                    column = COLUMN.get(status or "")
                    if column:
                        counts[column] += 1
        if cursor == 0:
            return counts
