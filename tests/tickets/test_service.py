from __future__ import annotations

from datetime import timedelta

import pytest

from bot.tickets.errors import InvalidField
from bot.tickets.models import Status
from bot.tickets.service import TicketService
from tests.support.tickets import OTHER_PHONE, PHONE, FakeClock, complaint


async def test_complaint_is_graded_owned_and_timed(
    service: TicketService, clock: FakeClock
) -> None:
    ticket = await complaint(
        service,
        "家门口的电线掉落了，还在冒火花",
        category="outage",
        phone="138 0013 8000",
        language="zh",
    )
    assert ticket.phone == PHONE
    assert ticket.grade == "P1" and service.is_urgent(ticket)
    assert ticket.grade_reasons[0].rule == "safety_hazard"
    assert ticket.owner in {"zhang.wei", "liu.yang"} and ticket.status == Status.ASSIGNED
    assert ticket.first_response_due == clock() + timedelta(hours=1)
    assert ticket.resolve_due == clock() + timedelta(hours=4)
    assert service.promised_response(ticket, "zh") == "1小时内"
    assert service.promised_response(ticket, "en") == "within 1 hour"
    assert service.owner_name(ticket, "zh") in {"张伟", "刘洋"}
    assert service.category_label(ticket.category, "en") == "Outage / supply quality"
    stored = await service.store.get(ticket.number)
    assert stored == ticket


async def test_english_complaint(service: TicketService) -> None:
    ticket = await complaint(
        service,
        "  I suggest adding an SMS reminder before the bill is due  ",
        language="en",
        phone="+44 20 7946 0958",
        location="",
    )
    assert ticket.description.startswith("I suggest") and ticket.grade == "P4"
    assert ticket.phone == "+442079460958" and ticket.location == ""
    assert service.promised_response(ticket, "en") == "within 72 hours"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "weather"}, "category"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"location": "x" * 201}, "location"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"language": "fr"}, "language"),
        ({"channel": "Web Chat!"}, "channel"),
        ({"account_id": "12 34"}, "account_id"),
    ],
)
async def test_bad_input_names_the_field(service: TicketService, overrides, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidField) as exc:
        await complaint(service, **overrides)
    assert exc.value.field == field
    assert (await service.store.list()).items == []  # nothing half-created


async def test_repeat_complaint_is_p2_and_goes_to_the_same_owner(service, clock) -> None:  # type: ignore[no-untyped-def]
    first = await complaint(service, "电费不对", category="billing")
    clock.advance(days=3)
    second = await complaint(service, "抄表员态度不好", category="staff_conduct")
    assert second.grade == "P2" and second.grade_reasons[0].rule == "repeat_complaint"
    assert second.owner == first.owner  # 首问负责: the open ticket's owner
    history = await service.store.history(second.number)
    assert history[1].data["reason"] == "previous_owner"
    other = await complaint(service, "电费不对", phone=OTHER_PHONE)
    assert other.grade == "P3"


async def test_repeat_window_is_thirty_days(service, clock) -> None:  # type: ignore[no-untyped-def]
    first = await complaint(service)
    for status in ("in_progress", "resolved", "closed"):
        await service.transition(first.number, status, actor=first.owner)
    clock.advance(days=31)
    later = await complaint(service, category="metering")
    assert later.grade == "P3"
    assert later.owner in {"huang.lei", "xu.jing"}  # no open ticket: normal rotation


async def test_customers_only_see_their_own_tickets(service: TicketService) -> None:
    ticket = await complaint(service)
    assert await service.lookup_for_phone(ticket.number, "13800138000") == ticket
    assert await service.lookup_for_phone(ticket.number.lower(), PHONE) == ticket
    # Another phone, an unknown number and garbage all look exactly like "not found".
    assert await service.lookup_for_phone(ticket.number, OTHER_PHONE) is None
    assert await service.lookup_for_phone("TK20991231-0001", PHONE) is None
    assert await service.lookup_for_phone("'; DROP", PHONE) is None
    assert await service.lookup_for_phone(ticket.number, "not a phone") is None
    assert [t.number for t in await service.open_tickets_for_phone("+86 138-0013-8000")] == [
        ticket.number
    ]
    assert await service.open_tickets_for_phone(OTHER_PHONE) == []
    assert await service.open_tickets_for_phone("garbage") == []


async def test_desk_operations_validate(service: TicketService) -> None:
    ticket = await complaint(service)
    with pytest.raises(InvalidField) as exc:
        await service.transition(ticket.number, "done", actor="desk")
    assert exc.value.field == "status"
    with pytest.raises(InvalidField) as exc:
        await service.reassign(ticket.number, "nobody", actor="desk")
    assert exc.value.field == "owner"
    with pytest.raises(InvalidField) as exc:
        await service.add_note(ticket.number, "x" * 2001, actor="desk")
    assert exc.value.field == "text"
    with pytest.raises(InvalidField) as exc:
        await service.rate(ticket.number, 6, actor="customer")
    assert exc.value.field == "rating"
    with pytest.raises(InvalidField) as exc:
        await service.add_note(ticket.number, "ok", actor="has spaces")
    assert exc.value.field == "actor"
    moved = await service.reassign(ticket.number, "li.na", actor="desk", note="换人")
    assert moved.owner == "li.na"


# ---------------------------------------------------------------- phone verification
WEB = "web:" + "a" * 32
OTHER_WEB = "web:" + "b" * 32


async def test_unverified_web_complaint_is_accepted_but_not_listed_or_counted(
    service: TicketService, clock: FakeClock
) -> None:
    verified = await complaint(service, "电费不对", category="billing")
    clock.advance(days=1)
    # Someone on the web types this customer's phone: the complaint is still filed...
    typed = await complaint(
        service,
        "抄表员态度不好",
        category="staff_conduct",
        channel="web",
        phone_verified=False,
        conversation_id=WEB,
    )
    assert typed.phone == PHONE and typed.phone_verified is False
    assert typed.conversation_id == WEB
    # ...graded without the phone's history (P2 "repeat" or the owner's name would tell
    # the typist that this phone complained before)...
    assert typed.grade == "P3"
    history = await service.store.history(typed.number)
    assert history[0].data["phone_verified"] is False
    assert all(h.data.get("reason") != "previous_owner" for h in history)
    # ...not listed or disclosed to the phone...
    assert [t.number for t in await service.open_tickets_for_phone(PHONE)] == [verified.number]
    assert await service.lookup_for_phone(typed.number, PHONE) is None
    # ...except to the conversation that filed it (it learns nothing it did not type)...
    assert await service.lookup_for_phone(typed.number, PHONE, conversation_id=WEB) == typed
    mine = await service.open_tickets_for_phone(PHONE, conversation_id=WEB)
    assert [t.number for t in mine] == [typed.number, verified.number]
    assert await service.lookup_for_phone(typed.number, PHONE, conversation_id=OTHER_WEB) is None
    # ...and it does not make the phone's next complaint a repeat.
    for status in ("in_progress", "resolved", "closed"):
        await service.transition(verified.number, status, actor=verified.owner)
    clock.advance(days=30)  # the verified complaint is out of the 30-day window
    assert await service.store.count_recent_complaints(PHONE) == 0
    again = await complaint(service, "电费不对", category="billing")
    assert again.grade == "P3"


async def test_verifying_the_phone_makes_the_conversations_tickets_count(
    service: TicketService, clock: FakeClock
) -> None:
    mine = await complaint(service, channel="web", phone_verified=False, conversation_id=WEB)
    other_phone = await complaint(
        service, channel="web", phone=OTHER_PHONE, phone_verified=False, conversation_id=WEB
    )
    someone_else = await complaint(
        service, channel="web", phone_verified=False, conversation_id=OTHER_WEB
    )
    clock.advance(minutes=5)
    flipped = await service.mark_phone_verified(WEB, "138 0013 8000", actor="otp")
    assert [t.number for t in flipped] == [mine.number]
    assert flipped[0].phone_verified and flipped[0].updated_at == clock()
    stored = await service.store.get(mine.number)
    assert stored is not None and stored.phone_verified
    entry = (await service.store.history(mine.number))[-1]
    assert (entry.action, entry.actor) == ("phone_verified", "otp")
    # Only this conversation's tickets with this phone change.
    assert not (await service.store.get(other_phone.number)).phone_verified
    assert not (await service.store.get(someone_else.number)).phone_verified
    assert await service.lookup_for_phone(mine.number, PHONE) == stored
    assert [t.number for t in await service.open_tickets_for_phone(PHONE)] == [mine.number]
    assert await service.store.count_recent_complaints(PHONE) == 1
    # Idempotent: verifying again changes nothing and writes no history.
    entries = len(await service.store.history(mine.number))
    assert await service.mark_phone_verified(WEB, PHONE) == []
    assert len(await service.store.history(mine.number)) == entries
    with pytest.raises(InvalidField):
        await service.mark_phone_verified(WEB, "garbage")
    with pytest.raises(InvalidField):
        await service.mark_phone_verified("has space", PHONE)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone_verified": "yes"}, "phone_verified"),
        ({"conversation_id": "x" * 129}, "conversation_id"),
        ({"conversation_id": "web: spaced"}, "conversation_id"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "key with spaces"}, "idempotency_key"),
    ],
)
async def test_bad_verification_fields_are_named(service, overrides, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidField) as exc:
        await complaint(service, **overrides)
    assert exc.value.field == field


# ---------------------------------------------------------------- idempotent creation
async def test_same_idempotency_key_returns_the_same_ticket(
    service: TicketService, clock: FakeClock
) -> None:
    first = await complaint(service, idempotency_key="complaint:abc")
    clock.advance(seconds=40)  # the re-run comes later, after a crash and a reclaim
    again = await complaint(service, idempotency_key="complaint:abc")
    assert again == first
    assert len((await service.store.list(limit=10)).items) == 1
    other = await complaint(service, idempotency_key="complaint:def")
    assert other.number != first.number
    # Without a key every call files a ticket (the desk API).
    await complaint(service)
    assert len((await service.store.list(limit=10)).items) == 3
