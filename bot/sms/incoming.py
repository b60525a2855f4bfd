"""Inbound SMS: Twilio's webhook, authenticated, validated, recorded, acknowledged.

POST /webhooks/sms/webhook answers at once with empty TwiML (Twilio gives up after
15 s; a bot turn may take longer) after recording the message in the inbox
(bot.sms.inbox), atomically with the MessageSid check, so a redelivery is processed
once and a crash mid-turn loses nothing. The turn itself runs in the background
(bot.sms.turns). Bad input gets a 4xx JSON {"error", "field"}, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.phones import InvalidPhone, to_e164
from bot.sms import inbox
from bot.sms.settings import SmsSettings
from bot.sms.turns import OnNewMessage, TurnRunner
from bot.sms.webhook import (
    MESSAGE_SID,
    SIGNATURE_HEADER,
    FormParams,
    WebhookError,
    authenticate,
)
from bot.text import ascii_int

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_BODY_CHARS = 1600  # the most Twilio delivers in one inbound SMS
MAX_MEDIA = 10


def json_error(status: int, field: str | None, message: str) -> HTTPResponse:
    body = {"error": message}
    if field:
        body["field"] = field
    return response.json(body, status=status)


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
    """The webhook's handler: one per channel."""

    def __init__(
        self, settings: SmsSettings, redis: Callable[[], aioredis.Redis], turns: TurnRunner
    ) -> None:
        self.settings = settings
        self._redis = redis
        self.turns = turns

    def authenticate(self, request: Request) -> FormParams:
        return authenticate(
            self.settings.auth_token,
            self.settings.public_url,
            signature=request.headers.get(SIGNATURE_HEADER),
            content_type=request.headers.get("content-type"),
            body=request.body or b"",
            seen_url=request.url,
            path=request.path,
            query=request.query_string,
        )

    async def receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        try:
            payload = parse_message(self.authenticate(request))
        except WebhookError as exc:
            return json_error(exc.status, exc.field, exc.message)
        try:
            fresh = await inbox.accept(self._redis(), payload["sid"], payload)
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.exception("SMS %s not recorded: Redis unavailable", payload["sid"])
            return json_error(503, None, "temporarily unavailable, please retry")
        if fresh:
            self.turns.start(payload, on_new_message)
        else:
            logger.info("SMS %s redelivered: already processed", payload["sid"])
        return response.text(EMPTY_TWIML, content_type="text/xml")
