"""Every notice and reminder text, rendered: Chinese fits one UCS-2 segment (70 characters)
for typical values, English one GSM-7 segment; a long operator text falls back to the short
form rather than a second segment."""

from __future__ import annotations

import time
from datetime import date

import pytest

from bot.accounts.areas import load_areas
from bot.notices import broadcast, reminders
from bot.sms.segments import count
from tests.support.notices import account, bill, outage

NOTICES = [
    (kind, change)
    for kind in ("planned", "fault")
    for change in ("published", "eta_changed", "restored", "cancelled")
]
# The two longest area names together: the worst typical case.
AREAS = sorted(load_areas(), key=lambda a: len(load_areas()[a].en))[-2:]


@pytest.mark.parametrize(("kind", "change"), NOTICES)
def test_each_notice_fits_one_segment_in_both_languages(kind: str, change: str) -> None:
    notice = broadcast.compose(
        outage(kind=kind, areas=AREAS, starts_in_h=30, eta_in_h=30),  # ETA on another day
        change,
        now=time.time(),
        validity_s=3600,
    )
    assert notice is not None
    zh, en = count(notice.bodies["zh"]), count(notice.bodies["en"])
    assert (zh.encoding, zh.segments) == ("UCS-2", 1), notice.bodies["zh"]
    assert (en.encoding, en.segments) == ("GSM-7", 1), notice.bodies["en"]
    assert "TD" in notice.bodies["zh"] and "STOP" in notice.bodies["en"]


def test_the_operators_text_is_included_when_it_fits() -> None:
    notice = broadcast.compose(outage(kind="fault"), "published", now=time.time(), validity_s=60)
    assert notice is not None
    assert "线路故障抢修。" in notice.bodies["zh"]
    assert "A cable is being repaired." in notice.bodies["en"]
    assert "朝阳区" in notice.bodies["zh"] and "Chaoyang" in notice.bodies["en"]


def test_a_long_operator_text_falls_back_to_the_short_form() -> None:
    long_text = {
        "zh": "因电缆沟施工导致中压线路外力破坏，抢修人员已到达现场，正在全力抢修。" * 2,
        "en": "A digger cut a medium-voltage cable; crews are on site. " * 3,
    }
    notice = broadcast.compose(
        outage(kind="fault", text=long_text), "published", now=time.time(), validity_s=60
    )
    assert notice is not None
    assert count(notice.bodies["zh"]).segments == 1 and "抢修人员" not in notice.bodies["zh"]
    assert count(notice.bodies["en"]).segments == 1 and "digger" not in notice.bodies["en"]
    assert "深表歉意" in notice.bodies["zh"]


def test_an_unknown_eta_is_said_so() -> None:
    notice = broadcast.compose(
        outage(kind="fault", eta_in_h=None), "published", now=time.time(), validity_s=60
    )
    assert notice is not None
    assert "恢复时间待定" in notice.bodies["zh"]
    assert "to be confirmed" in notice.bodies["en"]


def test_changes_without_a_notice() -> None:
    for change in ("text_changed", "in_progress", "nonsense"):
        assert broadcast.compose(outage(), change, now=time.time(), validity_s=60) is None


@pytest.mark.parametrize("which", ["due", "overdue"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_reminders_fit_one_segment(which: str, language: str) -> None:
    text = reminders.render(
        which,
        account("1100000001", "+8613800000001"),
        bill("1100000001", "2026-11", date(2026, 12, 25), amount="12345.67"),
        language,
    )
    assert count(text).segments == 1, text
    assert "1100000001" in text and "12345.67" in text
    assert ("12月25日" if language == "zh" else "25 Dec") in text


def test_a_planned_outage_without_an_end_time_reads_naturally() -> None:
    notice = broadcast.compose(
        outage(kind="planned", starts_in_h=30, eta_in_h=None),
        "published",
        now=time.time(),
        validity_s=60,
    )
    assert notice is not None
    assert "至" not in notice.bodies["zh"] and "计划停电" in notice.bodies["zh"]
    assert (
        " to ." not in notice.bodies["en"] and "planned outage in Chaoyang" in notice.bodies["en"]
    )
