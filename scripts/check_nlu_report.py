"""Fails the build when the held-out NLU evaluation is below the bar.

Reads the reports `rasa test nlu --out DIR` wrote and checks intent macro-F1 and
FAQ (response selection) accuracy against the thresholds below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MIN_INTENT_MACRO_F1 = 0.90
MIN_FAQ_ACCURACY = 0.90


def _accuracy(report: dict) -> float:
    # sklearn reports "accuracy" when predicted and true label sets coincide,
    # otherwise only "micro avg", whose F1 equals accuracy for single labels.
    if "accuracy" in report:
        return float(report["accuracy"])
    return float(report["micro avg"]["f1-score"])


def main(results: Path) -> int:
    intents = json.loads((results / "intent_report.json").read_text())
    faq = json.loads((results / "response_selection_report.json").read_text())

    print(f"{'label':32} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    for name, row in sorted({**intents, **faq}.items()):
        if isinstance(row, dict) and "support" in row and " avg" not in name:
            print(
                f"{name:32} {row['precision']:9.3f} {row['recall']:7.3f} "
                f"{row['f1-score']:6.3f} {row['support']:4d}"
            )

    macro_f1 = float(intents["macro avg"]["f1-score"])
    faq_accuracy = _accuracy(faq)
    print(f"\nintent macro-F1 {macro_f1:.3f} (min {MIN_INTENT_MACRO_F1})")
    print(f"FAQ accuracy    {faq_accuracy:.3f} (min {MIN_FAQ_ACCURACY})")
    failed = macro_f1 < MIN_INTENT_MACRO_F1 or faq_accuracy < MIN_FAQ_ACCURACY
    print("FAILED: held-out NLU below threshold" if failed else "held-out NLU OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/nlu")))
