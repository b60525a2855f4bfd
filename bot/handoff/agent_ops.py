"""What an agent does to a conversation, in Redis (the handoff store) and in Rasa.

Redis decides (atomically) who may do what; Rasa is then told through its HTTP API, so
every message reaches the customer on their own channel and stays in the transcript:

- claim:     queued -> agent; the customer is told an agent has joined (by name);
- reply:     a BotUttered with the agent's name in its metadata, sent on the customer's
             channel (web widget via socket.io, SMS via the outbox). The console sends one
             idempotency key per composed message and reuses it on retry: the key is
             reserved in Redis before Rasa is called, so a retry sends nothing new;
- hand back: agent -> bot; ConversationResumed, and the bot says the assistant is back;
- close:     -> closed; ConversationResumed too (the customer is never left talking to
             nobody), with a closing message;
- expire:    queued -> closed when nobody claimed it within queue.yml's queue_timeout_s;
             the bot resumes, says so, and offers a callback ticket (the same offer as
             when no agent is online: the customer answers yes or no).

A hand-back, close or expiry that Rasa did not confirm stays in `pending_sync` and is
retried by retry_pending() (the worker bot/handoff/retry.py, in every desk process), so a
customer is never left paused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.handoff.errors import HandoffError
from bot.handoff.policy import Messages
from bot.handoff.rasa_client import RasaClient, RasaError, bot_event
from bot.handoff.store import AGENT, BOT, CLOSED, EXPIRED_BY, Conversation, HandoffStore

log = logging.getLogger(__name__)

OUTPUT_CHANNELS = ("socketio", "sms")  # input channels whose output Rasa can recreate
MAX_REPLY = 1600
SYNC_RETRY_AFTER_S = 15.0
SYNC_LOCK_S = 30
# The console's key for one composed reply (console.js makes 32 hex characters).
REPLY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REPLY_PREFIX = "kefu:handoff:reply:"
REPLY_LEASE_MS = 30_000  # an attempt in flight holds the key this long
REPLY_RETENTION_S = 24 * 3600  # a retry later than this would be a new message
CALLBACK_OFFERED_SLOT = "handoff_callback_offered"  # actions/handoff.py's callback offer

# KEYS[1] = the reply's record; ARGV = now (ms), lease (ms), agent, retention (s).
# 'fresh': never tried; 'check': an earlier attempt may have reached Rasa (look there
# first); 'busy': an attempt is in flight; 'sent': done, send nothing.
_BEGIN_REPLY = """
local state = redis.call('HGET', KEYS[1], 'state')
local now = tonumber(ARGV[1])
if state == 'sent' then return 'sent' end
if state == 'sending' and tonumber(redis.call('HGET', KEYS[1], 'lease') or '0') > now then
  return 'busy'
end
redis.call('HSET', KEYS[1], 'state', 'sending', 'lease', now + tonumber(ARGV[2]),
           'agent', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if state then return 'check' end
return 'fresh'
"""


@dataclass(frozen=True)
class Staff:
    """The console user acting (see bot.desk.users)."""

    username: str
    display_name: str
    role: str  # agent | supervisor

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


# (staff, language) -> the name the customer sees
NameFor = Callable[[Staff, str], str]
# username -> the console user (None if unknown)
Lookup = Callable[[str], Awaitable[Staff | None]]


def _default_name(staff: Staff, _language: str) -> str:
    return staff.display_name


async def _no_lookup(_username: str) -> Staff | None:
    return None


def output_channel(conversation: Conversation) -> str:
    return conversation.channel if conversation.channel in OUTPUT_CHANNELS else "latest"


class AgentOps:
    def __init__(
        self,
        store: HandoffStore,
        rasa: RasaClient,
        messages: Messages,
        name_for: NameFor = _default_name,
        lookup: Lookup = _no_lookup,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rasa = rasa
        self.messages = messages
        self.name_for = name_for
        self.lookup = lookup
        self._clock = clock

    async def _require(self, conversation_id: str) -> Conversation:
        conversation = await self.store.get(conversation_id)
        if conversation is None:
            raise HandoffError("not_found", "no such handoff conversation", "conversation")
        return conversation

    def _metadata(
        self,
        staff: Staff,
        conversation: Conversation,
        event: str | None,
        key: str,
    ) -> dict[str, Any]:
        """`key` names this message across retries (the console's key of a reply, the
        handoff episode of a notice), so a retry reuses it: the outbox sends one SMS per
        key."""
        metadata: dict[str, Any] = {
            "agent_name": self.name_for(staff, conversation.language),
            # SMS: the outbox sends it as an agent message, once per idempotency key.
            "sms_kind": "agent",
            "idempotency_key": f"agent:{conversation.id}:{key}",
        }
        if event:
            metadata["kefu_event"] = event
        return metadata

    async def claim(self, conversation_id: str, staff: Staff) -> Conversation:
        await self.store.claim(conversation_id, staff.username, self._clock())
        conversation = await self._require(conversation_id)
        await self._announce_join(conversation, staff)
        return conversation

    async def claim_next(self, staff: Staff) -> Conversation | None:
        taken = await self.store.claim_next(staff.username, self._clock())
        if taken is None:
            return None
        conversation = await self._require(taken)
        await self._announce_join(conversation, staff)
        return conversation

    async def _announce_join(self, conversation: Conversation, staff: Staff) -> None:
        text = self.messages.text(
            "agent_joined",
            conversation.language,
            agent=self.name_for(staff, conversation.language),
        )
        key = f"joined:{conversation.episode}"
        events = [bot_event(text, self._metadata(staff, conversation, "agent_joined", key))]
        try:
            if not (await self.rasa.tracker(conversation.id)).get("paused"):
                # action_handoff queued the customer but its pause never reached the
                # tracker (its action server died mid-call): with an agent on the
                # conversation the bot must stay quiet, and the hand-back must resume it.
                events.insert(0, {"event": "pause"})
            await self.rasa.append(conversation.id, events, output_channel(conversation))
        except RasaError:
            # The claim stands; the agent's first reply still reaches the customer.
            log.exception("join notice for %s not delivered", conversation.id)

    async def reply(
        self, conversation_id: str, staff: Staff, text: str, key: str
    ) -> tuple[dict[str, Any], bool]:
        """Sends an agent's message once per `key` (one per composed message, reused on
        every retry). Returns the event and whether it had been sent before (a retry)."""
        text = text.strip()
        if not text:
            raise HandoffError("invalid", "the reply is empty", "text")
        if len(text) > MAX_REPLY:
            raise HandoffError("invalid", f"the reply is longer than {MAX_REPLY}", "text")
        if not isinstance(key, str) or not REPLY_KEY.fullmatch(key):
            raise HandoffError("invalid", "key must be 16-64 characters of A-Z a-z 0-9 _ -", "key")
        conversation = await self._require(conversation_id)
        if conversation.state != AGENT or conversation.agent != staff.username:
            raise HandoffError("forbidden", "claim the conversation before replying")
        event = bot_event(text, self._metadata(staff, conversation, None, f"reply:{key}"))
        idempotency_key = event["metadata"]["idempotency_key"]
        record = REPLY_PREFIX + idempotency_key
        redis = self.store.redis
        state = await redis.eval(
            _BEGIN_REPLY,
            1,
            record,
            int(self._clock() * 1000),
            REPLY_LEASE_MS,
            staff.username,
            REPLY_RETENTION_S,
        )
        if state == "sent":
            return event, True
        if state == "busy":
            raise HandoffError(
                "in_progress", "this reply is still being sent; retry shortly", "key"
            )
        try:
            if state == "check" and await self._in_tracker(conversation.id, idempotency_key):
                await redis.hset(record, "state", "sent")
                return event, True
            await self.rasa.append(conversation.id, [event], output_channel(conversation))
        except RasaError as exc:
            # Rasa may have appended it all the same (a timeout): the retry looks first.
            await redis.hset(record, mapping={"state": "uncertain", "lease": "0"})
            raise HandoffError("rasa", "the reply was not delivered; try again") from exc
        await redis.hset(record, "state", "sent")
        return event, False

    async def _in_tracker(self, conversation_id: str, idempotency_key: str) -> bool:
        tracker = await self.rasa.tracker(conversation_id)
        return any(
            (event.get("metadata") or {}).get("idempotency_key") == idempotency_key
            for event in tracker.get("events") or []
            if event.get("event") == "bot"
        )

    async def hand_back(self, conversation_id: str, staff: Staff) -> Conversation:
        return await self._release(conversation_id, staff, BOT)

    async def close(self, conversation_id: str, staff: Staff) -> Conversation:
        return await self._release(conversation_id, staff, CLOSED)

    async def _release(self, conversation_id: str, staff: Staff, target: str) -> Conversation:
        owner = None if staff.is_supervisor else staff.username
        released = await self.store.release(
            conversation_id, target=target, actor=staff.username, owner=owner, now=self._clock()
        )
        conversation = released.conversation
        agent_staff = None
        if released.previous_state == AGENT and conversation.agent:
            # A supervisor closing an agent's chat: the customer still hears who left.
            agent_staff = (
                staff
                if conversation.agent == staff.username
                else await self.lookup(conversation.agent)
                or Staff(conversation.agent, conversation.agent, "agent")
            )
        try:
            await self._resume_in_rasa(conversation, agent_staff, target)
        except RasaError:
            log.exception("Rasa did not confirm the %s of %s; will retry", target, conversation.id)
        return conversation

    async def _resume_in_rasa(
        self, conversation: Conversation, agent: Staff | None, target: str
    ) -> None:
        language = conversation.language
        events: list[dict[str, Any]] = []
        if agent is not None:
            name = self.name_for(agent, language)
            key = f"left:{conversation.episode}"
            events.append(
                bot_event(
                    self.messages.text("agent_left", language, agent=name),
                    {**self._metadata(agent, conversation, "agent_left", key)},
                )
            )
        events.append({"event": "resume"})
        if conversation.ended_by == EXPIRED_BY:
            events.extend(self._expiry_events(conversation))
        else:
            notice = "bot_back" if target == BOT else "closed"
            events.append(bot_event(self.messages.text(notice, language), {"kefu_event": notice}))
        # The bot listens again from here: without this, Rasa featurizes the next
        # message against the stale pre-handoff turn and mispredicts.
        events.append({"event": "action", "name": "action_listen"})
        await self.rasa.append(conversation.id, events, output_channel(conversation))
        await self.store.mark_synced(conversation.id, conversation.episode)

    def _expiry_events(self, conversation: Conversation) -> list[dict[str, Any]]:
        """Nobody took the chat in time: say so and offer a callback ticket, the offer
        action_handoff makes when no agent is online (its rules take the yes or the no)."""
        language = conversation.language
        minutes = max(1, round(self.store.policy.queue_timeout_s / 60))
        event = bot_event(
            self.messages.text("queue_expired", language, minutes=str(minutes)),
            {
                "kefu_event": "queue_expired",
                "idempotency_key": f"expired:{conversation.id}:{conversation.episode}",
            },
        )
        event["data"] = {
            "buttons": [
                {"title": self.messages.text("callback_yes", language), "payload": "/affirm"},
                {"title": self.messages.text("callback_no", language), "payload": "/deny"},
            ]
        }
        return [event, {"event": "slot", "name": CALLBACK_OFFERED_SLOT, "value": True}]

    async def expire_waiting(self) -> int:
        """Ends queued handoffs that waited longer than the queue timeout (any desk
        process may call it; each one expires once). Returns how many this call ended."""
        if self.store.policy.queue_timeout_s <= 0:
            return 0
        expired = await self.store.expire_due(self._clock())
        for conversation in expired:
            log.info("handoff %s expired: nobody claimed it in time", conversation.id)
            try:
                await self._resume_in_rasa(conversation, None, CLOSED)
            except RasaError:
                log.warning("Rasa did not confirm the expiry of %s; will retry", conversation.id)
        return len(expired)

    async def retry_pending(self) -> int:
        """Re-sends hand-backs/closes Rasa did not confirm; returns how many were settled."""
        settled = 0
        redis = self.store.redis
        for conversation_id in await self.store.pending_sync(self._clock() - SYNC_RETRY_AFTER_S):
            # One desk process per conversation at a time.
            got = await redis.set(
                f"kefu:handoff:sync_lock:{conversation_id}", "1", nx=True, ex=SYNC_LOCK_S
            )
            if not got:
                continue
            conversation = await self.store.get(conversation_id)
            if conversation is None or conversation.state not in (BOT, CLOSED):
                await self.store.mark_synced(conversation_id, -1)
                continue
            try:
                tracker = await self.rasa.tracker(conversation_id)
                if tracker.get("paused"):
                    await self._resume_in_rasa(conversation, None, conversation.state)
                else:  # the first attempt reached Rasa after all
                    await self.store.mark_synced(conversation_id, conversation.episode)
                settled += 1
            except RasaError:
                log.warning("Rasa still unreachable for %s", conversation_id)
            except asyncio.CancelledError:
                raise
        return settled
