"""SMS segment counting (exactly as Twilio's calculator) and splitting of long replies.

Counting ports `SegmentedMessage` of the npm package sms-segments-calculator
(Twilio's own): characters are grapheme clusters, never split across segments;
one character outside the GSM-7 alphabet makes the whole message UCS-2; GSM-7
extension characters take two septets; UCS-2 counts UTF-16 code units, so an
emoji costs two. A single segment holds 140 octets; concatenated segments lose
6 octets to the user data header (160/153 septets, 70/67 UCS-2 units).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

# The calculator's UnicodeToGSM table, split by cost: one septet or two (escape + char).
GSM7_BASIC = frozenset(
    "\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    "¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ"
)
GSM7_EXTENSION = frozenset("\f[\\]^{|}~€")

SEGMENT_BITS = 1120  # 140 octets
UDH_BITS = 48  # 6-octet user data header on every part of a concatenated message
# Twilio rejects a Body over 1,600 characters (error 21617).
MAX_BODY_CHARS = 1600

_GRAPHEME = regex.compile(r"\X")
# Break after a Chinese or Latin sentence end, or after a line break. A Latin
# full stop only counts before whitespace, so "3.5 元" and URLs stay whole.
_SENTENCE_END = regex.compile(r"(?<=[。！？!?…\n])|(?<=\.)(?=\s)")
_SOFT_BREAK = regex.compile(r"(?<=[，、；：,;:\s])")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    characters: int  # graphemes (UCS-2) or septets (GSM-7), as the calculator reports


def graphemes(text: str) -> list[str]:
    # The calculator treats CR LF as two characters although Unicode joins them.
    out: list[str] = []
    for g in _GRAPHEME.findall(text):
        out.extend(("\r", "\n") if g == "\r\n" else (g,))
    return out


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _is_gsm7(grapheme: str) -> bool:
    return len(grapheme) == 1 and (grapheme in GSM7_BASIC or grapheme in GSM7_EXTENSION)


def encoding_of(text: str) -> str:
    return "GSM-7" if all(_is_gsm7(g) for g in graphemes(text)) else "UCS-2"


def _sizes_in_bits(chars: list[str], encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [14 if c in GSM7_EXTENSION else 7 for c in chars]
    return [16 if _is_gsm7(c) else 16 * utf16_units(c) for c in chars]


class _Segment:
    """One SMS part: a list of item sizes in bits (header octets included)."""

    def __init__(self, with_header: bool) -> None:
        self.items: list[int] = [8] * 6 if with_header else []
        self.has_header = with_header

    def free(self) -> int:
        return SEGMENT_BITS - sum(self.items)

    def add_header(self) -> list[int]:
        # Mirrors Segment.addHeader(): the header goes in front, overflowing characters
        # move to the next part.
        self.items[:0] = [8] * 6
        self.has_header = True
        leftover: list[int] = []
        while self.free() < 0:
            leftover.insert(0, self.items.pop())
        return leftover


def count(text: str) -> SegmentInfo:
    chars = graphemes(text)
    encoding = "GSM-7" if all(_is_gsm7(c) for c in chars) else "UCS-2"
    sizes = _sizes_in_bits(chars, encoding)
    segments = [_Segment(with_header=False)]
    for size in sizes:
        current = segments[-1]
        if current.free() < size:
            nxt = _Segment(with_header=True)
            if not current.has_header:  # only the first part, when a second one starts
                nxt.items.extend(current.add_header())
            segments.append(nxt)
            current = nxt
        current.items.append(size)
    characters = len(chars) if encoding == "UCS-2" else sum(s // 7 for s in sizes)
    return SegmentInfo(encoding, len(segments), characters)


def _length(text: str) -> int:
    # Twilio's 1,600 limit, counted in UTF-16 units: the stricter reading for emoji.
    return utf16_units(text)


def _pieces(text: str, pattern: regex.Pattern[str]) -> list[str]:
    return [p for p in pattern.split(text) if p]


def _hard_split(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for g in graphemes(text):
        if current and _length(current + g) > limit:
            parts.append(current)
            current = ""
        current += g
    if current:
        parts.append(current)
    return parts


def _pack(pieces: list[str], limit: int, finer: list[regex.Pattern[str]]) -> list[str]:
    parts: list[str] = []
    current = ""
    for piece in pieces:
        if _length(piece) > limit:
            if current:
                parts.append(current)
                current = ""
            if finer:
                parts.extend(_pack(_pieces(piece, finer[0]), limit, finer[1:]))
            else:
                parts.extend(_hard_split(piece, limit))
            continue
        if current and _length(current + piece) > limit:
            parts.append(current)
            current = ""
        current += piece
    if current:
        parts.append(current)
    return parts


def split_message(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Parts of at most `limit` characters, broken at sentence ends where possible.

    Falls back to clause breaks (commas, spaces), then to character boundaries;
    a character (grapheme) is never cut.
    """
    text = text.strip()
    if _length(text) <= limit:
        return [text] if text else []
    parts = _pack(_pieces(text, _SENTENCE_END), limit, [_SOFT_BREAK])
    return [p.strip() for p in parts if p.strip()]
