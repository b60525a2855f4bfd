"""A return visit end to end on the running stack: a ticket resolved through the desk API
gets its survey by SMS (the desk asks Rasa with trigger_intent), the customer's reply is
understood in that context, and a low one reopens the ticket.

The only shortcut is time: the test brings the visit's due time forward, as if
KEFU_RETURN_VISIT_DELAY_S had passed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot import db
from bot.sms.menu import known_key
from bot.surveys.store import DUE
from tests.conftest import DESK_TEST_TOKEN, Stack
from tests.support.sms import Texter, eventually, read_sink

pytestmark = pytest.mark.stack

PHONE = "+8613700000456"
AUTH = {"Authorization": f"Bearer {DESK_TEST_TOKEN}"}


@pytest.fixture
async def texter(stack: Stack) -> AsyncIterator[Texter]:
    redis = db.connect(stack.redis.url)
    await redis.set(known_key(PHONE), "1")  # past the first-contact menu
    async with aiohttp.ClientSession() as session:
        yield Texter(stack.desk_url, session, redis, PHONE)
    await redis.close()


async def test_a_resolved_ticket_is_surveyed_by_sms_and_a_low_rating_reopens_it(
    texter: Texter, stack: Stack
) -> None:
    api = f"{stack.desk_url}/api/tickets"
    session = texter.session
    created = await session.post(
        api,
        headers=AUTH,
        json={
            "category": "outage",
            "description": "楼道灯一直闪，电压不稳",
            "location": "朝阳区建国路 66 号",
            "phone": PHONE,
            "language": "zh",
            "channel": "sms",
            "phone_verified": True,
        },
    )
    assert created.status == 201, await created.text()
    number = (await created.json())["number"]
    for status in ("in_progress", "resolved"):
        moved = await session.post(
            f"{api}/{number}/status", headers=AUTH, json={"status": status, "actor": "test"}
        )
        assert moved.status == 200, await moved.text()

    visit = f"{number}:1"

    async def scheduled() -> bool:
        return await texter.redis.zscore(DUE, visit) is not None

    await eventually(scheduled, timeout=30)
    before = len(await read_sink(texter.redis, PHONE))
    await texter.redis.zadd(DUE, {visit: time.time()})  # the delay has passed

    async def surveyed() -> list[dict]:
        sent = await read_sink(texter.redis, PHONE)
        return sent[before:]

    [survey] = await eventually(surveyed, timeout=60)
    assert number in survey["body"] and "1-5" in survey["body"]
    assert survey["kind"] == "survey" and survey["segments"] in ("1", "2", 1, 2)

    [reply] = await texter.text("2分，灯还是闪，没修好")
    assert number in reply and "重新打开" in reply
    ticket = (await (await session.get(f"{api}/{number}", headers=AUTH)).json())["ticket"]
    assert ticket["status"] == "reopened" and ticket["rating"] == 2

    # A later digit changes nothing: the survey took its answer.
    [late] = await texter.text("5")
    assert "结束" in late or "谢谢" in late
    ticket = (await (await session.get(f"{api}/{number}", headers=AUTH)).json())["ticket"]
    assert ticket["rating"] == 2
