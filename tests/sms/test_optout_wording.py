"""No text of ours asks a customer to send an SMS opt-out keyword for anything but opting out.

By SMS, a message that is just CANCEL, STOP, QUIT, END, 退订, TD... opts the customer out
(Twilio and the law; content/sms/keywords.yml). A prompt saying 'reply "cancel" to drop the
complaint' therefore unsubscribes the customer instead. This scans every response text in
domain.yml, data/ and content/ (button titles and payloads too) and the complaint form's own
cancel words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.sms.keywords import Keyword, _normalise, load_keywords
from tests.conftest import ROOT

# Customer-side text (training examples) and the keyword list itself are not our prompts.
NOT_PROMPTS = ("data/nlu/", "content/sms/keywords.yml")
# Offering one of these is fine: the word itself says what it does.
SELF_DESCRIBING = {"unsubscribe", "optout", "退订"}
# ...and so is any keyword offered for opting out ("Reply STOP to opt out", "回复TD退订").
OPT_OUT_PURPOSE = re.compile(
    r"""^["'”’」]?\s*(to\s+(opt[ -]?out|unsubscribe|stop\s+(receiving|getting|our|these|all))"""
    r"""|(即可|可)?退订)""",
    re.IGNORECASE,
)


def opt_out_words() -> list[str]:
    return sorted(
        word for word, keyword in load_keywords().table.items() if keyword is Keyword.STOP
    )


def _offer_pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(
        r"""(?:\b(?:reply|replying|respond|send|text|type|say|enter|press)\s+(?:with\s+)?"""
        r"""|(?:回复|回|发送|发|输入|编辑短信)\s*)["'“‘「]?"""
        rf"""(?P<word>{alternatives})(?![a-z])""",
        re.IGNORECASE,
    )


def offered_opt_out_words(text: str, words: list[str]) -> list[str]:
    """Opt-out keywords `text` tells the customer to send, other than to opt out."""
    found = []
    for match in _offer_pattern(words).finditer(text):
        word = match.group("word")
        if _normalise(word) in SELF_DESCRIBING or OPT_OUT_PURPOSE.match(text[match.end() :]):
            continue
        found.append(word)
    return found


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{where}[{index}]")


def prompt_files() -> list[Path]:
    files = [ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]
    files += sorted((ROOT / "content").rglob("*.yml"))
    return [p for p in files if not str(p.relative_to(ROOT)).startswith(NOT_PROMPTS)]


def test_the_scanner_finds_what_it_should() -> None:
    words = opt_out_words()
    assert offered_opt_out_words('Reply "cancel" to drop the complaint.', words) == ["cancel"]
    assert offered_opt_out_words("Send QUIT to leave the survey", words) == ["QUIT"]
    assert offered_opt_out_words("回复TD取消投诉", words) == ["TD"]
    assert offered_opt_out_words("Reply STOP to opt out.", words) == []
    assert offered_opt_out_words("回复TD退订，回复“帮助”获取帮助。", words) == []
    assert offered_opt_out_words("回复“退订”", words) == []
    assert offered_opt_out_words('Reply "never mind" to drop it; we never end a call.', words) == []
    assert offered_opt_out_words("Reply with the item to change", words) == []


def test_no_prompt_offers_an_opt_out_keyword() -> None:
    words = opt_out_words()
    assert {"cancel", "stop", "quit", "end", "退订", "td"} <= set(words)
    problems = []
    for path in prompt_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for where, text in _strings(data, path.name):
            for word in offered_opt_out_words(text, words):
                problems.append(f"{where}: offers {word!r}: {text[:80]!r}")
    assert problems == []


def test_no_button_is_an_opt_out_keyword() -> None:
    """By SMS a button is a numbered choice shown with its title; a customer may type the
    title instead of the number."""
    words = set(opt_out_words())
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    problems = []
    for name, variants in (domain.get("responses") or {}).items():
        for variant in variants:
            for button in variant.get("buttons") or []:
                for part in ("title", "payload"):
                    if _normalise(str(button.get(part, ""))) in words:
                        problems.append(f"{name}: button {part} {button.get(part)!r}")
    assert problems == []


@pytest.mark.parametrize("section", ["cancel"])
def test_form_cancel_words_are_not_opt_out_keywords(section: str) -> None:
    form = yaml.safe_load((ROOT / "content/complaints/form.yml").read_text(encoding="utf-8"))
    words = set(opt_out_words())
    phrases = [_normalise(str(p)) for p in form[section]["phrases"]]
    assert [p for p in phrases if p in words] == []
