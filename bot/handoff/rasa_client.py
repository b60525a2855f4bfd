"""The desk's only way into Rasa: its HTTP API (rasa run --enable-api --auth-token ...).

Rasa accepts the token only as the `token` query parameter; it is never logged here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
# Sender ids are kept readable in the path (sms:+8613800138000); '/', '?', '#', '%' and
# spaces are escaped. Sanic matches Rasa's <conversation_id:path> on the raw path.
_SAFE = ":+@-._~!$&'()*,;="


class RasaError(Exception):
    """Rasa did not accept a request (down, timeout, or an error status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RasaClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        session: aiohttp.ClientSession,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def _url(self, conversation_id: str, suffix: str, **query: str) -> URL:
        path = f"/conversations/{quote(conversation_id, safe=_SAFE)}/{suffix}"
        params = dict(query)
        if self._token:
            params["token"] = self._token
        return URL(self.base_url + path, encoded=True).update_query(params)

    async def _request(self, method: str, url: URL, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._session.request(
                method, url, timeout=self._timeout, **kwargs
            ) as response:
                if response.status >= 400:
                    body = (await response.text())[:300]
                    raise RasaError(f"Rasa answered {response.status}: {body}", response.status)
                data: dict[str, Any] = await response.json(content_type=None)
                return data
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaError(f"Rasa unreachable: {type(exc).__name__}") from exc

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's tracker (all events since the last restart)."""
        return await self._request(
            "GET", self._url(conversation_id, "tracker", include_events="AFTER_RESTART")
        )

    async def append(
        self,
        conversation_id: str,
        events: list[dict[str, Any]],
        output_channel: str | None = None,
    ) -> dict[str, Any]:
        """Appends events; with an output channel, bot messages among them are sent to the
        customer on it (execute_side_effects)."""
        query = {}
        if output_channel:
            query = {"output_channel": output_channel, "execute_side_effects": "true"}
        return await self._request(
            "POST", self._url(conversation_id, "tracker/events", **query), json=events
        )

    async def trigger_intent(
        self,
        conversation_id: str,
        name: str,
        entities: dict[str, str],
        output_channel: str,
    ) -> dict[str, Any]:
        """Runs an external intent in the conversation; its replies are pushed on
        `output_channel` (a registered input channel's name: "socketio", "sms").

        Rasa silently answers in the HTTP response ("messages") when the channel is not one
        it can send on: that is raised as Undelivered, since the customer saw nothing.
        """
        data = await self._request(
            "POST",
            self._url(conversation_id, "trigger_intent", output_channel=output_channel),
            json={"name": name, "entities": entities},
        )
        if "messages" in data:
            raise Undelivered(
                f"Rasa cannot send on output channel {output_channel!r}: reply not delivered"
            )
        return data


class Undelivered(RasaError):
    """Rasa ran the request but could not push its replies to the customer."""


def bot_event(text: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {}, "metadata": metadata or {}}


def line_for(event: dict[str, Any]) -> dict[str, Any] | None:
    """A console transcript line for one Rasa event (None: not shown)."""
    kind = event.get("event")
    at = event.get("timestamp")
    if kind == "user":
        return {"kind": "user", "text": event.get("text") or "", "at": at}
    if kind == "bot":
        metadata = event.get("metadata") or {}
        data = event.get("data") or {}
        buttons = data.get("buttons") or data.get("quick_replies") or []
        return {
            "kind": "agent" if metadata.get("agent_name") else "bot",
            "text": event.get("text") or "",
            "at": at,
            "agent_name": metadata.get("agent_name"),
            "notice": metadata.get("kefu_event"),
            # What the outbox knows this message by (its delivery status, for SMS).
            "key": metadata.get("idempotency_key"),
            "buttons": [str(b.get("title", "")) for b in buttons if isinstance(b, dict)],
        }
    if kind in ("pause", "resume", "restart", "session_started"):
        return {"kind": "system", "text": kind, "at": at}
    return None


def transcript(tracker: dict[str, Any], limit: int = 500) -> list[dict[str, Any]]:
    """What the console shows of a tracker: customer and bot/agent messages, pauses, resumes."""
    lines = [line_for(event) for event in tracker.get("events") or []]
    return [line for line in lines if line is not None][-limit:]
