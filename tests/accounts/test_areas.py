"""The service areas: the six ids other code relies on, their names, and free-text lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.accounts.areas import AreasError, area, find_area, load_areas


def test_the_six_areas_with_their_names_in_file_order() -> None:
    areas = load_areas()
    assert list(areas) == ["dongcheng", "xicheng", "chaoyang", "haidian", "fengtai", "tongzhou"]
    chaoyang = areas["chaoyang"]
    assert (chaoyang.zh, chaoyang.en) == ("朝阳区", "Chaoyang")
    assert chaoyang.name("zh") == "朝阳区"
    assert chaoyang.name("en") == "Chaoyang"
    assert all(item.aliases for item in areas.values())


def test_area_by_id() -> None:
    found = area("haidian")
    assert found is not None and found.zh == "海淀区"
    assert area("atlantis") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("朝阳区停电了", "chaoyang"),
        ("我家在朝阳，没电了", "chaoyang"),
        ("東城區", "dongcheng"),
        ("No power in Haidian District since noon", "haidian"),
        ("power cut in chao yang", "chaoyang"),
        ("FENGTAI", "fengtai"),
        ("tongzhou", "tongzhou"),
        ("我住在西城区，公司在海淀", "xicheng"),
        ("I work in Haidian but live in Xicheng", "haidian"),
    ],
)
def test_find_area_in_free_text(text: str, expected: str) -> None:
    found = find_area(text)
    assert found is not None and found.id == expected


@pytest.mark.parametrize("text", ["", "   ", "停电了", "no power at home", "上海浦东"])
def test_find_area_none_when_no_area_is_named(text: str) -> None:
    assert find_area(text) is None


def test_a_malformed_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "areas.yml"
    bad.write_text("areas:\n  - id: x\n    zh: 某区\n", encoding="utf-8")
    with pytest.raises(AreasError, match=r"areas\[0\]"):
        load_areas(bad)
    dup = tmp_path / "dup.yml"
    dup.write_text(
        "areas:\n  - {id: x, zh: 甲, en: A}\n  - {id: x, zh: 乙, en: B}\n", encoding="utf-8"
    )
    with pytest.raises(AreasError, match="twice"):
        load_areas(dup)
