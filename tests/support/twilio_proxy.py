"""A thin proxy in front of the Prism mock of Twilio's API that answers chosen calls with
Twilio errors (429, 500, 401, 21610...) and records what reached Prism.

Used by tests/sms/test_auth_pause.py and scripts/chaos.py. Point the sender at it with
TWILIO_API_BASE (SmsSettings.api_base):

    proxy = TwilioProxy(prism_url)
    await proxy.start()
    proxy.faults = [twilio_error(429, 20429, "Too Many Requests")] * 3   # the next 3 POSTs
    proxy.refuse = lambda form: twilio_error(401, 20003, "Authenticate")  # every POST
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

Fault = tuple[int, dict[str, Any]]


def twilio_error(status: int, code: int, message: str) -> Fault:
    """An error answer shaped as Twilio's API shapes it."""
    return status, {"code": code, "message": message, "more_info": "", "status": status}


@dataclass
class Exchange:
    method: str
    path: str
    form: dict[str, list[str]]
    status: int  # what the client got (Prism's, or the injected error's)
    injected: bool

    @property
    def outbox_id(self) -> str:
        """The outbox message a create was for (from its StatusCallback ?id=)."""
        callback = (self.form.get("StatusCallback") or [""])[0]
        return (parse_qs(urlsplit(callback).query).get("id") or [""])[0]


@dataclass
class TwilioProxy:
    upstream: str
    url: str = ""
    faults: list[Fault] = field(default_factory=list)  # the next POSTs, in order
    # Decides per POST (its form) after `faults`: an error to answer, or None to forward.
    refuse: Callable[[dict[str, list[str]]], Fault | None] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    def created(self) -> list[Exchange]:
        """Messages Prism accepted (201): what Twilio would have sent."""
        return [e for e in self.exchanges if e.method == "POST" and e.status == 201]

    def injected(self, status: int | None = None) -> int:
        return sum(e.injected and (status is None or e.status == status) for e in self.exchanges)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        form = parse_qs(body.decode(), keep_blank_values=True)
        fault: Fault | None = None
        if request.method == "POST":
            if self.faults:
                fault = self.faults.pop(0)
            elif self.refuse is not None:
                fault = self.refuse(form)
        if fault is not None:
            self.exchanges.append(Exchange(request.method, request.path, form, fault[0], True))
            return web.json_response(fault[1], status=fault[0])
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type", "accept")
        }
        assert self._session is not None, "start() the proxy first"
        for attempt in range(3):  # Prism itself is not under test: ride out its hiccups
            try:
                async with self._session.request(
                    request.method, self.upstream + request.path_qs, data=body, headers=headers
                ) as upstream:
                    payload, status = await upstream.read(), upstream.status
                break
            except aiohttp.ClientError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)
        self.exchanges.append(Exchange(request.method, request.path, form, status, False))
        return web.Response(body=payload, status=status, content_type="application/json")
