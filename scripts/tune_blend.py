"""Choose the weights of the intent blend (bot/nlu/blend.py) on the blind set's
development half.

Loads a trained model once and re-parses the blind and out-of-scope sets for each pair of
a DIET weight in `--weights` and a character-model weight in `--text-weights` (the
features model gets the rest), changing only the blend component's `diet_weight` and
`text_weight` in the loaded graph (nothing is retrained; the model must have been trained
with a character model, `text_weight` > 0, for `--text-weights` to matter).

The development half is the one scripts/tune_faq_gate.py uses (a sentence is in it when
the SHA-1 of its text is even); the other half is printed next to it, so a choice can be
checked on sentences it never saw. DIET weight 1.0 is DIET alone.

Usage:
  .venv/bin/python scripts/tune_blend.py --model models/latest.tar.gz
      [--weights 0.2,0.3,0.4] [--text-weights 0.3,0.4,0.5]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nlu_report as report  # noqa: E402

from bot.nlu.blend import BlendedIntentClassifier  # noqa: E402

SHOWN = [
    "intent accuracy (utility intents)",
    "complaint recall",
    "complaint precision",
    "out-of-scope recall (oos or fallback)",
    "in-scope accuracy, fallback = miss",
]
SHORT = ["intents", "compl R", "compl P", "oos R", "in-scope"]


def blend_component(agent: Any) -> BlendedIntentClassifier:
    nodes = agent.processor.graph_runner._instantiated_nodes  # Rasa 3.6's DaskGraphRunner
    for node in nodes.values():
        if isinstance(node._component, BlendedIntentClassifier):
            return node._component  # type: ignore[no-any-return]
    raise SystemExit("this model has no bot.nlu.blend.BlendedIntentClassifier")


def is_dev(text: str) -> bool:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 2 == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=report.ROOT / "models/latest.tar.gz")
    ap.add_argument("--weights", default="0.2,0.3,0.4")
    ap.add_argument("--text-weights", default="0.3,0.4,0.5")
    args = ap.parse_args()
    agent = report.load_agent(args.model)
    component = blend_component(agent)
    measures = dict(report.MEASURES)
    print(
        f"{'diet':>5} {'text':>5} {'lang':>4} {'half':>5}  " + "  ".join(f"{s:>8}" for s in SHORT)
    )
    pairs = [
        (float(d), float(t))
        for d in args.weights.split(",")
        for t in args.text_weights.split(",")
        if float(d) + float(t) <= 1.0
    ]
    for weight, text in pairs:
        component.config["diet_weight"] = weight
        component.config["text_weight"] = text
        preds = report.predict(args.model, ["blind", "oos"], agent=agent)
        for lang in report.LANGS:
            for half, wanted in (("dev", True), ("test", False)):
                part = [p for p in preds if p.lang == lang and is_dev(p.text) == wanted]
                values = [measures[title](part).value or 0.0 for title in SHOWN]
                print(
                    f"{weight:5.2f} {text:5.2f} {lang:>4} {half:>5}  "
                    + "  ".join(f"{v:8.3f}" for v in values),
                    flush=True,
                )


if __name__ == "__main__":
    main()
