"""The SMS phone simulator: try the SMS side without Twilio (offline mode only).

A console user picks a phone number and texts the bot. Nothing is bypassed: the desk
builds the form Twilio would post, signs it with the local token (TWILIO_AUTH_TOKEN,
which scripts/start.sh generates into .run/sms_local_token when no TWILIO_ACCOUNT_SID is
set) using the official twilio library, and POSTs it over HTTP to the SMS webhook on this
very desk (bot.sms.incoming), which checks the signature exactly as it checks Twilio's.
Replies, notices and reminders come back the way every offline SMS does: the outbox, the
desk's sender, the local sink (bot.sms.sink), read here for the chosen number.

Routes (all behind the console login and its CSRF check, bot.desk.console.guard; all 404
when a Twilio account is configured, so the simulator never signs with a real token):
    GET  /console/simulator                                  the page
    POST /console/api/simulator/messages {"phone", "body"}   text the bot as `phone`
    GET  /console/api/simulator/messages?phone=&after=       the conversation, or what
                                                             reached `phone` after cursor
Redis: kefu:simulator:sent:<phone>, a list of what the simulator sent as that phone
(JSON, newest last, capped, expiring with the sink's retention).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import secrets
import time
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.desk.console.context import CONSOLE
from bot.desk.console.pages import layout
from bot.desk.console.render import Markup
from bot.http import REDIS, SETTINGS, json_error, json_errors_for
from bot.phones import InvalidPhone, mask, to_e164
from bot.settings import Settings
from bot.sms import segments, sink
from bot.sms.incoming import MAX_BODY_CHARS
from bot.sms.settings import WEBHOOK_PATH
from bot.sms.webhook import SIGNATURE_HEADER, public_url

logger = logging.getLogger(__name__)

PAGE = "/console/simulator"
API = "/console/api/simulator/messages"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "simulator.html"

SENT_KEY = "kefu:simulator:sent:{phone}"
MAX_SENT = 100  # per phone: a demo conversation, not an archive
MAX_SHOWN = 100  # sink messages shown when a number is opened
# Placeholders where Twilio would put the account and our number: there is neither offline.
# +15005550006 is Twilio's documented "valid" test number.
LOCAL_ACCOUNT_SID = "AC" + "0" * 32
LOCAL_NUMBER = "+15005550006"
WEBHOOK_TIMEOUT_S = 15.0  # what Twilio waits for a webhook
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def offline(settings: Settings) -> bool:
    """The simulator exists only with no Twilio account: the sender then delivers to the
    local sink, and the token it signs with is a local one, never a real Twilio token."""
    return not settings.twilio_account_sid


def message_sid() -> str:
    """A fresh MessageSid in Twilio's shape (SM + 32 hex), so redelivery checks apply."""
    return "SM" + secrets.token_hex(16)


def inbound_form(phone: str, body: str, sid: str, to: str) -> dict[str, str]:
    """The fields Twilio posts for an incoming SMS (blank ones included: they are signed)."""
    return {
        "ToCountry": "",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "",
        "To": to,
        "ToZip": "",
        "NumSegments": str(segments.count(body).segments),
        "MessageSid": sid,
        "AccountSid": LOCAL_ACCOUNT_SID,
        "From": phone,
        "ApiVersion": "2010-04-01",
    }


def webhook_urls(settings: Settings, request: web.Request) -> tuple[str, str]:
    """(where the desk posts, the URL the signature covers). The desk posts to the address
    this request arrived on (itself, never through the public proxy); the webhook checks
    the signature over SMS_PUBLIC_URL + path when that is set (as behind the reverse proxy
    Twilio calls), else over the URL it was called at: the same rule
    bot.sms.webhook.public_url applies on the receiving side."""
    host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("", 0)
    host = f"[{host}]" if ":" in host else host
    target = f"http://{host}:{port}{WEBHOOK_PATH}"
    return target, public_url(settings.sms_public_url, target, WEBHOOK_PATH, "")


def sign(token: str, url: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature, computed by the official library as Twilio computes it."""
    return str(RequestValidator(token).compute_signature(url, form))


# ---- Redis: what the simulator sent, what reached the number ---------------------------


def sent_key(phone: str) -> str:
    return SENT_KEY.format(phone=phone)


async def record_sent(
    redis: aioredis.Redis, settings: Settings, phone: str, item: dict[str, Any]
) -> None:
    key = sent_key(phone)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, json.dumps(item, ensure_ascii=False))
        pipe.ltrim(key, -MAX_SENT, -1)
        pipe.expire(key, settings.sms_sink_retention_s)
        await pipe.execute()


async def sent_by(redis: aioredis.Redis, phone: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in await redis.lrange(sent_key(phone), 0, -1)]


def _received(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    return {
        "key": entry_id,
        "direction": "to_phone",
        "body": fields.get("body", ""),
        "kind": fields.get("kind", ""),
        "segments": int(fields.get("segments") or 0),
        "encoding": fields.get("encoding", ""),
        "at": float(fields.get("at") or 0),
    }


async def reached(
    redis: aioredis.Redis, phone: str, after: str | None
) -> tuple[list[dict[str, Any]], str]:
    """Sink messages to `phone` (all recent ones, or those after the cursor `after`) and
    the new cursor: the stream's newest id, so the next poll reads only what is new."""
    if after is None:
        newest = await redis.xrevrange(sink.STREAM, count=1)
        cursor = newest[0][0] if newest else "0-0"
        entries = await redis.xrevrange(sink.STREAM, max=cursor, count=sink.MAXLEN)
        entries.reverse()
    else:
        entries = await redis.xrange(sink.STREAM, min="(" + after, count=sink.MAXLEN)
        cursor = entries[-1][0] if entries else after
    mine = [_received(entry_id, f) for entry_id, f in entries if f.get("to") == phone]
    return (mine[-MAX_SHOWN:] if after is None else mine), cursor


# ---- HTTP --------------------------------------------------------------------------------


def _phone(value: object) -> str | web.Response:
    if not isinstance(value, str) or not value.strip():
        return json_error(400, "phone", "phone is required (E.164, e.g. +8613800000009)")
    try:
        return to_e164(value)
    except InvalidPhone:
        return json_error(400, "phone", "phone is not a valid phone number")


def _not_found() -> web.Response:
    return json_error(404, "path", "the SMS simulator exists only without a Twilio account")


async def page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not offline(settings):
        raise web.HTTPNotFound()
    token_missing = "" if settings.twilio_auth_token else "missing"
    content = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        token=html.escape(token_missing, quote=True),
        max_body=MAX_BODY_CHARS,
    )
    return layout(request, "simulator", "短信模拟 SMS simulator", Markup(content))


async def send(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not offline(settings):
        return _not_found()
    try:
        payload = await request.json()
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "body", "expected a JSON object {phone, body}")
    if not isinstance(payload, dict):
        return json_error(400, "body", "expected a JSON object {phone, body}")
    phone = _phone(payload.get("phone"))
    if isinstance(phone, web.Response):
        return phone
    text = payload.get("body")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "body", "body is required: the text of the SMS")
    if len(text) > MAX_BODY_CHARS:
        return json_error(400, "body", f"body is longer than {MAX_BODY_CHARS} characters")
    token = settings.secret("twilio_auth_token")
    if not token:
        return json_error(
            503,
            "TWILIO_AUTH_TOKEN",
            "no local signing token: start with scripts/start.sh or set TWILIO_AUTH_TOKEN",
        )

    sid = message_sid()
    form = inbound_form(phone, text, sid, settings.twilio_from_number or LOCAL_NUMBER)
    target, signed_url = webhook_urls(settings, request)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        SIGNATURE_HEADER: sign(token, signed_url, form),
    }
    http = request.app[CONSOLE].http
    try:
        async with http.post(
            target,
            data=urlencode(form).encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
        ) as response:
            status, answer = response.status, (await response.text())[:500]
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("simulator: SMS webhook unreachable at %s (%s)", target, exc)
        return json_error(502, "webhook", f"the SMS webhook did not answer ({target})")
    if status != 200:
        logger.warning("simulator: SMS webhook refused %s from %s", status, mask(phone))
        return json_error(502, "webhook", f"the SMS webhook answered {status}: {answer}")

    info = segments.count(text)
    item = {
        "key": sid,
        "direction": "from_phone",
        "body": text,
        "kind": "inbound",
        "segments": info.segments,
        "encoding": info.encoding,
        "at": time.time(),
    }
    await record_sent(request.app[REDIS], settings, phone, item)
    return web.json_response({"message": item}, status=201)


async def conversation(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not offline(settings):
        return _not_found()
    phone = _phone(request.query.get("phone"))
    if isinstance(phone, web.Response):
        return phone
    after = request.query.get("after")
    if after is not None and not STREAM_ID.fullmatch(after):
        return json_error(400, "after", "after must be a cursor this API returned")
    redis = request.app[REDIS]
    received, cursor = await reached(redis, phone, after)
    messages = sorted([*await sent_by(redis, phone), *received], key=lambda m: m["at"])
    return web.json_response({"phone": phone, "messages": messages, "cursor": cursor})


def setup(app: web.Application) -> None:
    """Routes only; the console guard (login, CSRF) covers them as it covers /console/."""
    app.router.add_get(PAGE, page)
    app.router.add_post(API, send)
    app.router.add_get(API, conversation)
    app.middlewares.append(json_errors_for((API,), "storage unavailable; retry"))
