"""SMS input channel for Twilio webhooks (credentials.yml: `bot.sms.channel.SmsInput:`).

Unlike rasa.core.channels.twilio it:
- checks X-Twilio-Signature over the public URL and every form field: unsigned or
  tampered requests get 403 and are never processed;
- acknowledges with empty TwiML at once and runs the bot turn in the background
  (Twilio gives up after 15 s), with the message recorded in Redis first, so a crash
  mid-turn is recovered by another process;
- processes each MessageSid once, however often Twilio redelivers it;
- handles STOP/START/HELP (and 退订/TD/订阅/帮助) itself, and Twilio's OptOutType;
- sends nothing directly: bot replies go into the durable outbox (bot.sms.outbox),
  split and segment-counted, and the desk's sender delivers them;
- answers bad input with a 4xx JSON {"error", "field"}, never a 500.

Routes (Rasa mounts them under /webhooks/sms/): POST webhook, POST status, GET /.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.events import ActiveLoop, SlotSet
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db, logmask
from bot.phones import InvalidPhone, to_e164
from bot.sms import inbox, optout, outbox
from bot.sms.keywords import Keyword, Keywords, from_twilio, load_keywords, load_texts
from bot.sms.render import render
from bot.sms.settings import Retention, SmsSettings
from bot.sms.webhook import (
    SIGNATURE_HEADER,
    FormParams,
    WebhookError,
    parse_form,
    public_url,
    signature_valid,
)
from bot.text import ascii_int, is_ascii_digits

logger = logging.getLogger(__name__)
# credentials.yml makes every Rasa process import this module: mask phones in all its logs.
logmask.install()

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_BODY_CHARS = 1600  # the most Twilio delivers in one inbound SMS
MAX_MEDIA = 10
# Used with fullmatch: "$" alone would let a trailing newline through.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
OUTBOX_ID = re.compile(r"OB[0-9a-f]{12,40}")
# A turn that failed this many times gets the error text instead of another try.
MAX_TURN_ATTEMPTS = 3
BUTTONS_TTL_S = 24 * 3600
# Slots an opt-out that ends a form leaves alone: the conversation's, not the form's.
KEPT_SLOTS = frozenset({"phone", "language"})

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def conversation_id(phone: str) -> str:
    """The same phone always continues the same conversation."""
    return f"sms:{phone}"


def phone_of(conversation: str) -> str | None:
    if not conversation.startswith("sms:"):
        return None
    try:
        return to_e164(conversation[4:])
    except InvalidPhone:
        return None


def buttons_key(conversation: str) -> str:
    return f"kefu:sms:buttons:{conversation}"


def last_inbound_key(phone: str) -> str:
    """When the customer last wrote (not counting STOP/START/HELP): what an agent's
    message answers, for the opt-out rule (outbox.may_reach_opted_out)."""
    return f"kefu:sms:last_inbound:{phone}"


def _json_error(status: int, field: str | None, message: str) -> HTTPResponse:
    body = {"error": message}
    if field:
        body["field"] = field
    return response.json(body, status=status)


class SmsTurnOutput(OutputChannel):
    """Collects the bot's messages for one turn; the channel enqueues them as one reply."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.parts: list[str] = []
        self.payloads: list[str] = []

    @classmethod
    def name(cls) -> str:
        return "sms"  # response variants with `channel: sms` are chosen for SMS

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text, payloads = render(message, self.texts, first_number=len(self.payloads) + 1)
        if text:
            self.parts.append(text)
        self.payloads.extend(payloads)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    def text(self) -> str:
        return "\n".join(self.parts)


class SmsOutboxOutput(OutputChannel):
    """Bot messages outside a customer's turn (agent replies, proactive turns): each goes to
    the outbox at once. A response's metadata may set `sms_kind` (agent, notice, survey,
    reminder), `urgent` and `idempotency_key`."""

    def __init__(self, channel: SmsInput, default_kind: str = "agent") -> None:
        self.channel = channel
        self.default_kind = default_kind

    @classmethod
    def name(cls) -> str:
        return "sms"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        phone = phone_of(recipient_id)
        if phone is None:
            logger.warning("SMS output for a non-SMS conversation ignored: %s", recipient_id)
            return
        text, payloads = render(message, self.channel.texts)
        if not text:
            return
        kind = str(message.get("sms_kind") or self.default_kind)
        key = message.get("idempotency_key")
        if not key:
            # The console supplies one key per composed message, so its retries send once;
            # without one, the bot event's timestamp is the next best thing.
            if kind == "agent":
                logger.warning("agent SMS without an idempotency key for %s", phone)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            key = f"{kind}:{recipient_id}:{message.get('timestamp') or time.time()}:{digest}"
        redis = self.channel.redis()
        answers_at = None
        if kind in outbox.OPT_OUT_EXEMPT:
            last = await redis.get(last_inbound_key(phone))
            answers_at = float(last) if last else None
        if payloads:  # e.g. a return-visit survey's 1-5: the customer answers by number
            await self.channel.remember_buttons(recipient_id, payloads)
        await outbox.enqueue(
            redis,
            phone,
            text,
            kind=kind,
            urgent=bool(message.get("urgent")),
            idempotency_key=str(key),
            conversation_id=recipient_id,
            answers_at=answers_at,
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})


class SmsInput(InputChannel):
    """Twilio Programmable Messaging webhooks, hardened."""

    @classmethod
    def name(cls) -> str:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Secrets come only from the environment; credentials.yml may set the public URL.
        settings = SmsSettings.from_env()
        if credentials and credentials.get("public_url"):
            settings = replace(settings, public_url=str(credentials["public_url"]).rstrip("/"))
        return cls(settings)

    def __init__(
        self,
        settings: SmsSettings | None = None,
        keywords: Keywords | None = None,
        texts: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or SmsSettings.from_env()
        self.keywords = keywords or load_keywords()
        self.texts = texts or load_texts()
        self._redis: aioredis.Redis | None = None
        self._tasks: set[asyncio.Task] = set()
        self._reclaimer: asyncio.Task | None = None
        self._app: Any = None  # the Sanic app Rasa runs us in (its ctx.agent), once started
        self._inflight: set[str] = set()  # MessageSids this process is handling
        # Rasa runs NLU and policies on the event loop; few turns at a time keep the loop
        # free enough to acknowledge new webhooks within milliseconds.
        self._turn_slots = asyncio.Semaphore(self.settings.turn_concurrency)
        if not self.settings.auth_token:
            logger.error("TWILIO_AUTH_TOKEN is not set: every SMS webhook will be refused (403)")

    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = db.connect(self.settings.redis_url)
        return self._redis

    def get_output_channel(self) -> OutputChannel:
        return SmsOutboxOutput(self)

    # ---- HTTP -------------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("sms_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.receive(request, on_new_message)

        @bp.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            return await self.status_callback(request)

        @bp.listener("after_server_start")
        async def start(_app: Any, _loop: Any) -> None:
            self._app = _app
            self.start_reclaimer(on_new_message)

        @bp.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.close()

        return bp

    def _authenticate(self, request: Request) -> FormParams:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookError(403, SIGNATURE_HEADER, f"{SIGNATURE_HEADER} header is required")
        if not self.settings.auth_token:
            raise WebhookError(403, SIGNATURE_HEADER, "signatures cannot be checked: no auth token")
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise WebhookError(
                415, "Content-Type", "Content-Type must be application/x-www-form-urlencoded"
            )
        params = parse_form(request.body or b"")
        url = public_url(self.settings.public_url, request.url, request.path, request.query_string)
        if not signature_valid(self.settings.auth_token, url, params, signature):
            logger.warning("SMS webhook with a bad signature refused (url %s)", url)
            raise WebhookError(403, SIGNATURE_HEADER, "signature does not match the request")
        return params

    @staticmethod
    def _parse_message(params: FormParams) -> dict[str, Any]:
        """The fields we use, validated; raises WebhookError naming the bad field."""
        sid = params.first("MessageSid")
        if not sid or not MESSAGE_SID.fullmatch(sid):
            raise WebhookError(400, "MessageSid", "MessageSid is missing or malformed")
        sender = params.first("From")
        if sender is None or not sender.strip():
            raise WebhookError(400, "From", "From is required")
        try:
            phone = to_e164(sender)
        except InvalidPhone as exc:
            raise WebhookError(400, "From", "From is not a valid phone number") from exc
        body = params.first("Body")
        if body is None:
            raise WebhookError(400, "Body", "Body is required (it may be blank)")
        if len(body) > MAX_BODY_CHARS:
            raise WebhookError(400, "Body", f"Body is longer than {MAX_BODY_CHARS} characters")
        num_media = ascii_int(params.first("NumMedia", "0") or "0", 0, MAX_MEDIA)
        if num_media is None:
            raise WebhookError(400, "NumMedia", f"NumMedia must be an integer 0..{MAX_MEDIA}")
        media = [
            {
                "url": params.first(f"MediaUrl{i}", ""),
                "content_type": params.first(f"MediaContentType{i}", ""),
            }
            for i in range(num_media)
        ]
        return {
            "sid": sid,
            "phone": phone,
            "body": body,
            "num_media": num_media,
            "media": media,
            "opt_out_type": params.first("OptOutType", "") or "",
            "received_at": time.time(),
        }

    async def receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        try:
            payload = self._parse_message(self._authenticate(request))
        except WebhookError as exc:
            return _json_error(exc.status, exc.field, exc.message)
        try:
            fresh = await inbox.accept(self.redis(), payload["sid"], payload)
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.exception("SMS %s not recorded: Redis unavailable", payload["sid"])
            return _json_error(503, None, "temporarily unavailable, please retry")
        if fresh:
            self._spawn(self.process(payload, on_new_message))
        else:
            logger.info("SMS %s redelivered: already processed", payload["sid"])
        return response.text(EMPTY_TWIML, content_type="text/xml")

    async def status_callback(self, request: Request) -> HTTPResponse:
        try:
            params = self._authenticate(request)
        except WebhookError as exc:
            return _json_error(exc.status, exc.field, exc.message)
        message_id = request.args.get("id")
        if message_id is not None and not OUTBOX_ID.fullmatch(message_id):
            return _json_error(400, "id", "id is not an outbox message id")
        sid = params.first("MessageSid") or params.first("SmsSid") or ""
        if not MESSAGE_SID.fullmatch(sid):
            return _json_error(400, "MessageSid", "MessageSid is missing or malformed")
        status = (params.first("MessageStatus") or params.first("SmsStatus") or "").lower()
        if status not in outbox.TWILIO_STATUSES:
            return _json_error(400, "MessageStatus", "MessageStatus is missing or unknown")
        error_code = (params.first("ErrorCode") or "").strip()
        if error_code and not is_ascii_digits(error_code):
            return _json_error(400, "ErrorCode", "ErrorCode must be numeric")
        redis = self.redis()
        try:
            found = await outbox.record_status(
                redis, message_id, twilio_sid=sid, twilio_status=status, error_code=error_code
            )
            if found and error_code == "21610":
                record = await outbox.get(redis, message_id or await redis.get(outbox.sid_key(sid)))
                if record:
                    await optout.opt_out(redis, record["to"], source="twilio:21610")
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.exception("status callback for %s not recorded", sid)
            return _json_error(503, None, "temporarily unavailable, please retry")
        if not found:
            return _json_error(404, "id", "no outbox message matches this callback")
        return response.empty(status=204)

    # ---- processing (background) ------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)

    async def process(
        self, payload: dict[str, Any], on_new_message: OnNewMessage, attempt: int = 0
    ) -> None:
        sid, phone = payload["sid"], payload["phone"]
        redis = self.redis()
        self._inflight.add(sid)
        try:
            await self._handle(payload, on_new_message)
            await inbox.done(redis, sid)
        except asyncio.CancelledError:
            raise  # shutting down: the inbox entry stays for another process
        except Exception:
            logger.exception("SMS %s from %s failed (attempt %d)", sid, phone, attempt + 1)
            if attempt + 1 >= MAX_TURN_ATTEMPTS:
                await self._give_up(payload)
        finally:
            self._inflight.discard(sid)

    async def _give_up(self, payload: dict[str, Any]) -> None:
        try:
            await self._reply(payload, self.texts["error"], key=f"error:{payload['sid']}")
            await inbox.done(self.redis(), payload["sid"])
        except Exception:
            logger.exception("could not apologise for SMS %s", payload["sid"])

    async def _reply(self, payload: dict[str, Any], text: str, key: str) -> None:
        await outbox.enqueue(
            self.redis(),
            payload["phone"],
            text,
            kind="reply",
            idempotency_key=key,
            conversation_id=conversation_id(payload["phone"]),
            answers_at=payload["received_at"],
        )

    async def _handle(self, payload: dict[str, Any], on_new_message: OnNewMessage) -> None:
        sid, phone, body = payload["sid"], payload["phone"], payload["body"]
        twilio_keyword = from_twilio(payload.get("opt_out_type"))
        keyword = twilio_keyword or self.keywords.classify(body)
        if keyword is not None:
            await self._keyword(payload, keyword, confirmed_by_twilio=twilio_keyword is not None)
            return
        await self.redis().set(
            last_inbound_key(phone),
            repr(payload["received_at"]),
            ex=Retention.from_env().outbox_s,
        )
        if not body.strip():
            text = self.texts["media_only"] if payload["num_media"] else self.texts["empty"]
            await self._reply(payload, text, key=f"reply:{sid}")
            return
        await self._turn(payload, on_new_message)
        logger.debug("SMS %s from %s answered", sid, phone)

    async def _keyword(
        self, payload: dict[str, Any], keyword: Keyword, confirmed_by_twilio: bool
    ) -> None:
        redis, phone, word = self.redis(), payload["phone"], payload["body"].strip()[:20]
        source = "twilio" if confirmed_by_twilio else "sms"
        if keyword is Keyword.STOP:
            # The law and Twilio: STOP opts out, whatever else is going on. A form the
            # customer was filling in ends too (a complaint half told must not wait for
            # answers that will never come), and the one confirmation says both.
            await optout.opt_out(redis, phone, source=source, keyword=word)
            form = await self._end_form_quietly(conversation_id(phone))
            text = self.texts["opted_out"]
            if form:
                text = self.texts.get(f"opted_out_{form}") or self.texts["opted_out_form"]
        elif keyword is Keyword.START:
            await optout.opt_in(redis, phone, source=source, keyword=word)
            text = self.texts["opted_in"]
        else:
            text = self.texts["help"]
        logger.info("SMS keyword %s from %s", keyword.value, phone)
        # Advanced Opt-Out has already answered the customer; one confirmation is enough.
        if not confirmed_by_twilio:
            await self._reply(payload, text, key=f"reply:{payload['sid']}")

    async def _end_form_quietly(self, conversation: str) -> str | None:
        try:
            return await self.end_active_form(conversation)
        except Exception:  # the opt-out stands and is confirmed even if Rasa's stores fail
            logger.exception("could not end the form of %s after an opt-out", conversation)
            return None

    async def end_active_form(self, conversation: str) -> str | None:
        """Ends the conversation's active form, if any, and clears what it had collected;
        returns the form's name. Runs under Rasa's conversation lock, like a turn.

        A form's slots: its required slots and those named after it (complaint_form:
        complaint_*, e.g. complaint_correcting), except the carrier-verified `phone`,
        which belongs to the conversation, not the form.
        """
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None or agent.tracker_store is None or agent.domain is None:
            return None  # not running inside Rasa (channel tests with a stand-in bot)
        domain = agent.domain
        async with agent.lock_store.lock(conversation):
            tracker = await agent.tracker_store.retrieve(conversation)
            form = tracker.active_loop_name if tracker is not None else None
            if tracker is None or not form:
                return None
            prefix = form.removesuffix("_form") + "_"
            required = (domain.forms.get(form) or {}).get("required_slots") or []
            slots = [
                slot.name
                for slot in domain.slots
                if (slot.name in required or slot.name.startswith(prefix))
                and slot.name not in KEPT_SLOTS
            ]
            events = [
                ActiveLoop(None),
                SlotSet(REQUESTED_SLOT, None),
                *(SlotSet(name, None) for name in slots),
            ]
            for event in events:
                tracker.update(event, domain)
            await agent.tracker_store.save(tracker)
        logger.info("form %s of %s ended by an opt-out", form, conversation)
        return form

    async def _turn(self, payload: dict[str, Any], on_new_message: OnNewMessage) -> None:
        sid, phone = payload["sid"], payload["phone"]
        conversation = conversation_id(phone)
        redis = self.redis()
        text = payload["body"]
        choice = ascii_int(text.strip(), lo=1)
        if choice is not None:
            # A number answers the numbered choices (buttons) we sent last. Anything else
            # ("①", "٣") is ordinary text: the bot answers it politely, never a crash.
            raw = await redis.get(buttons_key(conversation))
            options = json.loads(raw) if raw else []
            if choice <= len(options):
                text = options[choice - 1]
        metadata: dict[str, Any] = {
            "MessageSid": sid,
            "NumMedia": payload["num_media"],
            "phone": phone,
            "channel": "sms",
        }
        for i, media in enumerate(payload["media"]):
            metadata[f"MediaUrl{i}"] = media["url"]
            metadata[f"MediaContentType{i}"] = media["content_type"]
        output = SmsTurnOutput(self.texts)
        message = UserMessage(
            text,
            output,
            conversation,
            input_channel=self.name(),
            message_id=sid,
            metadata=metadata,
        )
        try:
            async with self._turn_slots:
                await asyncio.wait_for(
                    on_new_message(message), timeout=self.settings.turn_timeout_s
                )
        except asyncio.TimeoutError:
            logger.error("bot turn for SMS %s timed out", sid)
            output.parts.append(self.texts["error"])
        # Store the choices before the reply can reach the customer, so a quick "2"
        # always finds them.
        await self.remember_buttons(conversation, output.payloads)
        if output.parts:
            await self._reply(payload, output.text(), key=f"reply:{sid}")

    async def remember_buttons(self, conversation: str, payloads: list[str]) -> None:
        if payloads:
            await self.redis().set(
                buttons_key(conversation),
                json.dumps(payloads, ensure_ascii=False),
                ex=BUTTONS_TTL_S,
            )
        else:
            await self.redis().delete(buttons_key(conversation))

    # ---- recovery and shutdown ---------------------------------------------------------

    def start_reclaimer(self, on_new_message: OnNewMessage) -> None:
        if self._reclaimer is None:
            self._reclaimer = asyncio.create_task(self._reclaim_loop(on_new_message))

    async def reclaim_once(self, on_new_message: OnNewMessage) -> int:
        """Re-runs messages whose turn no process finished (e.g. a crash); returns how many."""
        # Our own queued and running turns are alive: refresh them so no one reclaims them.
        await inbox.heartbeat(self.redis(), self._inflight)
        items = await inbox.reclaim(self.redis(), self.settings.reclaim_idle_s)
        started = 0
        for sid, payload, attempts in items:
            if sid in self._inflight:
                continue
            logger.warning(
                "SMS %s reclaimed after an unfinished turn (attempt %d)", sid, attempts + 1
            )
            self._spawn(self.process(payload, on_new_message, attempt=attempts))
            started += 1
        return started

    async def _reclaim_loop(self, on_new_message: OnNewMessage) -> None:
        interval = max(1.0, min(30.0, self.settings.reclaim_idle_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reclaim_once(on_new_message)
            except Exception:  # keep the loop alive through Redis hiccups
                logger.exception("SMS inbox reclaim failed")

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for background turns (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        if self._reclaimer is not None:
            self._reclaimer.cancel()
            self._reclaimer = None
        await self.drain()
        if self._redis is not None:
            await self._redis.close()
            self._redis = None
