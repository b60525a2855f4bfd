"""Tickets from the console (issue 8, item 11): an agent links or reads a ticket only if it
belongs to a conversation they hold; supervisors may link any."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.handoff.policy import HandoffConfig
from bot.identity.verification import record_verified
from bot.tickets.api import TICKETS
from tests.support.handoff import create_user, login, post, queue_customer

CUSTOMER = "+8613900139000"
STRANGER = "+8613700137000"


async def file(desk: TestClient, phone: str, **kwargs: object) -> str:
    tickets = desk.server.app[TICKETS]
    ticket = await tickets.create_complaint(
        category="billing",
        description="电费单金额不对",
        phone=phone,
        language="zh",
        channel=kwargs.pop("channel", "sms"),
        **kwargs,  # type: ignore[arg-type]
    )
    return ticket.number


async def test_agents_link_only_their_customers_tickets(
    desk: TestClient, redis: aioredis.Redis, open_config: HandoffConfig
) -> None:
    await create_user(redis, "li.na")
    await create_user(redis, "boss", role="supervisor")
    sms = f"sms:{CUSTOMER}"
    theirs = await file(desk, CUSTOMER, phone_verified=True, conversation_id=sms)
    strangers = await file(desk, STRANGER, phone_verified=True)
    await queue_customer(redis, open_config, sms, channel="sms", language="zh", phone=CUSTOMER)
    csrf = await login(desk, "li.na")
    url = f"/console/api/conversations/{sms}/ticket"

    # Not claimed yet: nothing to link.
    assert (await post(desk, csrf, url, {"number": theirs})).status == 403
    assert (await post(desk, csrf, f"/console/api/conversations/{sms}/claim")).status == 200
    linked = await post(desk, csrf, url, {"number": theirs})
    assert linked.status == 200 and (await linked.json())["ticket"]["number"] == theirs
    # Someone else's ticket looks like no ticket at all (no probing for numbers).
    refused = await post(desk, csrf, url, {"number": strangers})
    assert refused.status == 404
    assert (await refused.json())["error"] == f"no ticket {strangers}"

    # A supervisor may link any ticket.
    desk.session.cookie_jar.clear()
    boss = await login(desk, "boss")
    assert (await post(desk, boss, url, {"number": strangers})).status == 200


async def test_a_web_customer_tickets_follow_the_verified_phone(
    desk: TestClient, redis: aioredis.Redis, open_config: HandoffConfig
) -> None:
    await create_user(redis, "li.na")
    web = "web:" + "a" * 32
    # Typed, not verified: the conversation claims CUSTOMER's number.
    await queue_customer(redis, open_config, web, language="zh", phone=CUSTOMER)
    earlier = await file(desk, CUSTOMER, phone_verified=True, conversation_id=f"sms:{CUSTOMER}")
    csrf = await login(desk, "li.na")
    base = f"/console/api/conversations/{web}"
    assert (await post(desk, csrf, base + "/claim")).status == 200
    assert (await post(desk, csrf, base + "/ticket", {"number": earlier})).status == 404

    # A ticket the agent files here is this conversation's, unverified.
    created = await post(
        desk, csrf, base + "/ticket", {"category": "billing", "description": "核查电费"}
    )
    assert created.status == 201
    ticket = (await created.json())["ticket"]
    assert ticket["phone"] == CUSTOMER and ticket["phone_verified"] is False
    assert (await post(desk, csrf, base + "/ticket", {"number": ticket["number"]})).status == 200

    # Once the customer proves the phone (one-time code), its tickets are theirs.
    await record_verified(redis, web, CUSTOMER)
    assert (await post(desk, csrf, base + "/ticket", {"number": earlier})).status == 200
