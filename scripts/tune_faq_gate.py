"""Tune the FAQ gate (bot/nlu/gate.py) on out-of-scope data: which response-selector
confidence and margin an FAQ answer needs.

Reads a prediction dump made by `scripts/nlu_report.py --dump` (each prediction keeps the
intent it had before the gate) and replays the gate over a grid of thresholds. Only the
development half of the blind and out-of-scope sets is used to choose (a sentence is in
it when the SHA-1 of its text is even); the other half is reported next to it, so the
choice can be checked on sentences it never saw.

For each pair it counts, per half:
- FAQ kept: FAQ sentences answered with the right FAQ (intent faq, right key) that the
  gate still lets through;
- out-of-scope caught: out-of-scope sentences that end as out_of_scope or nlu_fallback.

The recommendation is the pair with the most out-of-scope caught on the development half
while keeping at least `--keep` of the right FAQ answers there (ties: the lower pair).

Usage:
  .venv/bin/python scripts/nlu_report.py --dump /tmp/open.jsonl
  .venv/bin/python scripts/tune_faq_gate.py /tmp/open.jsonl [--keep 0.98]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

OOS = {"out_of_scope", "nlu_fallback"}


@dataclass(frozen=True)
class Row:
    label: str
    intent: str
    key: str | None
    top: float
    second: float
    dev: bool


def load(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if p["set"] == "heldout":
            continue
        dev = int(hashlib.sha1(p["text"].encode()).hexdigest(), 16) % 2 == 0
        rows.append(
            Row(
                label=p["label"],
                intent=p["before_gate"],
                key=p["response_key"],
                top=float(p["response_confidence"] or 0.0),
                second=float(p["response_second_confidence"] or 0.0),
                dev=dev,
            )
        )
    return rows


def gated(row: Row, confidence: float, margin: float) -> str:
    """The final intent once the gate with these thresholds has run."""
    if row.intent == "faq" and (row.top < confidence or row.top - row.second < margin):
        return "out_of_scope"
    return row.intent


def score(rows: list[Row], confidence: float, margin: float) -> tuple[float, float]:
    faq = [r for r in rows if r.label.startswith("faq/") and r.intent == "faq" and r.key == r.label]
    oos = [r for r in rows if r.label == "out_of_scope"]
    kept = sum(gated(r, confidence, margin) == "faq" for r in faq) / max(len(faq), 1)
    caught = sum(gated(r, confidence, margin) in OOS for r in oos) / max(len(oos), 1)
    return kept, caught


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--keep", type=float, default=0.98, help="share of right FAQ kept")
    args = parser.parse_args()
    rows = load(args.dump)
    dev = [r for r in rows if r.dev]
    test = [r for r in rows if not r.dev]
    grid = [(c / 100, m / 100) for c in range(0, 100, 5) for m in range(0, 60, 5)]
    results = [(c, m, *score(dev, c, m), *score(test, c, m)) for c, m in grid]
    allowed = [r for r in results if r[2] >= args.keep]
    best = max(allowed, key=lambda r: (r[3], -r[0], -r[1]))
    header = ["confidence", "margin", "dev FAQ kept", "dev oos caught"]
    header += ["test FAQ kept", "test oos caught"]
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|")
    for c, m, dk, do, tk, to in results:
        if (c, m) == best[:2] or (m == 0 and c in (0.0, 0.5, 0.8)) or (c, m) == (0.0, 0.0):
            mark = " **chosen**" if (c, m) == best[:2] else ""
            print(f"| {c:.2f} | {m:.2f} | {dk:.3f} | {do:.3f} | {tk:.3f} | {to:.3f} |{mark}")
    print(f"\nfaq_min_confidence: {best[0]:.2f}\nfaq_min_margin: {best[1]:.2f}")


if __name__ == "__main__":
    main()
