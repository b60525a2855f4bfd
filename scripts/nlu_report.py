"""Per-language NLU report on the held-out set, the blind set and the out-of-scope set.

Loads a trained model in-process (`Agent.load`) and parses every sentence through the
model's own pipeline, FallbackClassifier included, so a fallback is what the bot would
really see (with the model's own threshold and ambiguity threshold). Nothing is read from
`rasa test nlu`, whose report reverts `nlu_fallback` to the intent under it.

Sets (the language of a sentence comes from its file name: `zh_`/`en_`, `heldout_zh_`...):

- heldout: tests/nlu/heldout/ (written next to the training data; the CI gate's set,
  scripts/check_nlu_report.py)
- blind:   tests/nlu/blind/{zh,en}_intents.yml and {zh,en}_faq.yml
- oos:     tests/nlu/blind/{zh,en}_out_of_scope.yml

Measures, per language and set ("underlying intent" = the top intent with nlu_fallback
taken off, as Rasa's own report counts it):

- intent accuracy: utility-intent sentences (not faq/*, not out_of_scope) whose
  underlying intent is right;
- complaint recall / precision: underlying intent `complain`; precision counts every
  sentence of the set predicted `complain` (so the oos column shows false alarms);
- complaint recall, fallback = miss: `complain` and not a fallback;
- FAQ accuracy: faq/<key> sentences whose response-selector key is exactly right
  (Rasa's response-selection measure: the selector's answer, whatever the intent);
- out-of-scope recall: out_of_scope sentences predicted `out_of_scope` or `nlu_fallback`;
- out-of-scope answered as an FAQ: out_of_scope sentences whose final intent is `faq`
  (the bot would give an FAQ answer);
- in-scope accuracy, fallback = miss: utility-intent and FAQ sentences whose final intent
  is right (for FAQ: intent `faq` and the exact key).

The per-intent tables count what the customer gets: `nlu_fallback` is counted as
`out_of_scope` and every faq/<key> as `faq`.

Usage:
  .venv/bin/python scripts/nlu_report.py [--model models/latest.tar.gz]
      [--sets heldout,blind,oos] [--dump predictions.jsonl] [--predictions predictions.jsonl]

`--dump` writes every prediction (with the response selector's top-2 confidences, for
tuning thresholds); `--predictions` reports from such a file without loading a model.
`--gate` exits 1 when a blind or out-of-scope measure is below its floor (FLOORS):
scripts/test.sh runs it, next to the held-out gate (scripts/check_nlu_report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The model names our own components (bot.nlu.tokenizer): they must be importable.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HELDOUT = ROOT / "tests/nlu/heldout"
BLIND = ROOT / "tests/nlu/blind"
SETS: dict[str, list[Path]] = {
    "heldout": sorted(HELDOUT.glob("*.yml")),
    "blind": [BLIND / f"{lang}_{kind}.yml" for lang in ("zh", "en") for kind in ("intents", "faq")],
    "oos": [BLIND / f"{lang}_out_of_scope.yml" for lang in ("zh", "en")],
}
SET_TITLES = {"heldout": "heldout", "blind": "blind", "oos": "out-of-scope"}
LANGS = ("zh", "en")
OOS = "out_of_scope"
FALLBACK = "nlu_fallback"
COMPLAIN = "complain"


@dataclass
class Prediction:
    set: str
    lang: str
    file: str
    text: str
    label: str  # intent, or faq/<key>
    intent: str  # final intent (may be nlu_fallback)
    before_gate: str  # the intent before bot.nlu.gate turned an unsure FAQ away
    confidence: float
    underlying: str  # top intent that is not nlu_fallback
    underlying_confidence: float
    response_key: str | None  # faq/<key> the response selector picked
    response_confidence: float | None
    response_second_confidence: float | None
    ms: float

    @property
    def is_faq(self) -> bool:
        return self.label.startswith("faq/")

    @property
    def is_oos(self) -> bool:
        return self.label == OOS

    @property
    def is_utility(self) -> bool:
        return not self.is_faq and not self.is_oos

    @property
    def fell_back(self) -> bool:
        return self.intent == FALLBACK

    @property
    def final_correct(self) -> bool:
        if self.is_faq:
            return self.intent == "faq" and self.response_key == self.label
        return self.intent == self.label

    @property
    def customer_label(self) -> str:
        return "faq" if self.is_faq else self.label

    @property
    def customer_prediction(self) -> str:
        return OOS if self.intent == FALLBACK else self.intent


def language_of(path: Path) -> str:
    match = re.match(r"(?:heldout_)?(zh|en)_", path.name)
    if not match:
        raise SystemExit(f"{path}: cannot tell the language from the file name")
    return match.group(1)


def load_examples(set_name: str) -> list[tuple[str, Path, str, str]]:
    """(lang, file, text, label) for every example of a set."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in SETS[set_name]:
        lang = language_of(path)
        for message in load_data(str(path)).intent_examples:
            label = message.get("intent_response_key") or message.get("intent")
            examples.append((lang, path, message.get("text"), label))
    return examples


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.disable(logging.INFO)
    import warnings

    warnings.filterwarnings("ignore")


def load_agent(model: Path) -> Any:
    _quiet()
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)
    try:  # Rasa 3.6 logs every parse through structlog at debug level.
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:
        pass
    return Agent.load(str(model))


async def _predict(agent: Any, sets: Iterable[str]) -> list[Prediction]:
    from bot.nlu.gate import GATED  # what the FAQ gate adds to a parse it turned away

    out = []
    for set_name in sets:
        for lang, path, text, label in load_examples(set_name):
            start = time.perf_counter()
            parse = await agent.parse_message(text)
            ms = (time.perf_counter() - start) * 1000
            ranking = parse.get("intent_ranking") or [parse["intent"]]
            under = next(
                (r for r in ranking if r["name"] != FALLBACK), {"name": "", "confidence": 0.0}
            )
            # Our ResponseSelector is keyed "faq" (retrieval_intent: faq); a stock one,
            # trained on every retrieval intent, is keyed "default".
            selectors = parse.get("response_selector") or {}
            selector = selectors.get("faq") or selectors.get("default") or {}
            response = selector.get("response") or {}
            confs = [r.get("confidence", 0.0) for r in selector.get("ranking") or []]
            out.append(
                Prediction(
                    set=set_name,
                    lang=lang,
                    file=path.name,
                    text=text,
                    label=label,
                    intent=parse["intent"]["name"],
                    before_gate="faq" if parse.get(GATED) else parse["intent"]["name"],
                    confidence=float(parse["intent"]["confidence"]),
                    underlying=under["name"],
                    underlying_confidence=float(under["confidence"]),
                    response_key=response.get("intent_response_key"),
                    response_confidence=response.get("confidence"),
                    response_second_confidence=confs[1] if len(confs) > 1 else None,
                    ms=ms,
                )
            )
    return out


def predict(model: Path, sets: Iterable[str], agent: Any = None) -> list[Prediction]:
    agent = agent or load_agent(model)
    # One warm-up parse: the first call builds TensorFlow's graph.
    asyncio.run(agent.parse_message("hello 你好"))
    return asyncio.run(_predict(agent, sets))


# --- measures -------------------------------------------------------------------------


class Ratio:
    def __init__(self, hits: int, total: int) -> None:
        self.hits, self.total = hits, total

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        if not self.total:
            return "-"
        return f"{self.hits / self.total:.3f} ({self.hits}/{self.total})"

    def as_count(self) -> str:
        return f"{self.hits}/{self.total}" if self.total else "-"


def _ratio(items: list[Prediction], hit: Any) -> Ratio:
    return Ratio(sum(1 for p in items if hit(p)), len(items))


MEASURES: list[tuple[str, Any]] = [
    (
        "intent accuracy (utility intents)",
        lambda ps: _ratio([p for p in ps if p.is_utility], lambda p: p.underlying == p.label),
    ),
    (
        "complaint recall",
        lambda ps: _ratio(
            [p for p in ps if p.label == COMPLAIN], lambda p: p.underlying == COMPLAIN
        ),
    ),
    (
        "complaint precision",
        lambda ps: _ratio(
            [p for p in ps if p.underlying == COMPLAIN], lambda p: p.label == COMPLAIN
        ),
    ),
    (
        "complaint recall, fallback = miss",
        lambda ps: _ratio([p for p in ps if p.label == COMPLAIN], lambda p: p.intent == COMPLAIN),
    ),
    (
        "FAQ accuracy (retrieval key exact)",
        lambda ps: _ratio([p for p in ps if p.is_faq], lambda p: p.response_key == p.label),
    ),
    (
        "out-of-scope recall (oos or fallback)",
        lambda ps: _ratio([p for p in ps if p.is_oos], lambda p: p.intent in (OOS, FALLBACK)),
    ),
    (
        "out-of-scope answered as an FAQ",
        lambda ps: _ratio([p for p in ps if p.is_oos], lambda p: p.intent == "faq"),
    ),
    (
        "in-scope accuracy, fallback = miss",
        lambda ps: _ratio([p for p in ps if not p.is_oos], lambda p: p.final_correct),
    ),
]


def per_label(preds: list[Prediction]) -> dict[str, tuple[float, float, float, int]]:
    """label -> (precision, recall, f1, support), customer view."""
    labels = sorted(
        {p.customer_label for p in preds} | {p.customer_prediction for p in preds} - {""}
    )
    rows = {}
    for label in labels:
        tp = sum(1 for p in preds if p.customer_label == label and p.customer_prediction == label)
        predicted = sum(1 for p in preds if p.customer_prediction == label)
        support = sum(1 for p in preds if p.customer_label == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[label] = (precision, recall, f1, support)
    return rows


# --- rendering --------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def summary_table(runs: dict[str, list[Prediction]], lang: str, sets: list[str]) -> str:
    """Rows: measures; columns: set (x model when several models are compared)."""
    columns = [(name, s) for s in sets for name in runs]
    header = ["measure"] + [
        SET_TITLES[s] + (f" {name}" if len(runs) > 1 else "") for name, s in columns
    ]
    rows = []
    for title, measure in MEASURES:
        cells = []
        for name, s in columns:
            preds = [p for p in runs[name] if p.lang == lang and p.set == s]
            cells.append(str(measure(preds)))
        if any(c != "-" for c in cells):
            rows.append([title, *cells])
    return _table(header, rows)


def per_intent_table(preds: list[Prediction], lang: str, sets: list[str]) -> str:
    # The blind column counts the out-of-scope files too: precision then includes the
    # off-topic sentences the model takes for an intent.
    groups = {"heldout": ["heldout"], "blind+oos": ["blind", "oos"]}
    groups = {g: [s for s in ss if s in sets] for g, ss in groups.items()}
    groups = {g: ss for g, ss in groups.items() if ss}
    stats = {
        g: per_label([p for p in preds if p.lang == lang and p.set in ss])
        for g, ss in groups.items()
    }
    labels = sorted(set().union(*(s.keys() for s in stats.values())))
    header = ["label"]
    for g in groups:
        header += [f"{g} P", "R", "F1", "n"]
    rows = []
    for label in labels:
        row = [label]
        for g in groups:
            if label in stats[g]:
                p, r, f, n = stats[g][label]
                row += [f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(n)]
            else:
                row += ["-", "-", "-", "0"]
        rows.append(row)
    return _table(header, rows)


def parse_p50(preds: list[Prediction]) -> float:
    return statistics.median(p.ms for p in preds) if preds else float("nan")


def render(runs: dict[str, list[Prediction]], sets: list[str]) -> str:
    out = []
    for lang in LANGS:
        out.append(f"## {lang}: summary\n")
        out.append(summary_table(runs, lang, sets))
        out.append("")
    for name, preds in runs.items():
        for lang in LANGS:
            title = f"## {lang}: per intent" + (f" ({name})" if len(runs) > 1 else "")
            out.append(title + " - fallback counted as out_of_scope, faq/<key> as faq\n")
            out.append(per_intent_table(preds, lang, sets))
            out.append("")
    return "\n".join(out)


# CI's floors on the blind and out-of-scope sets, per language (scripts/test.sh runs
# `--gate`). The product's targets are higher (intents, complaint recall and FAQ 0.95;
# complaint precision and out-of-scope recall 0.90: README, "Measured" shows where the
# model stands). The floors sit 0.02-0.04 under what the model measured when they were
# set, so noise between trainings does not fail CI but a real regression does. Raise them
# as the model improves; never edit the blind set to pass them.
FLOORS: dict[str, dict[tuple[str, str], float]] = {
    "zh": {
        ("blind", "intent accuracy (utility intents)"): 0.93,
        ("blind", "complaint recall"): 0.93,
        ("blind", "complaint precision"): 0.92,
        ("blind", "FAQ accuracy (retrieval key exact)"): 0.96,
        ("oos", "out-of-scope recall (oos or fallback)"): 0.94,
        ("blind", "in-scope accuracy, fallback = miss"): 0.90,
    },
    "en": {
        ("blind", "intent accuracy (utility intents)"): 0.93,
        ("blind", "complaint recall"): 0.92,
        ("blind", "complaint precision"): 0.88,
        ("blind", "FAQ accuracy (retrieval key exact)"): 0.96,
        ("oos", "out-of-scope recall (oos or fallback)"): 0.92,
        ("blind", "in-scope accuracy, fallback = miss"): 0.89,
    },
}


def check_floors(preds: list[Prediction]) -> list[str]:
    """What falls below its floor, as readable lines (empty: all good)."""
    measures = dict(MEASURES)
    failures = []
    for lang, floors in FLOORS.items():
        for (set_name, title), floor in floors.items():
            value = measures[title]([p for p in preds if p.lang == lang and p.set == set_name])
            if value.value is None or value.value < floor:
                failures.append(f"{lang} {SET_TITLES[set_name]}: {title} {value} < {floor}")
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=ROOT / "models/latest.tar.gz")
    ap.add_argument(
        "--sets", default="heldout,blind,oos", help="comma-separated: heldout,blind,oos"
    )
    ap.add_argument("--dump", type=Path, help="write every prediction here (JSON lines)")
    ap.add_argument("--predictions", type=Path, help="report from a --dump file instead of a model")
    ap.add_argument("--gate", action="store_true", help="exit 1 below the FLOORS (CI)")
    args = ap.parse_args(argv)
    sets = [s for s in args.sets.split(",") if s]
    unknown = set(sets) - set(SETS)
    if unknown:
        ap.error(f"unknown sets: {', '.join(sorted(unknown))}")

    if args.predictions:
        rows = [json.loads(line) for line in args.predictions.read_text().splitlines() if line]
        preds = [Prediction(**r) for r in rows if r["set"] in sets]
        source = str(args.predictions)
    else:
        model = args.model.resolve()
        preds = predict(model, sets)
        source = f"{args.model} -> {model.name}"
    if args.dump:
        args.dump.write_text(
            "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in preds)
        )

    print(f"# NLU report: {source}\n")
    print(render({"model": preds}, sets))
    print(f"{len(preds)} sentences, parse p50 {parse_p50(preds):.1f} ms")
    if args.gate:
        failures = check_floors(preds)
        for line in failures:
            print(f"BELOW FLOOR: {line}")
        print("FAILED: blind NLU below its floors" if failures else "blind NLU floors OK")
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
