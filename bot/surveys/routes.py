"""Where a return visit is asked: the open web chat, else SMS, else nowhere (unreachable).

- the ticket's conversation is a web chat (`web:<hex>`) that is open now: in the widget;
- otherwise by SMS to the ticket's phone, in the conversation `sms:+E164` - but a ticket
  filed on the web with a phone it never proved it holds gets no SMS: the message names the
  case, and the phone may be someone else's. "Verified once" is the ticket's own flag (set
  by TicketService.mark_phone_verified when the conversation passed the one-time code) or
  the filing conversation's verified phone (bot/identity/verification.py) being that phone;
- neither: None, and the visit is listed as unreachable (a visit attempted).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.identity.verification import verified_phone
from bot.surveys import presence
from bot.surveys.models import OUTPUT_CHANNEL, SMS, WEB
from bot.tickets.models import Ticket

WEB_PREFIX = "web:"


@dataclass(frozen=True)
class Route:
    channel: str  # "web" | "sms"
    conversation_id: str
    phone: str | None

    @property
    def output_channel(self) -> str:
        """The Rasa channel name that pushes to the customer (see OUTPUT_CHANNEL)."""
        return OUTPUT_CHANNEL[self.channel]


def sms_conversation(phone: str) -> str:
    return f"sms:{phone}"


def filed_on_web(ticket: Ticket) -> bool:
    return bool(ticket.conversation_id and ticket.conversation_id.startswith(WEB_PREFIX))


async def phone_verified_once(redis: aioredis.Redis, ticket: Ticket) -> bool:
    if ticket.phone_verified:
        return True
    if not ticket.conversation_id:
        return False
    return await verified_phone(redis, ticket.conversation_id) == ticket.phone


async def choose(redis: aioredis.Redis, ticket: Ticket, now: float) -> Route | None:
    conversation = ticket.conversation_id
    if conversation and filed_on_web(ticket) and await presence.is_open(redis, conversation, now):
        return Route(WEB, conversation, None)
    if filed_on_web(ticket) and not await phone_verified_once(redis, ticket):
        return None
    if not ticket.phone:
        return None
    return Route(SMS, sms_conversation(ticket.phone), ticket.phone)
