"""The bot turn for one inbound SMS, claimed from the inbox (bot.sms.consumer).

STOP/START/HELP (and 退订/TD/订阅/帮助, and Twilio's OptOutType) are answered here
without the bot; a digit answers the numbered choices sent last; anything else is a
UserMessage to Rasa. A new number's first answer is followed by a menu (bot.sms.menu).
The reply goes into the outbox under `reply:<MessageSid>`, so a turn run twice (crash
recovery, bot.sms.recovery) queues one reply. A turn that fails
MAX_TURN_ATTEMPTS times gets the error text instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.events import ActiveLoop, SlotSet

from bot import action_retry
from bot.language import DEFAULT, SUPPORTED, detect_language
from bot.sms import inbox, optout, outbox
from bot.sms.conversation import (
    button_choices,
    conversation_id,
    last_inbound_key,
    remember_buttons,
)
from bot.sms.keywords import Keyword, Keywords, from_twilio
from bot.sms.menu import Menu, is_first_contact
from bot.sms.output import SmsTurnOutput
from bot.sms.settings import Retention, SmsSettings
from bot.text import ascii_int

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

# A turn that failed this many times gets the error text instead of another try.
MAX_TURN_ATTEMPTS = 3
# Slots an opt-out that ends a form leaves alone: the conversation's, not the form's.
KEPT_SLOTS = frozenset({"phone", "language"})


class TurnRunner:
    """Runs turns as background tasks of one process, and knows which are in flight."""

    def __init__(
        self,
        settings: SmsSettings,
        keywords: Keywords,
        texts: dict[str, str],
        redis: Callable[[], aioredis.Redis],
        menu: Menu | None,
    ) -> None:
        self.settings = settings
        self.keywords = keywords
        self.texts = texts
        self.menu = menu  # None: no first-contact menu
        self._redis = redis
        self.app: Any = None  # the Sanic app Rasa runs us in (its ctx.agent), once started
        self.inflight: set[str] = set()  # MessageSids this process is handling
        self._tasks: set[asyncio.Task[None]] = set()
        # Turns this process runs at once. Rasa runs NLU and policies on its event loop, so
        # more would only queue there; the inbox consumer claims a message only when a slot
        # is free, which leaves the queue to replicas with room.
        self.slots = asyncio.Semaphore(settings.turn_concurrency)

    def start(
        self,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
        attempt: int = 0,
        slot_held: bool = False,
    ) -> None:
        """Runs the turn in the background; `slot_held`: the caller acquired its slot."""
        self._spawn(self.process(payload, on_new_message, attempt, slot_held))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for background turns (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def process(
        self,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
        attempt: int = 0,
        slot_held: bool = False,
    ) -> None:
        sid, phone = payload["sid"], payload["phone"]
        self.inflight.add(sid)
        try:
            if not slot_held:
                await self.slots.acquire()
        except BaseException:
            self.inflight.discard(sid)
            raise
        try:
            await self._handle(payload, on_new_message)
            await inbox.done(self._redis(), sid)
        except asyncio.CancelledError:
            raise  # shutting down: the inbox entry stays for another process
        except Exception:
            logger.exception("SMS %s from %s failed (attempt %d)", sid, phone, attempt + 1)
            if attempt + 1 >= MAX_TURN_ATTEMPTS:
                await self._give_up(payload)
        finally:
            self.slots.release()
            self.inflight.discard(sid)

    async def _give_up(self, payload: dict[str, Any]) -> None:
        try:
            await self._reply(payload, self.texts["error"], key=f"error:{payload['sid']}")
            await inbox.done(self._redis(), payload["sid"])
        except Exception:
            logger.exception("could not apologise for SMS %s", payload["sid"])

    async def _reply(self, payload: dict[str, Any], text: str, key: str) -> None:
        await outbox.enqueue(
            self._redis(),
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
        await self._redis().set(
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
        redis, phone, word = self._redis(), payload["phone"], payload["body"].strip()[:20]
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
        # Looked up on each call: Rasa replaces the agent when a new model is loaded.
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
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
        return str(form)

    async def _handed_over(self, conversation: str) -> bool:
        """Whether the bot paused the conversation for a person (action_handoff): a menu
        of what the bot can do would only confuse a customer waiting for an agent."""
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
        if agent is None or agent.tracker_store is None:
            return False  # not running inside Rasa (channel tests with a stand-in bot)
        tracker = await agent.tracker_store.retrieve(conversation)
        return bool(tracker is not None and tracker.is_paused())

    async def _language(self, conversation: str, body: str) -> str:
        """The language of the message, else the conversation's `language` slot."""
        detected = detect_language(body)
        if detected:
            return detected
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
        if agent is not None and agent.tracker_store is not None:
            tracker = await agent.tracker_store.retrieve(conversation)
            slot = tracker.get_slot("language") if tracker is not None else None
            if slot in SUPPORTED:
                return str(slot)
        return DEFAULT

    async def _turn(self, payload: dict[str, Any], on_new_message: OnNewMessage) -> None:
        sid, phone = payload["sid"], payload["phone"]
        conversation = conversation_id(phone)
        redis = self._redis()
        text = payload["body"]
        choice = ascii_int(text.strip(), lo=1)
        if choice is not None:
            # A number answers the numbered choices (buttons) we sent last. Anything else
            # ("①", "٣") is ordinary text: the bot answers it politely, never a crash.
            options = await button_choices(redis, conversation)
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
            input_channel=output.name(),
            message_id=sid,
            metadata=metadata,
        )
        timed_out = False
        try:
            with action_retry.watch() as calls:
                await asyncio.wait_for(
                    on_new_message(message), timeout=self.settings.turn_timeout_s
                )
        except asyncio.TimeoutError:
            logger.error("bot turn for SMS %s timed out", sid)
            output.parts.append(self.texts["error"])
            timed_out = True  # that text apologises already
        # Rasa goes on quietly when a custom action fails (the action server down): the
        # customer hears that this message was not handled, never nothing.
        apologise = not timed_out and calls.needs_apology(answered=bool(output.parts))
        if apologise:
            logger.warning("SMS %s: actions %s failed; apologising", sid, calls.failed)
            language = await self._language(conversation, payload["body"])
            output.parts.append(self.texts[f"unanswered_{language}"])
        # A new number's first answer is followed by the menu, unless that answer has
        # choices of its own or handed the customer to a person.
        menu = None if apologise else self.menu
        if menu and not await is_first_contact(redis, phone, sid, menu.remember_s):
            menu = None
        if output.payloads or not output.parts or (menu and await self._handed_over(conversation)):
            menu = None
        # Store the choices before the reply can reach the customer, so a quick "2"
        # always finds them.
        await remember_buttons(redis, conversation, menu.choices if menu else output.payloads)
        if output.parts:
            await self._reply(payload, output.text(), key=f"reply:{sid}")
        if menu:
            await self._reply(payload, menu.text_for(payload["body"]), key=f"menu:{sid}")
