"""Our NLU pipeline versus Rasa's stock pipeline, trained on the same data in the same run.

Stock = `JiebaTokenizer` (Rasa's, no user dictionary) followed by the rest of the
`rasa init` default pipeline (RegexFeaturizer, LexicalSyntacticFeaturizer, word and
char_wb 1-4 CountVectorsFeaturizers, DIETClassifier with its default 2-layer transformer
and entity recognition, EntitySynonymMapper, ResponseSelector 100 epochs,
FallbackClassifier 0.3 / 0.1), language zh. The one change: **DIET is capped at 20
epochs** (`--epochs`; `rasa init` says 100), which keeps its training near 13 minutes on
2 cores.

Both pipelines are trained with `rasa train nlu` (NLU only: config, `data/`, domain.yml)
into a temporary folder, each with a fresh Rasa cache, and timed. Then both are scored
with scripts/nlu_report.py (held-out, blind, out-of-scope; per language) and printed side
by side with training time, model size and parse p50 (in-process `Agent.parse_message`,
every sentence of the sets).

Usage:
  .venv/bin/python benchmarks/nlu_stock.py                 # trains both (~13 + ~5 min)
  .venv/bin/python benchmarks/nlu_stock.py --ours-model models/latest.tar.gz
                                                           # train stock only, score ours as is
  .venv/bin/python benchmarks/nlu_stock.py --epochs 1 --rs-epochs 1 \
      --ours-model models/latest.tar.gz --sets heldout     # smoke test (~5 min: featurizing)
Not part of CI. Run it on an idle machine: training times are the point.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import nlu_report  # noqa: E402

STOCK_CONFIG = """\
recipe: default.v1
assistant_id: kefu_stock
language: zh
# `rasa init` defaults (Rasa 3.6) with JiebaTokenizer for WhitespaceTokenizer;
# DIET capped at {epochs} epochs (rasa init: 100).
pipeline:
  - name: JiebaTokenizer
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
    constrain_similarities: true
  - name: EntitySynonymMapper
  - name: ResponseSelector
    epochs: {rs_epochs}
    constrain_similarities: true
  - name: FallbackClassifier
    threshold: 0.3
    ambiguity_threshold: 0.1
policies: []
"""


def train(config: Path, out: Path, name: str, cache: Path) -> tuple[Path, float]:
    """`rasa train nlu` into out/name.tar.gz; returns the model and the wall time."""
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [
        str(Path(sys.executable).parent / "rasa"),
        "train",
        "nlu",
        "--config",
        str(config),
        "--nlu",
        str(ROOT / "data"),
        "--domain",
        str(ROOT / "domain.yml"),
        "--out",
        str(out),
        "--fixed-model-name",
        name,
    ]
    print(f"training {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.monotonic()
    # cwd = the project: our config names bot.nlu.tokenizer, and rasa adds cwd to sys.path.
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    seconds = time.monotonic() - start
    model = out / f"{name}.tar.gz"
    if not model.exists():
        raise SystemExit(f"training {name} wrote no {model}")
    return model, seconds


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epochs", type=int, default=20, help="stock DIET epochs (cap; default 20)")
    ap.add_argument(
        "--rs-epochs", type=int, default=100, help="stock ResponseSelector epochs (rasa init: 100)"
    )
    ap.add_argument(
        "--ours-model", type=Path, help="score this model instead of training config.yml"
    )
    ap.add_argument("--sets", default="heldout,blind,oos")
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (models, configs)"
    )
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]

    tmp = Path(tempfile.mkdtemp(prefix="kefu-nlu-stock-"))
    try:
        stock_config = tmp / "stock_config.yml"
        stock_config.write_text(STOCK_CONFIG.format(epochs=args.epochs, rs_epochs=args.rs_epochs))
        stock_model, stock_seconds = train(stock_config, tmp, "stock", tmp / "cache-stock")
        if args.ours_model:
            ours_model, ours_seconds = args.ours_model.resolve(), None
        else:
            ours_model, ours_seconds = train(ROOT / "config.yml", tmp, "ours", tmp / "cache-ours")

        stock_name = f"stock (DIET {args.epochs} ep)"
        runs = {
            "ours": nlu_report.predict(ours_model, sets, nlu_report.load_agent(ours_model)),
            stock_name: nlu_report.predict(stock_model, sets, nlu_report.load_agent(stock_model)),
        }
        print("# NLU: ours versus Rasa's stock pipeline (same data, same run)\n")
        print(f"ours: {ours_model.name if args.ours_model else 'config.yml, trained now'}")
        print(
            f"stock: JiebaTokenizer + rasa init defaults, DIET capped at {args.epochs} epochs "
            f"(2 transformer layers), ResponseSelector {args.rs_epochs} epochs\n"
        )
        print(nlu_report.render(runs, sets))
        seconds = {"ours": ours_seconds, stock_name: stock_seconds}
        size = {"ours": ours_model.stat().st_size, stock_name: stock_model.stat().st_size}
        rows = []
        for name, preds in runs.items():
            t = seconds[name]
            rows.append(
                [
                    name,
                    f"{t:.0f} s" if t is not None else "not trained in this run",
                    f"{size[name] / 1e6:.1f} MB",
                    f"{nlu_report.parse_p50(preds):.1f} ms",
                ]
            )
        print("## cost (rasa train nlu, this machine)\n")
        print(nlu_report._table(["pipeline", "training", "model size", "parse p50"], rows))
        if args.keep:
            print(f"\nmodels and configs kept in {tmp}")
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
