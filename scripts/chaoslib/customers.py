"""The fleet's customers: SMS customers posting signed Twilio webhooks and reading their
replies from the local sink, and website visitors on socket.io who reconnect (with their
token) and send again when the replica under their socket dies, as the widget does."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import socketio
from redis.exceptions import RedisError
from twilio.request_validator import RequestValidator

from bot import db
from bot.sms import outbox, sink

WEBHOOK_PATH = "/webhooks/sms/webhook"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
OUR_NUMBER = "+14155550100"


@dataclass
class Delivered:
    """One sink entry with what the outbox knew of it."""

    entry_id: str
    outbox_id: str
    to: str
    body: str
    kind: str
    key: str  # the outbox message's idempotency key ("reply:SM...#1/2" for a part)
    parts: int

    @property
    def base_key(self) -> str:
        return self.key.split("#", 1)[0]


class SinkWatcher:
    """Tails the local sink (kefu:sms:sink) from `start_id` and files every delivery by its
    idempotency key and phone, so customers can wait for theirs."""

    def __init__(self, redis_url: str, start_id: str) -> None:
        self.redis = db.connect(redis_url, block_ms=1000)
        self.last = start_id
        self.by_key: dict[str, list[Delivered]] = defaultdict(list)
        self.by_phone: dict[str, list[Delivered]] = defaultdict(list)
        self.changed = asyncio.Condition()
        self.errors = 0

    async def run(self) -> None:
        while True:
            try:
                batches = await self.redis.xread({sink.STREAM: self.last}, count=500, block=1000)
            except (RedisError, OSError):
                self.errors += 1  # Redis restarting: the stream is durable, read on after
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    await self._file(entry_id, fields)
                    self.last = entry_id
            async with self.changed:
                self.changed.notify_all()

    async def _file(self, entry_id: str, fields: dict[str, str]) -> None:
        record: dict[str, str] = {}
        for _ in range(20):
            try:
                record = await outbox.get(self.redis, fields.get("outbox_id", "")) or {}
                break
            except (RedisError, OSError):
                await asyncio.sleep(0.5)
        item = Delivered(
            entry_id,
            fields.get("outbox_id", ""),
            fields.get("to", ""),
            fields.get("body", ""),
            fields.get("kind", ""),
            record.get("idempotency_key", ""),
            int(record.get("parts") or 1),
        )
        self.by_key[item.base_key].append(item)
        self.by_phone[item.to].append(item)

    async def wait_key(self, *keys: str, timeout: float) -> list[Delivered]:
        """Every part of the first of `keys` delivered, or [] after `timeout`."""

        def complete() -> list[Delivered]:
            for key in keys:
                got = self.by_key.get(key, [])
                if got and len({d.key for d in got}) >= got[0].parts:
                    return got
            return []

        return await self._wait(complete, timeout)

    async def wait_phone(self, phone: str, text: str, since: int, timeout: float) -> bool:
        """Whether a message to `phone` containing `text` arrives (among those after the
        first `since`) within `timeout`."""

        def found() -> bool:
            return any(text in d.body for d in self.by_phone.get(phone, [])[since:])

        return await self._wait(found, timeout)

    async def _wait(self, check: Any, timeout: float) -> Any:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(check), timeout)
            except asyncio.TimeoutError:
                pass
            return check()


@dataclass
class SmsTurn:
    sid: str
    phone: str
    body: str
    sent_at: float
    webhook_tries: int = 1
    reply: str | None = None


class SmsCustomer:
    """One phone texting the fleet's public webhook, signed as Twilio signs."""

    def __init__(
        self,
        phone: str,
        url: str,
        signed_base: str,
        token: str,
        http: aiohttp.ClientSession,
        watcher: SinkWatcher,
        turns: list[SmsTurn],
    ) -> None:
        self.phone, self.url, self.signed_base, self.token = phone, url, signed_base, token
        self.http, self.watcher, self.turns = http, watcher, turns
        self.conversation = f"sms:{phone}"

    async def text(self, body: str, timeout: float = 120) -> str | None:
        """Sends one SMS and returns the bot's reply (None: no reply within `timeout`)."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.phone,
            "To": OUR_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        turn = SmsTurn(sid, self.phone, body, time.time())
        self.turns.append(turn)
        await self.post(params, turn)
        got = await self.watcher.wait_key(f"reply:{sid}", f"error:{sid}", timeout=timeout)
        turn.reply = "\n".join(d.body for d in sorted(got, key=lambda d: d.key)) if got else None
        return turn.reply

    async def post(self, params: dict[str, str], turn: SmsTurn) -> None:
        """POSTs the webhook until the desk acknowledges it (Twilio's retry on a refused
        webhook: same MessageSid). A refused webhook was never acknowledged: not a loss."""
        signature = RequestValidator(self.token).compute_signature(
            self.signed_base + WEBHOOK_PATH, params
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        data = urlencode(params).encode()
        for attempt in range(120):
            try:
                async with self.http.post(
                    self.url + WEBHOOK_PATH, data=data, headers=headers
                ) as response:
                    await response.read()
                    if response.status == 200:
                        turn.webhook_tries = attempt + 1
                        return
                    if response.status == 403:
                        raise RuntimeError("webhook signature refused: wrong --twilio-token?")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.5)
        raise RuntimeError(f"webhook for {turn.sid} refused for a minute")


@dataclass
class WebTurn:
    customer: str
    text: str
    replies: list[str] = field(default_factory=list)
    apologies: list[str] = field(default_factory=list)  # "unanswered": the bot apologised
    refused: list[str] = field(default_factory=list)  # turn not run (unavailable, too fast)
    resent: int = 0  # sent again after the socket dropped or the turn failed
    duplicates: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return bool(self.replies or self.apologies)


class WebCustomer:
    """A website visitor; `turn` survives its replica dying (reconnect with the token,
    send again), as the widget does."""

    def __init__(self, url: str, turns: list[WebTurn]) -> None:
        self.url = url
        self.turns = turns
        self.token: str | None = None
        self.session_id = ""
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.client: socketio.AsyncClient | None = None
        self.reconnects = 0
        self.strays: list[str] = []  # replies that arrived between turns
        self.trace: list[str] = []  # what happened to the socket, for a loss's report
        self._began = time.monotonic()

    def note(self, what: str) -> None:
        self.trace.append(f"{time.monotonic() - self._began:.1f}s {what}")

    async def _connect_once(self) -> None:
        client = socketio.AsyncClient(reconnection=False)
        confirms: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def on_reply(data: dict[str, Any]) -> None:
            await self.events.put(("reply", data))

        async def on_error(data: dict[str, Any]) -> None:
            await self.events.put(("error", data))

        async def on_drop() -> None:
            self.note("socket dropped")
            await self.events.put(("drop", {}))

        client.on("bot_uttered", on_reply)
        client.on("kefu_error", on_error)
        client.on("session_confirm", confirms.put)
        client.on("disconnect", on_drop)
        try:
            await client.connect(self.url, transports=["websocket"], socketio_path="/socket.io")
            await client.emit("session_request", {"token": self.token} if self.token else {})
            confirm = await asyncio.wait_for(confirms.get(), 10)
        except BaseException:
            await client.disconnect()
            raise
        self.session_id, self.token = confirm["session_id"], confirm["token"]
        self.client = client
        self.note(f"connected (resumed: {confirm['resumed']})")

    async def connect(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self._connect_once()
                return
            except (socketio.exceptions.ConnectionError, asyncio.TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.disconnect()

    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def turn(self, text: str, timeout: float = 90, quiet: float = 1.2) -> WebTurn:
        """Sends `text`; every reply of the bot's turn (until `quiet` s of silence)."""
        turn = WebTurn(self.session_id, text)
        self.turns.append(turn)
        for attempt in range(6):
            while not self.events.empty():  # late replies of an earlier turn
                kind, data = self.events.get_nowait()
                if kind == "reply":
                    self.strays.append(str(data.get("text", "")))
            if not self.connected():
                self.reconnects += 1
                await self.connect()
            if attempt:
                turn.resent += 1
            assert self.client is not None
            try:
                await self.client.emit("user_uttered", {"message": text})
            except socketio.exceptions.SocketIOError:
                continue
            outcome = await self._collect(turn, timeout, quiet)
            if outcome == "done":
                return turn
            await asyncio.sleep(1.0)  # dropped, or the turn failed: send it again
        return turn

    async def _collect(self, turn: WebTurn, timeout: float, quiet: float) -> str:
        wait = timeout
        while True:
            try:
                kind, data = await asyncio.wait_for(self.events.get(), wait)
            except asyncio.TimeoutError:
                return "done"  # nothing (more) within the window
            if kind == "drop":
                return "done" if turn.replies else "again"
            if kind == "error":
                code = str(data.get("code", ""))
                if code in ("unavailable", "rate_limited") and not turn.replies:
                    turn.refused.append(code)
                    return "again"  # the turn was not run: the widget lets them send again
                turn.apologies.append(f"{code}: {data.get('text', '')}")
            else:
                reply = str(data.get("text", ""))
                if reply in turn.replies and turn.resent == 0:
                    turn.duplicates.append(reply)
                turn.replies.append(reply)
            wait = quiet
