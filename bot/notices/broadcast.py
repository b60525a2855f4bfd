"""An outage change, as SMS notices to everyone in the affected areas, through the outbox.

One notice per (outage, phone, kind of notice), by idempotency key: running the same change
again (a crash, a redelivered stream entry) queues nothing new. Kinds of notice:
- published: planned (a warning ahead: waits out quiet hours, valid until the outage
  starts) or fault (we know, we are on it, the ETA: urgent, goes out at once);
- eta_changed: one per revision, except that another change within KEFU_NOTICE_ETA_MERGE_S
  replaces the earlier notice while it is still unsent (outbox.replace_pending);
- restored (urgent), cancelled (planned outages; follows the planned notice's timing).
text_changed and in_progress send nothing: the customer already knows what matters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import redis.asyncio as aioredis

from bot.accounts.backend import AccountBackend
from bot.notices import context, progress, recipients, templates
from bot.notices.subscriptions import PREFIX
from bot.outages.models import Outage
from bot.sms import outbox
from bot.sms.segments import count

logger = logging.getLogger(__name__)

BATCH = 2000
# The outage change -> the kind of notice it sends (absent: none).
NOTICE_OF_CHANGE = {
    "published": "published",
    "eta_changed": "eta_changed",
    "restored": "restored",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class Notice:
    """What one change sends: the same notice for everyone, in their language."""

    outage_id: str
    notice: str  # published | eta_changed | restored | cancelled
    revision: int
    urgent: bool
    valid_until: float
    bodies: dict[str, str]  # language -> text

    def key(self, phone: str) -> str:
        """The idempotency key: one notice per (outage, phone, kind of notice); ETA changes
        are one per revision."""
        kind = f"eta_changed:r{self.revision}" if self.notice == "eta_changed" else self.notice
        return f"notice:{self.outage_id}:{kind}:{phone}"


@dataclass
class Result:
    recipients: int = 0
    queued: int = 0  # messages the outbox holds for this notice (new or from an earlier run)
    replaced: int = 0  # earlier, unsent ETA notices given the new text instead
    ids: list[str] = field(default_factory=list)


def compose(
    outage: Outage, change: str, *, now: float, validity_s: int, revision: int | None = None
) -> Notice | None:
    """The notice `change` of `outage` sends, or None."""
    notice = NOTICE_OF_CHANGE.get(change)
    if notice is None:
        return None
    kind = outage.kind
    if notice == "eta_changed" and kind == "planned" and outage.eta is None:
        return None  # "the end is no longer known" is no news worth an SMS before it starts
    if notice == "cancelled" and kind == "fault":
        notice = "restored"  # a fault called off: for the customer, power is normal
    urgent = kind == "fault" or notice == "restored"
    valid_until = now + validity_s
    if kind == "planned" and notice == "published":
        # A warning is worth sending only before the outage starts (and Twilio keeps at most
        # 4 hours of it: the sender clamps ValidityPeriod).
        valid_until = max(now + 60, outage.starts_at.timestamp())
    bodies = {
        language: templates.render(
            ("outage", kind, notice),
            language,
            templates.outage_values(
                areas=outage.areas,
                starts_at=outage.starts_at,
                eta=outage.eta,
                text=outage.text,
                language=language,
            ),
        )
        for language in templates.LANGUAGES
    }
    return Notice(
        outage.id,
        notice,
        revision if revision is not None else outage.revision,
        urgent,
        valid_until,
        bodies,
    )


def eta_pointer(outage_id: str, phone: str) -> str:
    """The ETA notice a phone was last queued for this outage (lives for the merge window)."""
    return f"{PREFIX}eta:{outage_id}:{phone}"


async def send(
    redis: aioredis.Redis,
    backend: AccountBackend,
    outage: Outage,
    change: str,
    *,
    revision: int | None = None,
    now: float | None = None,
    validity_s: int = 4 * 3600,
    merge_s: int = 300,
    batch: int = BATCH,
    clock: Callable[[], float] = time.time,
) -> Result:
    """Queues the notices of one change (idempotent). `now`: when the change happened (its
    notices are valid from then). Raises BackendUnavailable or a Redis error before or
    during the work: the caller retries, and keys keep it exactly-once."""
    at = clock() if now is None else now
    notice = compose(outage, change, now=at, validity_s=validity_s, revision=revision)
    result = Result()
    if notice is None:
        return result
    if notice.valid_until <= clock():
        logger.warning("outage %s %s: too late to announce, not sent", outage.id, change)
        return result
    audience = await recipients.for_areas(redis, backend, outage.areas)
    result.recipients = len(audience)
    phones = list(audience)
    for start in range(0, len(phones), batch):
        chunk = phones[start : start + batch]
        ids = await _queue_batch(redis, notice, chunk, audience, merge_s, result)
        async with redis.pipeline(transaction=True) as pipe:  # one AOF fsync, not dozens
            progress.record(pipe, outage.id, chunk, ids)
            context.record(pipe, chunk, outage.id, notice.notice, at)
            await pipe.execute()
        result.ids.extend(ids)
    result.queued = len(result.ids)
    logger.info(
        "outage %s %s: %d recipients, %d notices queued (%d replaced)",
        outage.id,
        notice.notice,
        result.recipients,
        result.queued,
        result.replaced,
    )
    return result


async def _queue_batch(
    redis: aioredis.Redis,
    notice: Notice,
    phones: list[str],
    audience: Mapping[str, str],
    merge_s: int,
    result: Result,
) -> list[str]:
    by_phone: dict[str, str] = {}
    todo = phones
    if notice.notice == "eta_changed" and merge_s > 0:
        async with redis.pipeline(transaction=False) as pipe:
            for phone in phones:
                pipe.get(eta_pointer(notice.outage_id, phone))
            pointers = await pipe.execute()
        earlier = [(p, m) for p, m in zip(phones, pointers, strict=True) if m]
        got = await outbox.replace_pending_many(
            redis,
            [
                (message_id, notice.bodies[audience[phone]], notice.key(phone), notice.valid_until)
                for phone, message_id in earlier
            ],
        )
        for (phone, _earlier_id), replaced in zip(earlier, got, strict=True):
            if replaced is not None:
                by_phone[phone] = replaced[0]
                result.replaced += replaced[1]
        todo = [phone for phone in phones if phone not in by_phone]
    items = [
        outbox.Outgoing(
            phone,
            notice.bodies[audience[phone]],
            kind="notice",
            urgent=notice.urgent,
            idempotency_key=notice.key(phone),
            valid_until=notice.valid_until,
        )
        for phone in todo
    ]
    # recipients.for_areas gives numbers bot.phones normalised (here or when subscribing).
    queued = await outbox.enqueue_many(redis, items, normalized=True)
    new = dict(zip(todo, (done.ids[0] for done in queued), strict=True))
    if notice.notice == "eta_changed" and merge_s > 0 and new:
        async with redis.pipeline(transaction=False) as pipe:
            for phone, message_id in new.items():
                # NX: the window runs from the first ETA notice, not the latest change.
                pipe.set(eta_pointer(notice.outage_id, phone), message_id, ex=merge_s, nx=True)
            await pipe.execute()
    by_phone.update(new)
    return [by_phone[phone] for phone in phones]


async def preview(
    redis: aioredis.Redis,
    backend: AccountBackend,
    *,
    areas: Sequence[str],
    kind: str,
    text: dict[str, str],
    starts_at: datetime | None = None,
    eta: datetime | None = None,
) -> dict[str, object]:
    """What publishing would send: {"recipients": int, "segments": {"zh": int, "en": int},
    "bodies": {"zh": str, "en": str}}. Without times, a typical planned day (09:00-18:00
    tomorrow) stands in, so the count matches what the customer will get."""
    audience = await recipients.for_areas(redis, backend, areas)
    start = starts_at or (datetime.now(timezone.utc) + timedelta(days=1)).replace(
        hour=1, minute=0, second=0, microsecond=0
    )
    end = eta if eta is not None or starts_at is not None else start + timedelta(hours=9)
    outage = Outage(
        id="OG00000000-0000",
        areas=list(areas),
        kind=kind,
        starts_at=start,
        eta=end,
        cause="",
        text=dict(text),
        status="announced",
        revision=1,
    )
    notice = compose(outage, "published", now=time.time(), validity_s=3600)
    assert notice is not None
    return {
        "recipients": len(audience),
        "segments": {lang: count(body).segments for lang, body in notice.bodies.items()},
        "bodies": dict(notice.bodies),
    }
