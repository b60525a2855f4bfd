from __future__ import annotations

from datetime import timedelta

import pytest

from bot.tickets.errors import InvalidField
from bot.tickets.models import Status
from bot.tickets.service import TicketService
from tests.tickets.conftest import OTHER_PHONE, PHONE, FakeClock, complaint


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
