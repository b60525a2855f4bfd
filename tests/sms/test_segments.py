"""Segment counting agrees with Twilio's calculator (npm sms-segments-calculator); long
replies are split at sentence boundaries."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from bot.sms.segments import count, graphemes, split_message, utf16_units
from tests.conftest import ROOT

ORACLE = ROOT / "tests" / "sms" / "segments_oracle.js"

EN = list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,!?'\"-:;()@£$¥èéùìòÇØøÅåÆæßÉÄÖÑÜ§¿\n")
ZH = list("电费停电您好请问我的账户缴费阶梯峰谷投诉工单号客服热线。，！？、")
EXTENSION = list("{}[]~|€^\\")
# Emoji up to Unicode 10 (the calculator's grapheme-splitter 1.0.4 knows no newer
# sequences): plain, skin tones, ZWJ families, flags, keycaps, variation selectors.
EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧", "🇨🇳", "❤️", "1️⃣", "⚡", "🔌", "😂", "🙏🏻", "👩‍💻", "✔️"]
OTHER = ["e\u0301", "\r\n", "`", "’", "“", "–", "…", "\t", "©"]
POOLS = {"en": EN, "zh": ZH, "ext": EXTENSION, "emoji": EMOJI, "other": OTHER}
MIXES = [
    ["en"],
    ["en", "ext"],
    ["zh"],
    ["zh", "en"],
    ["en", "emoji"],
    ["zh", "en", "ext", "emoji"],
    ["en", "ext", "emoji", "other"],
    ["zh", "emoji"],
]
# Lengths around every boundary: 70/67 (UCS-2), 160/153 (GSM-7) and their multiples.
LENGTHS = [1, 5, 66, 67, 68, 70, 71, 134, 135, 152, 153, 154, 159, 160, 161, 306, 307, 459, 700]


def generated(n: int, seed: int = 20261127) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        mix = MIXES[i % len(MIXES)]
        length = rng.choice(LENGTHS)
        chars: list[str] = []
        while len(chars) < length:
            chars.append(rng.choice(POOLS[rng.choice(mix)]))
        out.append("".join(chars))
    return out


def twilio_calculator(texts: list[str]) -> list[dict]:
    if not shutil.which("node"):
        pytest.fail("node is not installed; run scripts/setup.sh --dev")
    result = subprocess.run(
        ["node", str(ORACLE)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_counts_agree_with_twilios_calculator_on_generated_strings() -> None:
    texts = generated(400)
    expected = twilio_calculator(texts)
    ours = [count(t) for t in texts]
    mismatches = [
        (t[:40], o, e)
        for t, o, e in zip(texts, ours, expected, strict=True)
        if (o.encoding, o.segments, o.characters) != (e["encoding"], e["segments"], e["characters"])
    ]
    assert mismatches == []
    # The sample really covers both encodings and multi-part messages.
    assert {o.encoding for o in ours} == {"GSM-7", "UCS-2"}
    assert max(o.segments for o in ours) >= 4


BOUNDARIES = [
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("电" * 70, "UCS-2", 1),
    ("电" * 71, "UCS-2", 2),
    ("电" * 134, "UCS-2", 2),
    ("电" * 135, "UCS-2", 3),
    ("a" * 159 + "电", "UCS-2", 3),  # one Chinese character makes all of it UCS-2
    ("{" * 80, "GSM-7", 1),  # extension characters count double
    ("{" * 81, "GSM-7", 2),
    # ...and are never split: splitting € would fit this in 2 parts, keeping it whole takes 3
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),
    ("😀" * 35, "UCS-2", 1),  # emoji are two UTF-16 units
    ("😀" * 36, "UCS-2", 2),
    ("", "GSM-7", 1),
]


@pytest.mark.parametrize(("text", "encoding", "segments"), BOUNDARIES)
def test_segment_boundaries(text: str, encoding: str, segments: int) -> None:
    info = count(text)
    assert (info.encoding, info.segments) == (encoding, segments)


def test_boundary_cases_agree_with_twilios_calculator() -> None:
    expected = twilio_calculator([text for text, _, _ in BOUNDARIES])
    assert [(e["encoding"], e["segments"]) for e in expected] == [(e, s) for _, e, s in BOUNDARIES]


def test_crlf_counts_as_two_characters_like_the_calculator() -> None:
    assert graphemes("a\r\nb") == ["a", "\r", "\n", "b"]
    assert count("a\r\nb").encoding == "GSM-7"


def test_short_text_is_not_split() -> None:
    assert split_message("  您好。  ") == ["您好。"]
    assert split_message("   ") == []


def test_split_at_sentence_boundaries_within_1600() -> None:
    zh = "峰谷电价分高峰和低谷两个时段。" * 120 + "详情见官网。"
    en = "Off-peak hours are 22:00 to 08:00. Rates are lower then! " * 40
    for text in (zh, en, zh + "\n" + en):
        parts = split_message(text)
        assert len(parts) >= 2
        assert all(utf16_units(p) <= 1600 for p in parts)
        assert all(p[-1] in "。.!" for p in parts)
        assert "".join("".join(parts).split()) == "".join(text.split())  # nothing lost


def test_decimal_points_and_urls_are_not_sentence_ends() -> None:
    text = ("电价0.5元/度，详见 https://kefu-power.example.com/faq. " * 50).strip()
    for part in split_message(text, limit=200):
        assert not part.endswith("0.") and not part.endswith("example.")


def test_one_endless_sentence_is_split_at_commas_then_characters() -> None:
    comma = "，".join(["电费按月结算"] * 400)
    parts = split_message(comma)
    assert all(len(p) <= 1600 for p in parts) and all(p.endswith("，") for p in parts[:-1])
    solid = "😀" * 1000  # 2,000 UTF-16 units, no break anywhere
    parts = split_message(solid)
    assert [utf16_units(p) for p in parts] == [1600, 400]
    assert "".join(parts) == solid
