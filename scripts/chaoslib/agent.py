"""A console agent: logged in through the public entry (any desk serves the session: it
lives in Redis), claiming, replying and handing back through the console's JSON API, and
riding out a dead desk or a restarting Redis by retrying (a reply carries its key, so a
retry sends nothing twice)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

import aiohttp

from bot import db
from bot.desk.users import UserStore
from bot.handoff.policy import HandoffConfig
from bot.handoff.presence import Presence
from bot.handoff.store import HandoffStore

RETRY_FOR_S = 120.0


class AgentError(RuntimeError):
    pass


class Agent:
    def __init__(self, url: str, redis_url: str, name: str = "chaos.agent") -> None:
        self.url, self.name = url, name
        self.password = secrets.token_hex(12)
        self.redis = db.connect(redis_url)
        self.config = HandoffConfig.load()
        self.store = HandoffStore(self.redis, self.config.queue)
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self.csrf = ""
        self.retries = 0  # API calls sent again (desk gone, Redis restarting)
        self.replies: dict[str, str] = {}  # conversation -> the text the agent sent
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await UserStore(self.redis).create(
            self.name, "agent", self.password, "混沌测试客服", replace=True
        )
        await self.login()
        self._heartbeat = asyncio.create_task(self._beat())

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self.http.close()
        await self.redis.close()

    async def _beat(self) -> None:
        # What an open console does (its websocket heartbeats): the agent is online.
        presence = Presence(self.redis, self.config.queue.presence_ttl_s)
        while True:
            try:
                await presence.heartbeat(self.name)
            except Exception:  # noqa: BLE001 - Redis restarting: beat again shortly
                await asyncio.sleep(1)
                continue
            await asyncio.sleep(5)

    async def login(self) -> None:
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                async with self.http.get(f"{self.url}/console/login") as form:
                    page = await form.text()
                token = re.search(r'name="csrf_token" value="([^"]+)"', page)
                data = {"username": self.name, "password": self.password}
                data["csrf_token"] = token.group(1) if token else ""
                async with self.http.post(f"{self.url}/console/login", data=data) as response:
                    page = await response.text()
                found = re.search(r'name="csrf-token" content="([^"]+)"', page)
                if found:
                    self.csrf = found.group(1)
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AgentError("the agent could not log in")
            self.retries += 1
            await asyncio.sleep(1)

    async def call(self, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """POSTs to the console API; sent again while no desk can answer."""
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                async with self.http.post(
                    f"{self.url}/console/api{path}", json=body, headers={"X-CSRF-Token": self.csrf}
                ) as response:
                    status = response.status
                    data = await response.json(content_type=None) if status < 500 else {}
                if status in (401, 403) and not data.get("code"):
                    await self.login()  # the session is gone: log in again
                elif status == 409 and data.get("code") == "in_progress":
                    pass  # a dead desk's attempt holds the reply's key: retry, as the console does
                elif status < 500:
                    return status, data or {}
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AgentError(f"{path}: no desk answered for {RETRY_FOR_S:.0f} s")
            self.retries += 1
            await asyncio.sleep(1)

    async def state(self, conversation: str) -> str | None:
        for _ in range(60):
            try:
                found = await self.store.get(conversation)
                return found.state if found else None
            except Exception:  # noqa: BLE001 - Redis restarting
                await asyncio.sleep(1)
        return None

    async def serve(self, conversation: str, text: str) -> None:
        """Claims the queued conversation and replies `text` once."""
        path = f"/conversations/{conversation}"
        status, data = await self.call(f"{path}/claim")
        if status != 200:
            current = await self.store.get(conversation)
            # A retried claim that had gone through answers 409: it is ours already.
            if current is None or current.agent != self.name:
                raise AgentError(f"claim of {conversation}: {status} {data}")
        key = secrets.token_hex(16)  # one per composed message, the same on every retry
        status, data = await self.call(f"{path}/reply", {"text": text, "key": key})
        if status not in (200, 201):
            raise AgentError(f"reply to {conversation}: {status} {data}")
        self.replies[conversation] = text

    async def said(self, conversation: str, text: str) -> bool:
        """Whether the conversation's transcript (Rasa's tracker) holds `text`."""
        try:
            async with self.http.get(f"{self.url}/console/api/conversations/{conversation}") as r:
                data = await r.json(content_type=None) if r.status == 200 else {}
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False
        return any(text in str(line.get("text", "")) for line in data.get("transcript", []))

    async def hand_back(self, conversation: str) -> None:
        status, data = await self.call(f"/conversations/{conversation}/handback")
        if status != 200 and await self.state(conversation) == "agent":
            raise AgentError(f"hand back of {conversation}: {status} {data}")
