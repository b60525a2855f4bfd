"""No process of the stack logs a phone number in the clear (issue 8, item 12).

A customer texts the bot (a keyword, a complaint filed by SMS, a request for a person)
and a back-office system looks up their tickets by phone, which makes Rasa, the action
server and the desk (its access log) all log about them.
Afterwards every log file the stack wrote is searched for the number in any form.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from bot import db
from bot.logmask import PHONE_PATTERN
from bot.phones import mask
from tests.conftest import DESK_TEST_TOKEN, Stack
from tests.support.sms import inbound, post_signed, read_sink, wait_for_sink

pytestmark = pytest.mark.stack

PHONE = "+8613712340042"  # this test's customer; no other test uses it
TICKET = re.compile(r"TK\d{8}-\d{4,}")


async def text(session: aiohttp.ClientSession, stack: Stack, redis, body: str) -> list[str]:  # type: ignore[no-untyped-def]
    before = len(await read_sink(redis, PHONE))
    response = await post_signed(session, stack.desk_url, inbound(body, PHONE))
    assert response.status == 200
    await wait_for_sink(redis, PHONE, count=before + 1, timeout=60)
    await asyncio.sleep(0.5)  # a turn may send more than one SMS
    return [m["body"] for m in (await read_sink(redis, PHONE))[before:]]


def leaks(log: Path) -> list[str]:
    """Lines of `log` with a phone number that bot.logmask would have masked."""
    return [
        line[:300]
        for line in log.read_text(errors="replace").splitlines()
        if PHONE_PATTERN.search(line) or PHONE[3:] in line
    ]


async def test_an_sms_conversation_leaves_no_phone_number_in_any_log(stack: Stack) -> None:
    redis = db.connect(stack.redis.url)
    try:
        async with aiohttp.ClientSession() as session:
            await text(session, stack, redis, "帮助")  # HELP keyword: the channel logs it
            await text(session, stack, redis, "我要投诉，抄表员上门态度很差还骂人")
            await text(session, stack, redis, "服务态度")
            await text(session, stack, redis, "朝阳区建国路66号")
            created = " ".join(await text(session, stack, redis, "是"))
            assert TICKET.search(created), created  # the action server filed (and logged) it
            await text(session, stack, redis, "转人工")
            # The desk's access log records this URL, phone and all (URL-encoded).
            async with session.get(
                f"{stack.desk_url}/api/tickets",
                params={"phone": PHONE},
                headers={"Authorization": f"Bearer {DESK_TEST_TOKEN}"},
            ) as listed:
                assert listed.status == 200
    finally:
        await redis.close()
    await asyncio.sleep(1)  # let the desk's sender and the processes write their last lines

    logs = sorted(stack.logs.glob("*.log"))
    assert logs, "the stack wrote no logs"
    found = {log.name: leaks(log) for log in logs}
    assert not any(found.values()), found
    # Not vacuous: each process did log about this customer, masked.
    for name in ("actions.log", "rasa.log", "desk.log"):
        assert mask(PHONE) in (stack.logs / name).read_text(errors="replace"), name
