"""Twilio webhook requests: strict form parsing and X-Twilio-Signature checking.

Twilio signs the exact URL it called plus every form field, blank ones included
(Sanic's request.form drops blanks, which would break valid signatures), so the
body is parsed here. Behind a proxy the URL Twilio called differs from the one
the server sees: SMS_PUBLIC_URL gives the public base.

Both of Twilio's webhooks (inbound messages, delivery status callbacks) are the
desk's: read_signed_form() reads an aiohttp request; authenticate() is the check itself.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_to_bytes

from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.sms.settings import SmsSettings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_FORM_BYTES = 256 * 1024  # a Twilio SMS webhook is a few KB; room for bad input to get a 400
# Used with fullmatch: "$" alone would let a trailing newline through.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")


class WebhookError(Exception):
    """A request we refuse: HTTP status, the offending field, and why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


class FormParams(dict[str, list[str]]):
    """Form fields in arrival order, each with all its values (RequestValidator reads getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.get(name)
        return values[0] if values else default


def _decode(raw: bytes, field: str) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(400, field, f"{field} is not valid UTF-8") from exc


def parse_form(body: bytes) -> FormParams:
    """application/x-www-form-urlencoded -> FormParams, keeping blank values; strict UTF-8."""
    if len(body) > MAX_FORM_BYTES:
        raise WebhookError(413, "body", f"form body is larger than {MAX_FORM_BYTES} bytes")
    params = FormParams()
    if not body:
        return params
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(raw_name, unquote_to_bytes(raw_name).decode("utf-8", "replace") or "?")
        if not name:
            raise WebhookError(400, "body", "form field without a name")
        params.setdefault(name, []).append(_decode(raw_value, name))
    return params


def public_url(configured_base: str | None, seen_url: str, path: str, query: str) -> str:
    """The URL Twilio called: the configured public base plus the path and query we saw,
    or, with no base configured, the URL exactly as the server saw it."""
    if not configured_base:
        return seen_url
    return configured_base.rstrip("/") + path + (f"?{query}" if query else "")


def signature_valid(token: str, url: str, params: FormParams, signature: str) -> bool:
    return bool(RequestValidator(token).validate(url, params, signature))


def authenticate(
    token: str | None,
    public_base: str | None,
    *,
    signature: str | None,
    content_type: str | None,
    body: bytes,
    seen_url: str,
    path: str,
    query: str,
) -> FormParams:
    """The form of a request Twilio signed; raises WebhookError (403 unsigned or forged,
    415 not a form, 4xx malformed). `path` and `query` as received, still percent-encoded."""
    if not signature:
        raise WebhookError(403, SIGNATURE_HEADER, f"{SIGNATURE_HEADER} header is required")
    if not token:
        raise WebhookError(403, SIGNATURE_HEADER, "signatures cannot be checked: no auth token")
    if (content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise WebhookError(
            415, "Content-Type", "Content-Type must be application/x-www-form-urlencoded"
        )
    params = parse_form(body)
    url = public_url(public_base, seen_url, path, query)
    if not signature_valid(token, url, params, signature):
        logger.warning("Twilio request with a bad signature refused (url %s)", url)
        raise WebhookError(403, SIGNATURE_HEADER, "signature does not match the request")
    return params


async def read_signed_form(request: web.Request, settings: SmsSettings) -> FormParams:
    """The form of a request to the desk that Twilio signed; raises WebhookError."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise WebhookError(413, "body", "form body is too large") from exc
    return authenticate(
        settings.auth_token,
        settings.public_url,
        signature=request.headers.get(SIGNATURE_HEADER),
        content_type=request.headers.get("Content-Type"),
        body=body,
        # As received: request.url re-encodes, and fails on a Host with a port here.
        seen_url=f"{request.scheme}://{request.host}{request.raw_path}",
        path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,
    )
