"""HTTP clients for the official twilio library that send API calls to another base URL.

Twilio's client always builds https://api.twilio.com/... URLs; contract tests (a Stoplight
Prism mock serving Twilio's OpenAPI spec) and staging proxies set TWILIO_API_BASE and
these clients rewrite the origin, leaving path, query, body and auth untouched.
"""

from __future__ import annotations

from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

TWILIO_API = "https://api.twilio.com"


def rebase(url: str, base_url: str | None) -> str:
    if base_url and url.startswith(TWILIO_API):
        return base_url.rstrip("/") + url[len(TWILIO_API) :]
    return url


class RebasedAsyncHttpClient(AsyncTwilioHttpClient):
    """AsyncTwilioHttpClient (aiohttp) that talks to `base_url` instead of api.twilio.com."""

    def __init__(self, base_url: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return await super().request(method, rebase(url, self.base_url), *args, **kwargs)


class RebasedHttpClient(TwilioHttpClient):
    """The blocking client, rebased the same way (benchmarks of Rasa's stock channel)."""

    def __init__(self, base_url: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, rebase(url, self.base_url), *args, **kwargs)
