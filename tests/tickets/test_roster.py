from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.tickets.errors import PolicyError
from bot.tickets.roster import (
    FALLBACK_TEAM,
    PREVIOUS_OWNER,
    ROUND_ROBIN,
    OwnerPicker,
    Roster,
)
from bot.tickets.service import Policies

CATEGORIES = (
    "billing",
    "outage",
    "staff_conduct",
    "repair_delay",
    "construction",
    "metering",
    "other",
)


def test_roster_covers_every_category_bilingually(policies: Policies) -> None:
    roster = policies.roster
    assert roster.categories == CATEGORIES
    for category in CATEGORIES:
        assert roster.category_label(category, "zh") and roster.category_label(category, "en")
        team = roster.team_for(category)
        assert roster.on_duty(team) or roster.on_duty(roster.teams[roster.fallback_team])
    assert roster.display_name("wang.fang", "zh") == "王芳"
    assert roster.display_name("wang.fang", "en") == "Wang Fang"
    assert roster.display_name(None, "zh") is None


async def test_round_robin_within_the_category_team(redis, policies: Policies) -> None:  # type: ignore[no-untyped-def]
    picker = OwnerPicker(policies.roster, redis)
    owners = [(await picker.pick("billing")).owner for _ in range(4)]
    assert owners == ["wang.fang", "li.na", "wang.fang", "li.na"]
    supply = Counter([(await picker.pick("outage")).owner for _ in range(6)])
    # chen.jie is off duty and never gets one
    assert supply == Counter({"zhang.wei": 3, "liu.yang": 3})
    assert (await picker.pick("repair_delay")).reason == ROUND_ROBIN


async def test_rotation_is_shared_across_processes(redis, second_redis, policies) -> None:  # type: ignore[no-untyped-def]
    pickers = [OwnerPicker(policies.roster, redis), OwnerPicker(policies.roster, second_redis)]
    picks = await asyncio.gather(*(pickers[i % 2].pick("metering") for i in range(20)))
    assert Counter(p.owner for p in picks) == Counter({"huang.lei": 10, "xu.jing": 10})


async def test_previous_owner_keeps_the_customer_if_on_duty(redis, policies) -> None:  # type: ignore[no-untyped-def]
    picker = OwnerPicker(policies.roster, redis)
    kept = await picker.pick("metering", previous_owner="zhao.min")
    assert (kept.owner, kept.reason) == ("zhao.min", PREVIOUS_OWNER)
    off_duty = await picker.pick("construction", previous_owner="wu.hao")
    assert (off_duty.owner, off_duty.reason) == ("zhou.qiang", ROUND_ROBIN)
    gone = await picker.pick("construction", previous_owner="someone.who.left")
    assert gone.reason == ROUND_ROBIN


ROSTER = """
fallback_team: general
categories:
  billing: {{label: {{zh: 电费, en: Billing}}, team: billing}}
teams:
  billing: {{name: {{zh: 电费组, en: Billing}}, agents: [a]}}
  general: {{name: {{zh: 综合组, en: General}}, agents: [b]}}
agents:
  a: {{name: {{zh: 甲, en: A}}, on_duty: {a}}}
  b: {{name: {{zh: 乙, en: B}}, on_duty: {b}}}
"""


def _roster(tmp_path: Path, a: bool, b: bool) -> Roster:
    path = tmp_path / "roster.yml"
    path.write_text(ROSTER.format(a=str(a).lower(), b=str(b).lower()), encoding="utf-8")
    return Roster.from_yaml(path)


async def test_fallback_team_then_unassigned(redis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fallback = await OwnerPicker(_roster(tmp_path, False, True), redis).pick("billing")
    assert (fallback.owner, fallback.reason) == ("b", FALLBACK_TEAM)
    nobody = await OwnerPicker(_roster(tmp_path, False, False), redis).pick("billing")
    assert nobody.owner is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("agents: [a]}}\n  general", "agents: [zz]}}\n  general"),  # unknown agent
        ("team: billing}}", "team: nope}}"),  # unknown team
        ("fallback_team: general", "fallback_team: nope"),
        ("{{zh: 甲, en: A}}", "{{zh: 甲}}"),  # missing English name
    ],
)
def test_bad_rosters_fail_at_load(tmp_path: Path, old: str, new: str) -> None:
    path = tmp_path / "roster.yml"
    path.write_text(ROSTER.replace(old, new).format(a="true", b="true"), encoding="utf-8")
    with pytest.raises(PolicyError):
        Roster.from_yaml(path)
