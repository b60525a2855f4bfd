from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.tickets.errors import PolicyError
from bot.tickets.grading import Grader
from bot.tickets.service import Policies

GRADER = Policies.load().grader
P1_EXAMPLES = [e for r in GRADER.rules if r.grade == "P1" for e in r.examples]
P2_EXAMPLES = [e for r in GRADER.rules if r.grade == "P2" for e in r.examples]


def grade_of(text: str, previous: int = 0) -> str:
    return GRADER.grade(text, previous_complaints=previous).grade


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        # Chinese without spaces, inside longer sentences
        ("昨晚我家厨房插座漏电了孩子差点碰到", "P1"),
        ("小区门口的电线掉落在人行道上", "P1"),
        ("楼道电表箱一直冒烟还有焦味", "P1"),
        ("变压器着火了快来人", "P1"),
        ("他刚才触电了", "P1"),
        ("漏 电", "P1"),  # stray spaces between characters
        ("我家墻上插座漏電", "P1"),  # traditional characters
        ("再不处理我就打12398", "P2"),
        ("我要找媒体曝光", "P2"),
        ("已经找了律师准备起诉你们", "P2"),
        ("家里有八十岁的老人", "P2"),
        ("我妈用制氧机，停电很危险", "P2"),
        ("饭店冷库停电，损失很大", "P2"),
        ("电费比上个月高了很多", "P3"),
        ("抄表员态度很差", "P3"),
        ("建议开通微信缴费", "P4"),
        ("希望以后停电前发短信通知", "P4"),
        ("希望尽快解决", "P3"),  # a complaint phrased as a hope
        # English inflections and case
        ("spark", "P1"),
        ("Sparks everywhere", "P1"),
        ("the meter SPARKED", "P1"),
        ("it keeps sparking", "P1"),
        ("ＳＰＡＲＫＳ from the socket", "P1"),  # full-width
        ("a fallen line on Elm Street", "P1"),
        ("the power lines are down", "P1"),
        ("I got a shock from the switch", "P1"),
        ("smoke coming from the pole", "P1"),
        ("the cable is smoking", "P1"),
        ("I will sue you", "P2"),
        ("we are suing", "P2"),
        ("calling my lawyers", "P2"),
        ("reporting you to the regulator", "P2"),
        ("a journalist will hear of this", "P2"),
        ("my father is on life support", "P2"),
        ("my elderly mother", "P2"),
        ("the outage caused a business loss", "P2"),
        ("my bill is wrong", "P3"),
        ("I suggest a payment reminder", "P4"),
        ("It would be nice to have e-invoices", "P4"),
        ("I suggest you fix this terrible service", "P3"),  # complaint wins
        # not hazards: whole words only, and no bare "shocked"
        ("the sparkle of new service", "P3"),
        ("I was shocked by the bill", "P3"),
        ("", "P3"),
    ],
)
def test_grades(text: str, grade: str) -> None:
    assert grade_of(text) == grade


def test_every_yaml_example_gets_its_rules_grade() -> None:
    for rule in GRADER.rules:
        for example in rule.examples:
            result = GRADER.grade(example)
            assert GRADER.rank(result.grade) <= GRADER.rank(rule.grade), example
            assert rule.id in {r.rule for r in result.reasons}, example


def test_reasons_are_bilingual_and_name_the_match() -> None:
    result = GRADER.grade("插座冒烟，我要找记者")
    assert result.grade == "P1"
    assert [r.rule for r in result.reasons] == ["safety_hazard", "regulator_media_legal"]
    first = result.reasons[0]
    assert first.match == "冒烟" and "冒烟" in first.zh and "冒烟" in first.en
    assert first.zh.startswith("安全隐患") and first.en.startswith("Safety hazard")


def test_repeat_complaint_counts_this_one() -> None:
    assert grade_of("电费不对", previous=0) == "P3"
    result = GRADER.grade("电费不对", previous_complaints=1)
    assert result.grade == "P2"
    assert result.reasons[0].rule == "repeat_complaint"
    assert "2" in result.reasons[0].zh and "2" in result.reasons[0].en
    assert grade_of("家里漏电", previous=3) == "P1"  # safety still wins
    assert GRADER.repeat_window_days == 30


def test_raised_never_goes_above_p1() -> None:
    assert [GRADER.raised(g) for g in ("P4", "P3", "P2", "P1")] == ["P3", "P2", "P1", "P1"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), previous=st.integers(min_value=0, max_value=10))
def test_any_text_gets_exactly_one_grade(text: str, previous: int) -> None:
    result = GRADER.grade(text, previous_complaints=previous)
    assert result.grade in GRADER.grades
    assert result.reasons and result.reasons[0].grade == result.grade
    assert all(GRADER.rank(r.grade) >= GRADER.rank(result.grade) for r in result.reasons)
    assert GRADER.grade(text, previous_complaints=previous) == result  # deterministic


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=200),
    keyword=st.sampled_from(P1_EXAMPLES),
    at=st.floats(min_value=0, max_value=1),
)
def test_adding_a_p1_keyword_never_lowers_the_grade(text: str, keyword: str, at: float) -> None:
    i = int(at * len(text))
    with_keyword = f"{text[:i]} {keyword} {text[i:]}"
    before, after = GRADER.grade(text).grade, GRADER.grade(with_keyword).grade
    assert GRADER.rank(after) <= GRADER.rank(before)
    assert after == "P1"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), keyword=st.sampled_from(P2_EXAMPLES))
def test_adding_a_p2_keyword_never_lowers_the_grade(text: str, keyword: str) -> None:
    after = GRADER.grade(f"{text} {keyword}").grade
    assert GRADER.rank(after) <= min(GRADER.rank(GRADER.grade(text).grade), GRADER.rank("P2"))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="漏电线掉落冒烟着火老人建议希望停电了我家的不好", max_size=30),
    previous=st.integers(min_value=0, max_value=5),
)
def test_a_repeat_never_lowers_the_grade(text: str, previous: int) -> None:
    now = GRADER.grade(text, previous_complaints=previous).grade
    later = GRADER.grade(text, previous_complaints=previous + 1).grade
    assert GRADER.rank(later) <= GRADER.rank(now)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "grading.yml"
    path.write_text(body, encoding="utf-8")
    return path


BASE = """
grades: [P1, P2, P3, P4]
default: {grade: P3, reason: {zh: 一般, en: Ordinary}}
rules:
"""


def test_a_yaml_example_that_does_not_match_fails_at_load(tmp_path: Path) -> None:
    body = BASE + (
        "  - id: safety\n    grade: P1\n    reason: {zh: 安全, en: Safety}\n"
        "    words: [spark]\n    examples: [flame]\n"
    )
    with pytest.raises(PolicyError, match="does not match"):
        Grader.from_yaml(_write(tmp_path, body))


@pytest.mark.parametrize(
    "rule",
    [
        "  - id: x\n    grade: P9\n    reason: {zh: a, en: b}\n    words: [a]\n",
        "  - id: x\n    grade: P1\n    reason: {zh: a}\n    words: [a]\n",
        "  - id: x\n    grade: P1\n    reason: {zh: a, en: b}\n",
        "  - id: x\n    grade: P1\n    reason: {zh: a, en: b}\n    anywhere: ['(']\n",
    ],
)
def test_bad_rules_fail_at_load(tmp_path: Path, rule: str) -> None:
    with pytest.raises(PolicyError):
        Grader.from_yaml(_write(tmp_path, BASE + rule))


def test_a_company_can_swap_the_rules_without_code(tmp_path: Path) -> None:
    body = BASE + (
        "  - id: gas\n    grade: P1\n    reason: {zh: '燃气 {match}', en: 'Gas {match}'}\n"
        "    anywhere: [煤气味]\n    words: ['gas (leak|smell)s?']\n"
        "    examples: [有煤气味, a gas leak]\n"
    )
    grader = Grader.from_yaml(_write(tmp_path, body))
    assert grader.grade("楼道里有煤气味").grade == "P1"
    assert grader.grade("GAS SMELLS here").reasons[0].en == "Gas gas smells"
    assert grader.grade("家里漏电").grade == "P3"  # only this file's rules apply
