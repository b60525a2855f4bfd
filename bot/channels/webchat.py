"""Website chat: Rasa's socket.io channel, made multi-process, defensive and bounded.

Differences from `rasa.core.channels.socketio.SocketIOInput`:
- identity: the server mints every conversation id (`web:` + 32 hex) and binds the socket
  to it (python-socketio's per-socket session). `session_request` resumes a conversation
  only for a valid signed token (bot.identity.tokens) and answers with a refreshed one;
  anything else starts a new conversation. `user_uttered` always uses the bound id and
  ignores any session_id the client sends, so a visitor can never write into another
  conversation, least of all another channel's (`sms:+86…`);
- bounded input: socket.io packets are capped (MAX_PACKET_BYTES), messages too
  (MAX_MESSAGE_CHARS), client metadata is cut down to an allow-list of small fields,
  and turns are limited per socket and per conversation per minute in Redis, with a
  polite answer in the customer's language when the limit is hit;
- the socket.io server uses python-socketio's `AsyncRedisManager`, so any Rasa
  process (or the desk) can emit to any web customer's room;
- `enter_room` is awaited (it is a coroutine in python-socketio 5.x; the stock
  channel never awaits it, so replies to a persisted session are lost);
- malformed events get a polite `kefu_error` event instead of a traceback;
- bot messages carry their public metadata (agent_name, kefu_event) to the widget, so it
  can show who is writing and when an agent joins or leaves;
- its output channel can be recreated in any process (the desk's agent replies arrive
  through Rasa's HTTP API with output_channel=socketio): without this process's socket.io
  server it emits through a write-only AsyncRedisManager, which reaches every customer on
  every process.

Events the widget sees: `session_confirm` {"session_id", "token", "resumed"},
`bot_uttered` {"text", "quick_replies"?, "metadata"?} and `kefu_error`
{"code", "error", "text"}: `error` is a technical reason, `text` what to show the customer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot import action_retry, db, logmask, settings
from bot.identity.tokens import Signer, TokenConfigError, new_web_id
from bot.language import DEFAULT, SUPPORTED, detect_language, language_of_hint
from bot.ops.turns import observed
from bot.ratelimit import Limiter, Quota
from bot.settings import PROJECT_ROOT
from bot.surveys import presence

logger = logging.getLogger(__name__)
# credentials.yml makes every Rasa process import this module: mask phones in all its logs.
logmask.install()
# ... and retry custom-action calls the action server was not there to take.
action_retry.install()

# The largest socket.io packet accepted (engine.io closes the socket on a bigger one).
# It must hold the longest message however a client encodes it: JSON may escape every
# character, and a character outside the BMP becomes a 12-byte surrogate pair
# (`\ud83d\ude00`), so 5,000 characters take at most 60,000 bytes, plus a small envelope.
MAX_PACKET_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 5_000
_ENVELOPE_BYTES = 1_024  # event name, token-free fields and the allowed metadata
assert MAX_MESSAGE_CHARS * 12 + _ENVELOPE_BYTES <= MAX_PACKET_BYTES

# Turns per minute: per conversation (all of its tabs together), and per socket (one
# socket cannot get round the first by starting conversation after conversation).
# A person types a few messages a minute; quick replies double that at most.
_FIELDS = settings.Settings.__fields__
DEFAULT_CONVERSATION_TURNS: int = _FIELDS["web_conversation_turns_per_min"].default
DEFAULT_SOCKET_TURNS: int = _FIELDS["web_socket_turns_per_min"].default
LIMIT_KEY = "kefu:web:turns:"

# Client metadata the server keeps (name -> pattern of an acceptable value); everything
# else is dropped. Keys the bot trusts, such as `phone`, come only from channels that
# verified them, never from a browser.
CLIENT_METADATA = {
    "lang": re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}"),  # navigator.language
    "page": re.compile(r"/[\x21-\x7e]{0,199}"),  # location.pathname, printable ASCII
}

TEXTS_FILE = PROJECT_ROOT / "content" / "web" / "texts.yml"
TEXT_CODES = ("rate_limited", "no_session", "invalid", "unavailable", "unanswered")

# Metadata keys of a bot message the widget may see (everything else stays server-side).
PUBLIC_METADATA = ("agent_name", "kefu_event")

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _redis_url() -> str | None:
    """REDIS_URL when set: without it (a bare `rasa run`) turns are not rate-limited."""
    config = settings.get()
    return config.redis_url if config.is_set("redis_url") else None


# One write-only emitter per process, created on first use.
_emitter: AsyncRedisManager | None = None


def _redis_emitter(url: str) -> AsyncRedisManager:
    global _emitter
    if _emitter is None:
        _emitter = AsyncRedisManager(url, write_only=True)
    return _emitter


def load_texts(path: Path = TEXTS_FILE) -> dict[str, dict[str, str]]:
    """The channel's own replies, {code: {language: text}}; raises ValueError if incomplete."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    texts: dict[str, dict[str, str]] = {}
    for code in TEXT_CODES:
        entry = data.get(code) if isinstance(data, dict) else None
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in SUPPORTED):
            raise ValueError(f"{path}: `{code}` needs a text for each of {SUPPORTED}")
        texts[code] = {k: entry[k] for k in SUPPORTED}
    return texts


def client_metadata(raw: object) -> dict[str, str]:
    """The allow-listed, size-checked part of what a client sent as metadata."""
    if not isinstance(raw, dict):
        return {}
    kept: dict[str, str] = {}
    for name, pattern in CLIENT_METADATA.items():
        value = raw.get(name)
        if isinstance(value, str) and pattern.fullmatch(value):
            kept[name] = value
    return kept


class WebChatOutput(SocketIOOutput):
    """Emits `bot_uttered` as {"text", "quick_replies"?, "metadata"?}.

    `sio` is either this process's AsyncServer or a write-only AsyncRedisManager; both
    have emit(event, data, room=..., namespace=...).
    """

    def __init__(self, sio: Any, bot_message_evt: str, namespace: str | None = None) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace
        self.sent = 0  # messages emitted: a turn that emitted none said nothing

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        await self.sio.emit(
            self.bot_message_evt, response, room=socket_id, namespace=self.namespace
        )

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Rasa merges a BotUttered's metadata into the message's top level.
        metadata = {k: message[k] for k in PUBLIC_METADATA if message.get(k)}
        if not metadata:
            await super().send_response(recipient_id, message)
            return
        text = str(message.get("text") or "")
        buttons = message.get("quick_replies") or message.get("buttons") or []
        payload: dict[str, Any] = {"text": text, "metadata": metadata}
        if buttons:
            payload["quick_replies"] = [
                {"content_type": "text", "title": b.get("title"), "payload": b.get("payload")}
                for b in buttons
                if isinstance(b, dict)
            ]
        await self._send_message(recipient_id, payload)


class WebChatInput(SocketIOInput):
    """Socket.io input channel for the website widget."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is not None:
            return WebChatOutput(self.sio, self.bot_message_evt, self.namespace)
        url = _redis_url()
        if url is None:
            return None  # single process without Redis: nothing can reach the widget
        return WebChatOutput(_redis_emitter(url), self.bot_message_evt, self.namespace)

    def _make_server(self) -> AsyncServer:
        url = _redis_url()
        manager = AsyncRedisManager(url) if url else None
        # cors_allowed_origins=[] leaves CORS to Sanic, as the stock channel does.
        return AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=[],
            client_manager=manager,
            max_http_buffer_size=MAX_PACKET_BYTES,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        on_new_message = observed(on_new_message, self.name())  # kefu_turns_total, log context
        sio = self._make_server()
        webhook: Blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        ns = self.namespace
        texts = load_texts()
        signer = _signer()
        url = _redis_url()
        limiter = Limiter(db.connect(url)) if url else None
        # "Is the chat open?" for the return visits (bot/surveys/presence.py).
        open_chats = db.connect(url) if url else None

        async def mark_open(conversation_id: str, sid: str, is_open: bool = True) -> None:
            if open_chats is None:
                return
            try:
                if is_open:
                    await presence.opened(open_chats, conversation_id, sid, time.time())
                else:
                    await presence.closed(open_chats, conversation_id, sid)
            except RedisError:  # only a visit's channel depends on it: never fail a turn
                logger.warning("web chat presence unavailable (Redis error)")

        if limiter is None:
            logger.warning("REDIS_URL is unset: web chat turns are not rate-limited")
        conversation_turns = settings.get().web_conversation_turns_per_min
        socket_turns = settings.get().web_socket_turns_per_min

        async def refuse(sid: str, code: str, error: str, language: str | None) -> None:
            text = texts[code][language if language in SUPPORTED else DEFAULT]
            await sio.emit(
                "kefu_error", {"code": code, "error": error, "text": text}, room=sid, namespace=ns
            )

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # CORS headers stay with Sanic (python-socketio's would be sent twice), but CORS does
        # not cover a websocket: without this check a page on any site could open one and
        # chat as its visitor. Clients that send no Origin (apps, tests) are not browsers.
        allowed_origins = frozenset(settings.get().cors)

        @sio.on("connect", namespace=ns)
        async def connect(sid: str, wsgi: dict[str, Any], *args: Any) -> bool:
            origin = wsgi.get("HTTP_ORIGIN")  # the WSGI-style request of engine.io
            if origin and origin not in allowed_origins:
                logger.warning("socket.io connection refused from origin %r", str(origin)[:200])
                return False
            return True

        @sio.on("disconnect", namespace=ns)
        async def disconnect(sid: str, *args: Any) -> None:
            try:
                session = await sio.get_session(sid, namespace=ns)
            except KeyError:  # already gone: nothing was marked open for it
                return
            conversation_id = session.get("conversation_id")
            if conversation_id:
                await mark_open(conversation_id, sid, False)

        # `*args`: a client may send an event with no payload or several; neither may
        # raise inside python-socketio.
        @sio.on("session_request", namespace=ns)
        async def session_request(sid: str, *args: Any) -> None:
            data = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
            session = await sio.get_session(sid, namespace=ns)
            hint = client_metadata(data.get(self.metadata_key)).get("lang", "")
            language = session.get("language") or language_of_hint(hint)
            if signer is None:
                await refuse(sid, "unavailable", "web sessions are not configured", language)
                return
            conversation_id = signer.verify(data.get("token"))
            resumed = conversation_id is not None
            if conversation_id is None:
                conversation_id = new_web_id()
            previous = session.get("conversation_id")
            if previous and previous != conversation_id:
                await sio.leave_room(sid, previous, namespace=ns)
            await sio.enter_room(sid, conversation_id, namespace=ns)
            try:
                await sio.save_session(
                    sid, {"conversation_id": conversation_id, "language": language}, namespace=ns
                )
            except KeyError:  # the socket closed while we worked: nobody to confirm to
                return
            await sio.emit(
                "session_confirm",
                {
                    "session_id": conversation_id,
                    "token": signer.mint(conversation_id),
                    "resumed": resumed,
                },
                room=sid,
                namespace=ns,
            )
            # Presence (return visits go to an open chat) after the confirmation: its Redis
            # round trip must not stand between the socket and its session.
            if previous and previous != conversation_id:
                await mark_open(previous, sid, False)
            if sio.manager.is_connected(sid, ns):  # not if it closed meanwhile
                await mark_open(conversation_id, sid)

        @sio.on(self.user_message_evt, namespace=ns)
        async def handle_message(sid: str, *args: Any) -> None:
            data = args[0] if len(args) == 1 else None
            session = await sio.get_session(sid, namespace=ns)
            raw = data.get("message") if isinstance(data, dict) else None
            detected = detect_language(raw) if isinstance(raw, str) else None
            language = detected or session.get("language")
            if detected and detected != session.get("language"):
                session["language"] = detected
                await sio.save_session(sid, session, namespace=ns)
            conversation_id = session.get("conversation_id")
            if conversation_id is None:
                await refuse(sid, "no_session", "send session_request first", language)
                return
            await mark_open(conversation_id, sid)
            error = _validate(data)
            if error:
                await refuse(sid, "invalid", error, language)
                return
            assert isinstance(data, dict)  # _validate checked
            if limiter is not None:
                wait = await _reserve_turn(
                    limiter,
                    Quota(f"{LIMIT_KEY}conversation:{conversation_id}", conversation_turns),
                    Quota(f"{LIMIT_KEY}socket:{sid}", socket_turns),
                )
                if wait > 0:
                    await refuse(
                        sid, "rate_limited", f"too many messages; retry in {wait:.0f} s", language
                    )
                    return
            output = WebChatOutput(sio, self.bot_message_evt, ns)
            message = UserMessage(
                data.get("message") or "",
                output,
                conversation_id,
                input_channel=self.name(),
                metadata=client_metadata(data.get(self.metadata_key)),
            )
            try:
                with action_retry.watch() as calls:
                    await on_new_message(message)
            except Exception:  # noqa: BLE001 - one failed turn must not end the socket
                logger.exception("web chat turn failed")
                await refuse(sid, "unavailable", "the turn failed", language)
                return
            # Rasa goes on quietly when a custom action fails (the action server down): the
            # customer hears that this message was not handled, never nothing.
            if calls.needs_apology(answered=output.sent > 0):
                logger.warning("web chat turn: actions %s failed; apologising", calls.failed)
                await refuse(sid, "unanswered", "the bot's actions failed", language)

        return webhook


def _signer() -> Signer | None:
    try:
        return Signer.from_env()
    except TokenConfigError as exc:
        # No default secret: with one, anyone could forge a token for any conversation.
        logger.error("web chat refuses every session: %s", exc)
        return None


async def _reserve_turn(limiter: Limiter, *quotas: Quota) -> float:
    """Seconds to wait before this turn is allowed (0.0: go ahead)."""
    try:
        return await limiter.try_acquire(*quotas)
    except RedisError:
        # Without Redis the turn itself cannot be stored; let Rasa report that.
        logger.warning("web chat turn limit unavailable (Redis error); turn allowed")
        return 0.0


def _validate(data: Any) -> str | None:
    """Returns a reason the user_uttered payload is unusable, or None."""
    if not isinstance(data, dict):
        return "event payload must be an object"
    message = data.get("message", "")
    if not isinstance(message, str):
        return "message must be a string"
    if len(message) > MAX_MESSAGE_CHARS:
        return f"message is longer than {MAX_MESSAGE_CHARS} characters"
    if _SURROGATE.search(message):
        return "message contains unpaired surrogate characters"
    return None
