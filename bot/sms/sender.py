"""The outbox sender: desk-service workers that deliver queued SMS.

Wired into the desk with one line, `sms_sender.setup(app)`; its workers are supervised
periodic tasks (bot.tasks) on the desk's app[WORKERS], shown on /healthz. Per message it:
- finishes as "expired" a message whose `valid_until` has passed (or would, by the end of
  quiet hours), without sending it;
- skips opted-out numbers, except replies to what the customer just sent;
- defers non-urgent kinds (notice, survey, reminder) past quiet hours;
- resolves the message's `guard`, if any (register_guard): e.g. a bill reminder is
  skipped when the bill was paid after it was queued;
- waits for the shared rate limit (every path, the local sink included, so offline mode
  paces like production), then without a Twilio account (the default) delivers to the
  local sink, or sends with the official twilio library (aiohttp client, explicit
  timeout; ValidityPeriod from `valid_until`; MessagingServiceSid or From);
- retries 429, 5xx and network errors with exponential backoff and jitter, up to
  SMS_MAX_ATTEMPTS; records permanent errors (21610, 21211, 21614, any other 4xx)
  without retrying; after a timeout, checks Twilio before resending, so a message
  is not sent twice;
- on 401 (our credentials rejected, e.g. a rotated token) pauses sending for every desk
  and raises one supervisor alert (bot.sms.pause): messages stay queued, one probe send
  goes out now and then, and the first that succeeds resumes sending.
Work is shared through the outbox's consumer group; entries a crashed worker held
are reclaimed with XAUTOCLAIM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.http import REDIS, WORKERS
from bot.sms import optout, outbox, pause
from bot.sms.quiet_hours import release_time
from bot.sms.ratelimit import RateLimiter
from bot.sms.settings import SmsSettings, status_callback_url
from bot.sms.twilio_http import RebasedAsyncHttpClient
from bot.streams import consumer_name
from bot.tasks import Periodic, Workers

logger = logging.getLogger(__name__)

# Twilio error codes that no retry can fix, and what they mean.
PERMANENT_ERRORS = {
    21610: "recipient has opted out (replied STOP)",
    21211: "invalid 'To' phone number",
    21614: "'To' number is not a valid mobile number",
    21408: "sending to this region is not enabled",
    21612: "cannot route to this number",
    21617: "body exceeds 1,600 characters",
}
QUIET_HOURS_JITTER_S = 300.0  # spread the morning release over a few minutes
READ_BLOCK_MS = 1000
# Twilio's ValidityPeriod bounds in seconds: the 2010 API spec accepts 1..36000, the
# library documents 14,400 as the default and maximum; we keep to the stricter.
VALIDITY_MIN_S = 1
VALIDITY_MAX_S = 14_400

# Pre-send checks, by guard name: an outbox message with guard "name:argument" is sent only
# if GUARDS[name](redis, argument) returns None; otherwise it is skipped with the returned
# reason. Domain packages register theirs at desk setup (the sender knows none of them).
Guard = Callable[[aioredis.Redis, str], Awaitable[str | None]]
GUARDS: dict[str, Guard] = {}


def register_guard(name: str, check: Guard) -> None:
    """Registers the pre-send check for outbox guards "name:..." (see GUARDS)."""
    GUARDS[name] = check


def validity_period(valid_until: float, now: float) -> int:
    """Twilio's ValidityPeriod for a message valid until `valid_until`: the whole seconds
    left, clamped to what Twilio accepts."""
    return max(VALIDITY_MIN_S, min(VALIDITY_MAX_S, math.floor(valid_until - now)))


def valid_until_of(message: outbox.OutboxMessage) -> float | None:
    raw = message.fields.get("valid_until") or ""
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@dataclass
class SendError(Exception):
    retry: bool
    code: str
    message: str
    verify: bool = False  # the request may have reached Twilio
    auth: bool = False  # Twilio rejected our credentials: pause, never fail the message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def classify(exc: TwilioRestException) -> SendError:
    code = str(exc.code or exc.status)
    if exc.status == 401:
        # Not this message's fault: every message would fail alike until the
        # credentials are fixed (bot.sms.pause).
        reason = exc.msg or "authentication failed"
        return SendError(True, code, f"HTTP 401: {reason}"[:300], auth=True)
    if exc.status == 429 or exc.status >= 500:
        return SendError(True, code, f"HTTP {exc.status}: {exc.msg}"[:300])
    reason = PERMANENT_ERRORS.get(exc.code or 0, exc.msg or "rejected")
    return SendError(False, code, f"HTTP {exc.status}: {reason}"[:300])


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random."""
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class TwilioTransport:
    """Messages.create through the official library, asynchronously."""

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self.http = RebasedAsyncHttpClient(settings.api_base, timeout=settings.send_timeout_s)
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self.http)

    async def send(self, message: outbox.OutboxMessage) -> tuple[str, str]:
        """(Twilio SID, Twilio status) or raises SendError."""
        kwargs: dict[str, object] = {"to": message.to, "body": message.body}
        if self.settings.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.settings.messaging_service_sid
        else:
            kwargs["from_"] = self.settings.from_number
        callback = status_callback_url(self.settings, message.id)
        if callback:
            kwargs["status_callback"] = callback
        valid_until = valid_until_of(message)
        if valid_until is not None:
            kwargs["validity_period"] = validity_period(valid_until, time.time())
        try:
            created = await asyncio.wait_for(
                self.client.messages.create_async(**kwargs), timeout=self.settings.send_timeout_s
            )
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(True, "network", f"{type(exc).__name__}: {exc}"[:300], True) from exc
        return str(created.sid), str(created.status or "queued")

    async def find_sent(self, message: outbox.OutboxMessage) -> tuple[str, str] | None:
        """A message Twilio already accepted for this attempt (same To and Body, created
        after the attempt began), or None. Raises SendError if Twilio can't be asked."""
        since = datetime.fromtimestamp(message.attempt_started - 60, tz=timezone.utc)
        try:
            # One page of the newest messages to this number is enough: we look for
            # something created seconds ago.
            recent = await asyncio.wait_for(
                self.client.messages.page_async(to=message.to, page_size=20),
                timeout=self.settings.send_timeout_s,
            )
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(True, "network", f"{type(exc).__name__}: {exc}"[:300], True) from exc
        for item in recent:
            created = item.date_created
            if item.body == message.body and (created is None or created >= since):
                return str(item.sid), str(item.status or "queued")
        return None

    async def close(self) -> None:
        await self.http.close()


class Sender:
    def __init__(
        self,
        redis: aioredis.Redis,
        settings: SmsSettings,
        transport: TwilioTransport | None = None,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.transport = transport
        self.limiter = RateLimiter(redis, settings.rate_per_sec)
        self.consumer = consumer or consumer_name()
        # stop() lets a round finish before cancelling: a message half sent is resumed
        # only after reclaim_idle_s, and cancelling redis-py 4.6 mid-command is fragile.
        self.stopping = False
        self.active = 0  # rounds under way (reading, sending)
        self._idle = asyncio.Event()
        self._idle.set()
        self._group_ready = False

    # ---- one message -------------------------------------------------------------------

    async def process(self, entry_id: str | None, message_id: str, probe: bool = False) -> str:
        """Handles one outbox entry; returns the message's status afterwards (for tests).
        `probe`: this worker holds the paused queue's probe turn (bot.sms.pause)."""
        state, message = await outbox.claim(self.redis, message_id)
        if message is None:
            if entry_id:
                await outbox.ack(self.redis, entry_id)
            return state
        valid_until = valid_until_of(message)
        if valid_until is not None and valid_until <= time.time():
            return await self._expire(entry_id, message)
        if await self._blocked_by_opt_out(message):
            await outbox.finish(
                self.redis,
                message.id,
                entry_id,
                status="skipped",
                reason=outbox.SKIPPED_OPTED_OUT,
                error="not sent: the customer opted out of SMS (STOP)",
            )
            return "skipped"
        if not message.urgent and message.kind not in outbox.QUIET_HOURS_EXEMPT:
            until = release_time(self.settings.quiet_hours, datetime.now(timezone.utc))
            if until is not None:
                due = until.timestamp() + random.uniform(0, QUIET_HOURS_JITTER_S)
                if valid_until is not None and due >= valid_until:
                    return await self._expire(entry_id, message)  # it would arrive too late
                await outbox.defer(self.redis, message.id, entry_id, due=due, reason="quiet_hours")
                return "deferred"
        guard = message.fields.get("guard") or ""
        if guard:
            reason = await self._guard_says(guard)
            if reason:
                await outbox.finish(
                    self.redis,
                    message.id,
                    entry_id,
                    status="skipped",
                    reason=reason,
                    error=f"not sent: guard {guard} says {reason}",
                )
                return "skipped"
        if self.transport is None:
            slot = await self.limiter.acquire()
            await outbox.deliver_local(self.redis, message, entry_id, rate_slot_at=slot)
            return "delivered"
        return await self._send(entry_id, message, resumed=state == "resume", probe=probe)

    async def _expire(self, entry_id: str | None, message: outbox.OutboxMessage) -> str:
        await outbox.finish(
            self.redis,
            message.id,
            entry_id,
            status="expired",
            reason="expired",
            error="not sent: its validity period ended before it could go out",
        )
        return "expired"

    async def _guard_says(self, guard: str) -> str | None:
        """The reason to skip, from the guard's check; an exception (e.g. the account
        backend is down) leaves the entry pending, to be retried when reclaimed."""
        name, _, argument = guard.partition(":")
        check = GUARDS.get(name)
        if check is None:
            # No check registered in this process: sending is the lesser harm (a reminder
            # after payment) than silently dropping every guarded message.
            logger.error("no guard %r registered; sending anyway", name)
            return None
        return await check(self.redis, argument)

    async def _blocked_by_opt_out(self, message: outbox.OutboxMessage) -> bool:
        record = await optout.record(self.redis, message.to)
        if record is None:
            return False
        return not outbox.may_reach_opted_out(
            message,
            float(record.get("at") or 0),
            time.time(),
            self.settings.reply_window_s,
        )

    async def _send(
        self, entry_id: str | None, message: outbox.OutboxMessage, resumed: bool, probe: bool
    ) -> str:
        assert self.transport is not None
        was_paused = await pause.paused(self.redis) is not None
        if was_paused and not probe:
            # Another desk met a 401: keep the message queued until a probe succeeds.
            await outbox.defer(
                self.redis,
                message.id,
                entry_id,
                due=time.time() + self.settings.auth_probe_s,
                reason="paused",
                error="sending paused: Twilio rejected our credentials",
                verify=message.verify,
            )
            return "deferred"
        try:
            if (resumed or message.verify) and message.attempts > 0:
                # The last attempt may have reached Twilio (crash or timeout): never send twice.
                found = await self.transport.find_sent(message)
                if found is not None:
                    await outbox.mark_sent(
                        self.redis,
                        message.id,
                        entry_id,
                        twilio_sid=found[0],
                        twilio_status=found[1],
                    )
                    return "sent"
            slot = await self.limiter.acquire()
            attempt = await outbox.begin_attempt(self.redis, message.id, rate_slot_at=slot)
            sid, status = await self.transport.send(message)
        except SendError as err:
            return await self._failed(entry_id, message, err)
        await outbox.mark_sent(
            self.redis, message.id, entry_id, twilio_sid=sid, twilio_status=status
        )
        logger.info("SMS %s to %s sent (attempt %d)", message.id, message.to, attempt)
        if was_paused and await pause.resume(self.redis) is not None:
            logger.warning("Twilio accepted our credentials again: SMS sending resumed")
        return "sent"

    async def _failed(
        self, entry_id: str | None, message: outbox.OutboxMessage, err: SendError
    ) -> str:
        attempts = int(await self.redis.hget(outbox.msg_key(message.id), "attempts") or 0)
        if err.auth:
            episode, began = await pause.pause(self.redis, err.message)
            if began:
                logger.error(
                    "Twilio rejected our credentials (%s): SMS sending paused for every desk "
                    "(episode %s); messages stay queued",
                    err,
                    episode,
                )
            else:
                logger.info("SMS %s: credentials still refused (%s)", message.id, err)
            await outbox.defer(
                self.redis,
                message.id,
                entry_id,
                due=time.time() + self.settings.auth_probe_s,
                reason="paused",
                error=err.message,
                error_code=err.code,
                verify=err.verify,
            )
            return "deferred"
        if not err.retry:
            logger.warning("SMS %s to %s rejected: %s", message.id, message.to, err)
            if err.code == "21610":  # Twilio knows of a STOP we missed: remember it first
                await optout.opt_out(self.redis, message.to, source="twilio:21610")
            await outbox.finish(
                self.redis,
                message.id,
                entry_id,
                status="failed",
                error=err.message,
                error_code=err.code,
            )
            return "failed"
        if attempts >= self.settings.max_attempts:
            logger.error(
                "SMS %s to %s failed after %d attempts: %s",
                message.id,
                message.to,
                attempts,
                err,
            )
            await outbox.finish(
                self.redis,
                message.id,
                entry_id,
                status="failed",
                error=f"gave up after {attempts} attempts: {err.message}",
                error_code=err.code,
            )
            return "failed"
        delay = backoff(attempts, self.settings.retry_base_s, self.settings.retry_cap_s)
        await outbox.defer(
            self.redis,
            message.id,
            entry_id,
            due=time.time() + delay,
            reason="retry",
            error=err.message,
            error_code=err.code,
            verify=err.verify,
        )
        return "deferred"

    # ---- loops -------------------------------------------------------------------------

    async def _safe_process(
        self, entry_id: str, fields: dict[str, str] | None, probe: bool = False
    ) -> None:
        if not fields or "id" not in fields:  # deleted entry still pending: just ack it
            await outbox.ack(self.redis, entry_id)
            return
        try:
            await self.process(entry_id, fields["id"], probe=probe)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left pending: XAUTOCLAIM hands it to a worker again after reclaim_idle_s.
            logger.exception("outbox entry %s (%s) failed", entry_id, fields.get("id"))

    @contextlib.asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        self.active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()

    async def read_once(self, consumer: str) -> None:
        """One round of a worker: waits up to 1 s for a new entry and handles it."""
        if self.stopping:  # shutting down: take nothing new; stop() cancels us while we wait
            await asyncio.Event().wait()
        probe = False
        if self.transport is not None and await pause.paused(self.redis) is not None:
            # Paused (Twilio refused our credentials): read nothing, so messages stay in
            # the stream, except one probe send per auth_probe_s across every desk.
            probe = await pause.may_probe(self.redis, consumer, self.settings.auth_probe_s)
            if not probe:
                await asyncio.sleep(min(1.0, self.settings.auth_probe_s))
                return
        async with self._busy():
            if not self._group_ready:  # here, not at startup: the desk starts without Redis
                await outbox.ensure_group(self.redis)
                self._group_ready = True
            try:
                batches = await self.redis.xreadgroup(
                    outbox.GROUP, consumer, {outbox.STREAM: ">"}, count=1, block=READ_BLOCK_MS
                )
            except RedisError as exc:
                self._group_ready = self._group_ready and "NOGROUP" not in str(exc)
                raise
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    await self._safe_process(entry_id, fields, probe)

    async def housekeeping_once(self) -> int:
        """Releases due deferred messages and reclaims stale pending ones; returns reclaimed."""
        await outbox.release_due(self.redis)
        reply = await self.redis.xautoclaim(
            outbox.STREAM,
            outbox.GROUP,
            f"{self.consumer}-reclaim",
            min_idle_time=int(self.settings.reclaim_idle_s * 1000),
            start_id="0-0",
            count=50,
        )
        claimed = reply[1] if len(reply) > 1 else []
        for entry_id, fields in claimed:
            logger.warning("outbox entry %s reclaimed from a stalled worker", entry_id)
            await self._safe_process(entry_id, fields)
        return len(claimed)

    async def reclaim_once(self) -> None:
        if self.stopping:
            return
        async with self._busy():
            await self.housekeeping_once()

    def start(self, workers: Workers) -> list[Periodic]:
        """Starts the readers, the release of due deferred messages (every second) and the
        reclaim of stalled entries, on `workers`; stop them with stop()."""
        self.stopping = False
        readers = [
            workers.periodic(f"sms_sender_{i}", partial(self.read_once, f"{self.consumer}-{i}"), 0)
            for i in range(self.settings.concurrency)
        ]
        reclaim_every = max(1.0, min(30.0, self.settings.reclaim_idle_s / 4))
        return [
            *readers,
            workers.periodic("sms_outbox_release", partial(outbox.release_due, self.redis), 1.0),
            workers.periodic("sms_outbox_reclaim", self.reclaim_once, reclaim_every),
        ]

    async def stop(self, tasks: list[Periodic], timeout: float = 5.0) -> None:
        """Lets the workers finish their current round (a blocking read ends within 1 s,
        then its message is handled), then stops them. A message left unfinished stays
        pending and is reclaimed."""
        self.stopping = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        for task in tasks:
            await task.stop()


async def _sender_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = SmsSettings.from_env()
    transport = TwilioTransport(settings) if settings.live else None
    if transport is None:
        logger.info("no Twilio account configured: SMS go to the local sink (%s)", "kefu:sms:sink")
    worker = Sender(app[REDIS], settings, transport)
    tasks = worker.start(app[WORKERS])
    try:
        yield
    finally:
        await worker.stop(tasks)
        if transport is not None:
            await transport.close()


def setup(app: web.Application) -> None:
    """Desk capability: the outbox sender's workers (the outbox API and the delivery status
    callbacks are bot.sms.api and bot.sms.delivery_status)."""
    app.cleanup_ctx.append(_sender_ctx)
