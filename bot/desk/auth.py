"""Authentication for the desk's HTTP APIs (bearer token from DESK_API_TOKEN), and who the
client is behind a reverse proxy.

Public: the demo website and its assets, and the health checks (/healthz, /readyz).
Everything under /api/ needs the token; /metrics needs KEFU_METRICS_TOKEN (bot/ops/desk.py).

X-Forwarded-For and X-Forwarded-Proto are believed only when the connection comes from a
proxy listed in KEFU_TRUSTED_PROXIES: anyone else could write them, and the login
throttle and the cookie's Secure flag depend on them.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.http import Middleware, json_error
from bot.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api_token_middleware(settings: Settings) -> Middleware:
    api_token = settings.secret("api_token")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if (
            not api_token
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.encode(), api_token.encode())
        ):
            response = json_error(401, "Authorization", "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="kefu"'
            return response
        return await handler(request)

    return middleware


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> TrustedProxies:
        """IPs or CIDRs; a bad entry stops the desk at startup, naming the variable."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"KEFU_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR"
                ) from None
        return cls(tuple(networks))

    def trusts(self, address: str | None) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    def client_address(self, request: web.Request) -> str:
        """The client's IP: the peer, or, when the peer is a trusted proxy, the nearest
        address in X-Forwarded-For that is not itself a trusted proxy (each proxy appends
        the address it saw, so everything left of that could be forged by the client)."""
        peer = request.remote or "unknown"
        if not self.trusts(peer):
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for hop in header.split(",")
        ]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                return peer  # garbage from a proxy we trust: fall back to what we know
            if not self.trusts(str(ip)):
                return str(ip)
        return peer

    def is_https(self, request: web.Request) -> bool:
        """Direct TLS, or a trusted proxy saying (X-Forwarded-Proto) the client used https."""
        if request.secure:
            return True
        if not self.trusts(request.remote):
            return False
        values = ",".join(request.headers.getall("X-Forwarded-Proto", [])).split(",")
        # The last value is the one our proxy added.
        return values[-1].strip().lower() == "https"


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return ip
