"""Comments that say the problem is not solved (content/surveys/unsolved.yml)."""

from __future__ import annotations

import pytest

from bot.surveys.unsolved import load_phrases, says_unsolved


@pytest.mark.parametrize(
    "comment",
    [
        "not happy, still broken",
        "Still NOT fixed!",
        "It still doesn\u2019t work",
        "问题还在",
        "还是没电，没人来",
        "ｎｏｔ ｆｉｘｅｄ",  # full-width
        "不满意，没解决",
    ],
)
def test_unsolved(comment: str) -> None:
    assert says_unsolved(comment)


@pytest.mark.parametrize(
    "comment",
    [None, "", "5", "非常满意", "fixed quickly, thanks", "已解决，谢谢", "nothing wrong now"],
)
def test_not_unsolved(comment: str | None) -> None:
    assert not says_unsolved(comment)


def test_every_language_has_phrases() -> None:
    assert len(load_phrases()) > 20
