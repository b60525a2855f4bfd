"""Inbound SMS: Twilio's webhook, authenticated, validated, recorded, acknowledged.

The desk serves POST /webhooks/sms/webhook. It records the message in the inbox
(bot.sms.inbox), atomically with the MessageSid check, then answers empty TwiML: no model
runs in this process, so the acknowledgement takes milliseconds whatever the bot is doing,
and a Rasa restart never closes the door. Rasa processes take the message from the inbox
(bot.sms.consumer) and run the turn. A redelivery is recorded once; bad input gets a 4xx
JSON {"error", "field"}, Redis down a 503, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from bot.http import REDIS, SETTINGS, json_error
from bot.phones import InvalidPhone, to_e164
from bot.sms import inbox
from bot.sms.settings import WEBHOOK_PATH, SmsSettings
from bot.sms.webhook import MESSAGE_SID, FormParams, WebhookError, read_signed_form
from bot.text import ascii_int

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_BODY_CHARS = 1600  # the most Twilio delivers in one inbound SMS
MAX_MEDIA = 10


def parse_message(params: FormParams) -> dict[str, Any]:
    """The fields we use, validated: the payload the inbox keeps and the turn reads.
    Raises WebhookError naming the bad field."""
    sid = params.first("MessageSid")
    if not sid or not MESSAGE_SID.fullmatch(sid):
        raise WebhookError(400, "MessageSid", "MessageSid is missing or malformed")
    sender = params.first("From")
    if sender is None or not sender.strip():
        raise WebhookError(400, "From", "From is required")
    try:
        phone = to_e164(sender)
    except InvalidPhone as exc:
        raise WebhookError(400, "From", "From is not a valid phone number") from exc
    body = params.first("Body")
    if body is None:
        raise WebhookError(400, "Body", "Body is required (it may be blank)")
    if len(body) > MAX_BODY_CHARS:
        raise WebhookError(400, "Body", f"Body is longer than {MAX_BODY_CHARS} characters")
    num_media = ascii_int(params.first("NumMedia", "0") or "0", 0, MAX_MEDIA)
    if num_media is None:
        raise WebhookError(400, "NumMedia", f"NumMedia must be an integer 0..{MAX_MEDIA}")
    media = [
        {
            "url": params.first(f"MediaUrl{i}", ""),
            "content_type": params.first(f"MediaContentType{i}", ""),
        }
        for i in range(num_media)
    ]
    return {
        "sid": sid,
        "phone": phone,
        "body": body,
        "num_media": num_media,
        "media": media,
        "opt_out_type": params.first("OptOutType", "") or "",
        "received_at": time.time(),
    }


class IncomingMessages:
    """The webhook's handler."""

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings

    async def handle(self, request: web.Request) -> web.Response:
        try:
            payload = parse_message(await read_signed_form(request, self.settings))
        except WebhookError as exc:
            return json_error(exc.status, exc.field, exc.message)
        try:
            fresh = await inbox.accept(request.app[REDIS], payload["sid"], payload)
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.exception("SMS %s not recorded: Redis unavailable", payload["sid"])
            return json_error(503, None, "temporarily unavailable, please retry")
        if not fresh:
            logger.info("SMS %s redelivered: already recorded", payload["sid"])
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def setup(app: web.Application, settings: SmsSettings | None = None) -> None:
    """Desk capability: POST /webhooks/sms/webhook (public, through the reverse proxy)."""
    settings = settings or SmsSettings.from_settings(app[SETTINGS])
    app.router.add_post(WEBHOOK_PATH, IncomingMessages(settings).handle)
