"""The NLU gates CI relies on can fail: scripts/nlu_report.py's floors and
scripts/tune_faq_gate.py's replay of the FAQ gate, on hand-made predictions."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

import nlu_report  # noqa: E402
import tune_faq_gate  # noqa: E402


def prediction(
    label: str, intent: str, *, lang: str = "zh", **extra: object
) -> nlu_report.Prediction:
    values: dict = {
        "set": "oos" if label == "out_of_scope" else "blind",
        "lang": lang,
        "file": f"{lang}_x.yml",
        "text": f"{label} {intent} {extra}",
        "label": label,
        "intent": intent,
        "before_gate": intent,
        "confidence": 0.9,
        "underlying": intent,
        "underlying_confidence": 0.9,
        "response_key": label if label.startswith("faq/") else None,
        "response_confidence": 0.9,
        "response_second_confidence": 0.05,
        "ms": 1.0,
    }
    values.update(extra)
    return nlu_report.Prediction(**values)


def perfect(lang: str) -> list[nlu_report.Prediction]:
    return [
        prediction("complain", "complain", lang=lang),
        prediction("report_outage", "report_outage", lang=lang),
        prediction("faq/hotline", "faq", lang=lang),
        prediction("out_of_scope", "out_of_scope", lang=lang),
    ]


def test_perfect_predictions_pass_every_floor() -> None:
    assert nlu_report.check_floors(perfect("zh") + perfect("en")) == []


def test_a_missed_complaint_fails_its_language_floor() -> None:
    missed = [prediction("complain", "faq", lang="en", underlying="faq")] * 3
    failures = nlu_report.check_floors(perfect("zh") + perfect("en") + missed)
    assert failures and all(f.startswith("en ") for f in failures)
    assert any("complaint recall" in f for f in failures)


def test_a_language_with_no_sentences_fails_rather_than_passes() -> None:
    assert nlu_report.check_floors(perfect("zh"))


def test_the_gate_replay_turns_unsure_faq_answers_away(tmp_path: Path) -> None:
    preds = [
        prediction("out_of_scope", "faq", response_confidence=0.5, response_second_confidence=0.4),
        prediction("faq/hotline", "faq", response_confidence=0.95),
    ]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(asdict(p)) + "\n" for p in preds))
    rows = tune_faq_gate.load(dump)
    assert tune_faq_gate.score(rows, 0.0, 0.0) == (1.0, 0.0)
    assert tune_faq_gate.score(rows, 0.7, 0.0) == (1.0, 1.0)
    assert tune_faq_gate.score(rows, 0.99, 0.0) == (0.0, 1.0)
