from __future__ import annotations

import pytest

from bot.sms.keywords import Keyword, from_twilio, load_keywords, load_texts


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", Keyword.STOP),
        ("  stop\n", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("stopall", Keyword.STOP),
        ("退订", Keyword.STOP),
        ("td", Keyword.STOP),
        ("ＴＤ", Keyword.STOP),  # full-width, as typed on a Chinese keyboard
        ("退订。", Keyword.STOP),
        ("cancel!", Keyword.STOP),
        ("START", Keyword.START),
        ("unstop", Keyword.START),
        ("订阅", Keyword.START),
        ("HELP", Keyword.HELP),
        ("帮助", Keyword.HELP),
        ("please stop sending", None),  # whole message only
        ("我想退订电费通知短信", None),
        ("STOP IT", None),
        ("", None),
    ],
)
def test_whole_message_keywords(body: str, keyword: Keyword | None) -> None:
    assert load_keywords().classify(body) is keyword


def test_twilio_opt_out_type() -> None:
    assert from_twilio("STOP") is Keyword.STOP and from_twilio("start") is Keyword.START
    assert from_twilio("HELP") is Keyword.HELP
    assert from_twilio("") is None and from_twilio(None) is None and from_twilio("WHAT") is None


def test_texts_are_bilingual() -> None:
    texts = load_texts()
    for key in ("opted_out", "opted_in", "help", "media_only", "empty", "error"):
        assert any("\u4e00" <= c <= "\u9fff" for c in texts[key]), key
        assert any(c.isascii() and c.isalpha() for c in texts[key]), key


def test_a_word_in_two_lists_is_refused(tmp_path) -> None:
    path = tmp_path / "keywords.yml"
    path.write_text("opt_out: [STOP]\nopt_in: [stop]\nhelp: [HELP]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="two lists"):
        load_keywords(path)
