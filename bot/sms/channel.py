"""SMS input channel for Twilio webhooks (credentials.yml: `bot.sms.channel.SmsInput:`).

The Rasa side of SMS, wired here from one module per job:
- bot.sms.incoming: the webhook, signature-checked (X-Twilio-Signature over the public
  URL and every form field), recorded durably and acknowledged with empty TwiML at once;
- bot.sms.turns: the bot turn in the background, STOP/START/HELP handled without the bot;
- bot.sms.recovery: turns a crashed process left unfinished are run again;
- bot.sms.output: what the bot says goes into the durable outbox, which the desk's sender
  delivers; nothing is sent from Rasa.
Twilio's delivery status callbacks are the outbox's business: the desk serves them
(bot.sms.delivery_status).

Routes (Rasa mounts them under /webhooks/sms/): POST webhook, GET / (health).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db, logmask
from bot.sms.incoming import IncomingMessages
from bot.sms.keywords import Keywords, load_keywords, load_texts
from bot.sms.menu import load_menu
from bot.sms.output import SmsOutboxOutput
from bot.sms.recovery import InboxReclaimer
from bot.sms.settings import SmsSettings
from bot.sms.turns import OnNewMessage, TurnRunner

logger = logging.getLogger(__name__)
# credentials.yml makes every Rasa process import this module: mask phones in all its logs.
logmask.install()


class SmsInput(InputChannel):
    """Twilio Programmable Messaging webhooks, hardened."""

    @classmethod
    def name(cls) -> str:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Secrets come only from the environment; credentials.yml may set the public URL.
        settings = SmsSettings.from_env()
        if credentials and credentials.get("public_url"):
            settings = replace(settings, public_url=str(credentials["public_url"]).rstrip("/"))
        return cls(settings)

    def __init__(
        self,
        settings: SmsSettings | None = None,
        keywords: Keywords | None = None,
        texts: dict[str, str] | None = None,
    ) -> None:
        settings = settings or SmsSettings.from_env()
        self.texts = texts or load_texts()
        self._redis: aioredis.Redis | None = None
        self.turns = TurnRunner(
            settings, keywords or load_keywords(), self.texts, self.redis, load_menu()
        )
        self.incoming = IncomingMessages(settings, self.redis, self.turns)
        self.reclaimer = InboxReclaimer(settings, self.redis, self.turns)
        self.settings = settings
        if not settings.auth_token:
            logger.error("TWILIO_AUTH_TOKEN is not set: every SMS webhook will be refused (403)")

    @property
    def settings(self) -> SmsSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: SmsSettings) -> None:
        """Every part works with the same settings (tests replace them)."""
        self._settings = settings
        self.turns.settings = self.incoming.settings = self.reclaimer.settings = settings

    def redis(self) -> aioredis.Redis:
        # Made on first use, inside the server's event loop.
        if self._redis is None:
            self._redis = db.connect(self.settings.redis_url)
        return self._redis

    def get_output_channel(self) -> OutputChannel:
        return SmsOutboxOutput(self.redis(), self.texts)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("sms_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.incoming.receive(request, on_new_message)

        @bp.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            self.turns.app = app
            self.reclaimer.start(on_new_message)

        @bp.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.close()

        return bp

    async def close(self) -> None:
        await self.reclaimer.stop()
        await self.turns.drain()
        if self._redis is not None:
            await self._redis.close()
            self._redis = None
