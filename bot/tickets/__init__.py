"""Complaint tickets: grading, SLA, ownership, the Redis store, the desk API.

The Rasa actions use TicketService (see service.py):

    service = TicketService.from_settings(bot.settings.get(), bot.db.connect(url))
    ticket = await service.create_complaint(category=..., description=..., phone=..., ...)
"""

from bot.tickets.errors import (
    ConcurrentUpdate,
    IllegalTransition,
    InvalidField,
    PolicyError,
    TicketError,
    TicketNotFound,
)
from bot.tickets.models import Status, Ticket
from bot.tickets.service import Policies, TicketService

__all__ = [
    "ConcurrentUpdate",
    "IllegalTransition",
    "InvalidField",
    "Policies",
    "PolicyError",
    "Status",
    "Ticket",
    "TicketError",
    "TicketNotFound",
    "TicketService",
]
