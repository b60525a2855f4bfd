"""SMS input channel (credentials.yml: `bot.sms.channel.SmsInput:`): the Rasa side of SMS.

Twilio's webhooks are the desk's (bot.sms.incoming records inbound messages in the inbox
and acknowledges them; bot.sms.delivery_status). Here, from one module per job:
- bot.sms.consumer: claims inbox messages while this process has a free turn slot;
- bot.sms.turns: the bot turn, STOP/START/HELP handled without the bot;
- bot.sms.recovery: turns a crashed process left unfinished are run again;
- bot.sms.output: what the bot says goes into the durable outbox, which the desk's sender
  delivers; nothing is sent from Rasa.

Routes (Rasa mounts them under /webhooks/sms/): GET / (health).
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import action_retry, db, logmask
from bot.ops.turns import observed
from bot.sms.consumer import POLL_S, InboxConsumer
from bot.sms.keywords import Keywords, load_keywords, load_texts
from bot.sms.menu import load_menu
from bot.sms.output import SmsOutboxOutput
from bot.sms.recovery import InboxReclaimer
from bot.sms.settings import SmsSettings
from bot.sms.turns import OnNewMessage, TurnRunner

logger = logging.getLogger(__name__)
# credentials.yml makes every Rasa process import this module: mask phones in all its logs.
logmask.install()
# ... and retry custom-action calls the action server was not there to take.
action_retry.install()


class SmsInput(InputChannel):
    """Answers inbound SMS that the desk recorded."""

    @classmethod
    def name(cls) -> str:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Settings come from the environment (the desk reads the same ones).
        return cls(SmsSettings.from_env())

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
        self.reclaimer = InboxReclaimer(settings, self.redis, self.turns)
        self._consumer: InboxConsumer | None = None
        self.settings = settings

    @property
    def settings(self) -> SmsSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: SmsSettings) -> None:
        """Every part works with the same settings (tests replace them)."""
        self._settings = settings
        self.turns.settings = self.reclaimer.settings = settings

    def redis(self) -> aioredis.Redis:
        # Made on first use, inside the server's event loop.
        if self._redis is None:
            self._redis = db.connect(self.settings.redis_url)
        return self._redis

    def get_output_channel(self) -> OutputChannel:
        return SmsOutboxOutput(self.redis(), self.texts)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        on_new_message = observed(on_new_message, self.name())  # kefu_turns_total, log context
        bp = Blueprint("sms_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            self.start(app, on_new_message)

        @bp.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.close()

        return bp

    def start(self, app: Any, on_new_message: OnNewMessage) -> None:
        """Starts answering the inbox (once Rasa's server, and so its agent, is up)."""
        self.turns.app = app
        if self._consumer is None:
            self._consumer = InboxConsumer(
                db.connect(self.settings.redis_url, block_ms=int(POLL_S * 1000)), self.turns
            )
            self._consumer.start(on_new_message)
        self.reclaimer.start(on_new_message)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        await self.reclaimer.stop()
        await self.turns.drain()
        if self._redis is not None:
            await self._redis.close()
            self._redis = None
