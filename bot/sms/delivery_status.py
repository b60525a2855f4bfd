"""Twilio delivery status callbacks, served by the desk next to the rest of the outbox.

POST /webhooks/sms/status?id=<outbox id> (the StatusCallback the sender gives Twilio
for each message, bot.sms.settings.status_callback_url): checked like the inbound
webhook (X-Twilio-Signature over the public URL, bot.sms.webhook), then recorded on
the outbox message, never moving its status backwards when callbacks arrive out of
order. Error 21610 (the number replied STOP to Twilio) opts the number out.

403 unsigned or forged, 4xx JSON {"error", "field"} for bad input, 404 when no outbox
message matches, 503 when Redis is down, 204 when recorded.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web
from redis.exceptions import RedisError

from bot.http import REDIS, SETTINGS, json_error
from bot.sms import optout, outbox
from bot.sms.settings import STATUS_PATH, SmsSettings
from bot.sms.webhook import MESSAGE_SID, WebhookError, read_signed_form
from bot.text import is_ascii_digits

logger = logging.getLogger(__name__)

OUTBOX_ID = re.compile(r"OB[0-9a-f]{12,40}")  # fullmatch
OPTED_OUT_AT_TWILIO = "21610"


class DeliveryStatus:
    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings

    async def handle(self, request: web.Request) -> web.Response:
        try:
            params = await read_signed_form(request, self.settings)
        except WebhookError as exc:
            return json_error(exc.status, exc.field, exc.message)
        message_id = request.query.get("id")
        if message_id is not None and not OUTBOX_ID.fullmatch(message_id):
            return json_error(400, "id", "id is not an outbox message id")
        sid = params.first("MessageSid") or params.first("SmsSid") or ""
        if not MESSAGE_SID.fullmatch(sid):
            return json_error(400, "MessageSid", "MessageSid is missing or malformed")
        status = (params.first("MessageStatus") or params.first("SmsStatus") or "").lower()
        if status not in outbox.TWILIO_STATUSES:
            return json_error(400, "MessageStatus", "MessageStatus is missing or unknown")
        error_code = (params.first("ErrorCode") or "").strip()
        if error_code and not is_ascii_digits(error_code):
            return json_error(400, "ErrorCode", "ErrorCode must be numeric")
        redis = request.app[REDIS]
        try:
            found = await outbox.record_status(
                redis, message_id, twilio_sid=sid, twilio_status=status, error_code=error_code
            )
            if found and error_code == OPTED_OUT_AT_TWILIO:
                record = await outbox.get(redis, message_id or await redis.get(outbox.sid_key(sid)))
                if record:
                    await optout.opt_out(redis, record["to"], source="twilio:21610")
        except (RedisError, OSError, asyncio.TimeoutError):
            logger.exception("status callback for %s not recorded", sid)
            return json_error(503, None, "temporarily unavailable, please retry")
        if not found:
            return json_error(404, "id", "no outbox message matches this callback")
        return web.Response(status=204)


def setup(app: web.Application, settings: SmsSettings | None = None) -> None:
    """Desk capability: POST /webhooks/sms/status (public, through the reverse proxy)."""
    settings = settings or SmsSettings.from_settings(app[SETTINGS])
    app.router.add_post(STATUS_PATH, DeliveryStatus(settings).handle)
