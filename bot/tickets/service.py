"""TicketService: what the Rasa actions and the desk API call.

create_complaint() grades (with the repeat rule), picks the owner, sets the SLA deadlines
and writes the ticket durably (once per idempotency key); lookups only disclose a ticket to
the phone that filed it, once that phone is verified (or to the conversation that filed it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot import settings as config
from bot.settings import Settings
from bot.tickets.errors import InvalidField
from bot.tickets.grading import Grader
from bot.tickets.models import HistoryEntry, NewTicket, Status, Ticket
from bot.tickets.roster import OwnerPicker, Roster
from bot.tickets.sla import Clock, SlaPolicy, utc_now
from bot.tickets.store import TicketStore
from bot.tickets.validation import (
    MAX_COMMENT,
    MAX_DESCRIPTION,
    MAX_LOCATION,
    MAX_NOTE,
    clean_account,
    clean_actor,
    clean_channel,
    clean_choice,
    clean_conversation,
    clean_idempotency_key,
    clean_language,
    clean_phone,
    clean_text,
    normalise_number,
)


@dataclass(frozen=True)
class Policies:
    """The three YAML policies, loaded together (a bad file fails at startup)."""

    grader: Grader
    sla: SlaPolicy
    roster: Roster

    @classmethod
    def load(cls, policy_dir: Path | str | None = None) -> Policies:
        """From `policy_dir`, default KEFU_POLICY_DIR."""
        policy_dir = policy_dir or config.get().policy_dir
        grader = Grader.from_dir(policy_dir)
        return cls(
            grader, SlaPolicy.from_dir(policy_dir, grader.grades), Roster.from_dir(policy_dir)
        )


class TicketService:
    def __init__(
        self,
        store: TicketStore,
        grader: Grader,
        roster: Roster,
        sla: SlaPolicy,
        picker: OwnerPicker,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.grader = grader
        self.roster = roster
        self.sla = sla
        self._picker = picker
        self._clock = clock

    @classmethod
    def build(
        cls,
        redis: aioredis.Redis,
        policies: Policies | None = None,
        timezone: str | None = None,
        clock: Clock = utc_now,
    ) -> TicketService:
        """Wire the policies (default: content/policy/) to `redis`."""
        policies = policies or Policies.load()
        timezone = timezone or config.get().timezone
        store = TicketStore(
            redis, policies.sla, grades=policies.grader.grades, tz=ZoneInfo(timezone), clock=clock
        )
        picker = OwnerPicker(policies.roster, redis)
        return cls(store, policies.grader, policies.roster, policies.sla, picker, clock)

    @classmethod
    def from_settings(cls, settings: Settings, redis: aioredis.Redis) -> TicketService:
        return cls.build(redis, Policies.load(settings.policy_dir), settings.timezone)

    # ------------------------------------------------------------ customer side
    async def create_complaint(
        self,
        *,
        # object: the desk and the actions pass what a person typed; it is checked here.
        category: object,
        description: object,
        phone: object,
        language: str,
        channel: str,
        location: str | None = None,
        account_id: str | None = None,
        actor: str = "customer",
        phone_verified: bool = False,
        conversation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Create a graded, owned complaint ticket. Raises InvalidField naming a bad input.

        `phone_verified`: the filer proved they own `phone` (SMS sender, or a web
        conversation that passed the one-time code). `idempotency_key`: the same key again
        returns the ticket already created instead of a second one (a re-run bot turn).
        Returns only after Redis has committed (and, with appendfsync always, fsynced) it.
        """
        category = clean_choice("category", category, self.roster.categories)
        description = clean_text("description", description, MAX_DESCRIPTION)
        location = clean_text("location", location, MAX_LOCATION, required=False)
        phone = clean_phone(phone)
        language = clean_language(language)
        channel = clean_channel(channel)
        account_id = clean_account(account_id)
        actor = clean_actor(actor)
        if not isinstance(phone_verified, bool):
            raise InvalidField("phone_verified", "phone_verified must be true or false")
        if conversation_id is not None:
            conversation_id = clean_conversation(conversation_id)
        if idempotency_key is not None:
            idempotency_key = clean_idempotency_key(idempotency_key)

        now = self._clock()
        previous, previous_owner = 0, None
        if phone_verified:
            # The phone's history counts only for its proven owner: otherwise typing
            # someone's number would reveal (through the grade, the promised time or the
            # owner's name) that they complained before.
            previous = await self.store.count_recent_complaints(
                phone, days=self.grader.repeat_window_days, now=now
            )
            open_tickets = await self.store.open_tickets_for_phone(phone)
            previous_owner = next((t.owner for t in open_tickets if t.owner), None)
        grading = self.grader.grade(description, previous_complaints=previous)
        assignment = await self._picker.pick(category, previous_owner)
        return await self.store.create(
            NewTicket(
                category=category,
                description=description,
                location=location,
                account_id=account_id,
                channel=channel,
                phone=phone,
                language=language,
                grade=grading.grade,
                grade_reasons=grading.reasons,
                owner=assignment.owner,
                assign_reason=assignment.reason,
                created_at=now,
                actor=actor,
                conversation_id=conversation_id,
                phone_verified=phone_verified,
            ),
            idempotency_key=idempotency_key,
        )

    async def mark_phone_verified(
        self, conversation_id: str, phone: str, *, actor: str = "system"
    ) -> list[Ticket]:
        """Called once `conversation_id` has proved it owns `phone` (one-time code): the
        tickets it filed with that phone unverified become verified, so they are listed to
        the phone and count for its repeat grade. Returns the tickets changed."""
        return await self.store.mark_phone_verified(
            clean_conversation(conversation_id), clean_phone(phone), actor=clean_actor(actor)
        )

    async def lookup_for_phone(
        self, number: str, phone: str, *, conversation_id: str | None = None
    ) -> Ticket | None:
        """The ticket if it may be disclosed to `phone` (Ticket.disclosable_to: filed with
        that phone, verified or by this conversation); otherwise None, exactly as for an
        unknown number."""
        normalised = normalise_number(number) if isinstance(number, str) else None
        try:
            e164 = clean_phone(phone)
        except InvalidField:
            return None
        if normalised is None:
            return None
        ticket = await self.store.get(normalised)
        if ticket is None or not ticket.disclosable_to(e164, conversation_id):
            return None
        return ticket

    async def open_tickets_for_phone(
        self, phone: str, *, conversation_id: str | None = None
    ) -> list[Ticket]:
        """Open tickets that may be disclosed to `phone`, newest first ([] for an invalid
        phone): filed with it verified, or unverified by `conversation_id`."""
        try:
            e164 = clean_phone(phone)
        except InvalidField:
            return []
        return await self.store.open_tickets_for_phone(e164, conversation_id=conversation_id)

    # ------------------------------------------------------------ wording helpers
    def owner_name(self, ticket: Ticket, language: str) -> str | None:
        """The owner's name for the customer ('王芳' / 'Wang Fang'); None if unassigned."""
        return self.roster.display_name(ticket.owner, language)

    def promised_response(self, ticket: Ticket, language: str) -> str:
        """The promised first-response time for the ticket's grade ('1小时内' / 'within 1 hour')."""
        return self.sla.promise(ticket.grade, language)

    def category_label(self, category: str, language: str) -> str:
        return self.roster.category_label(category, language)

    def is_urgent(self, ticket: Ticket) -> bool:
        """The most severe grade (safety): offer a human now and the emergency hotline."""
        return ticket.grade == self.grader.grades[0]

    # ------------------------------------------------------------ desk side
    async def transition(
        self, number: str, status: str, *, actor: str, note: str | None = None
    ) -> Ticket:
        target = Status(clean_choice("status", status, tuple(s.value for s in Status)))
        note = clean_text("note", note, MAX_NOTE, required=False) or None
        return await self.store.transition(number, target, actor=clean_actor(actor), note=note)

    async def reassign(
        self, number: str, owner: str, *, actor: str, note: str | None = None
    ) -> Ticket:
        owner = clean_choice("owner", owner, tuple(self.roster.agents))
        note = clean_text("note", note, MAX_NOTE, required=False) or None
        return await self.store.reassign(number, owner, actor=clean_actor(actor), note=note)

    async def add_note(self, number: str, text: str, *, actor: str) -> HistoryEntry:
        text = clean_text("text", text, MAX_NOTE)
        return await self.store.add_note(number, text, actor=clean_actor(actor))

    async def rate(
        self, number: str, rating: object, comment: str | None = None, *, actor: str
    ) -> Ticket:
        if isinstance(rating, float) and rating.is_integer():
            rating = int(rating)  # JSON 4.0 is the integer 4 (as JSON Schema says)
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise InvalidField("rating", "rating must be a whole number from 1 to 5")
        comment = clean_text("comment", comment, MAX_COMMENT, required=False) or None
        return await self.store.rate(number, rating, comment, actor=clean_actor(actor))
