#!/usr/bin/env bash
# The whole test suite: lint, data validation, story tests, the held-out NLU
# evaluation and pytest (unit, integration against real Redis, real browser).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

"$KEFU_ROOT/scripts/setup.sh" --dev
# rasa CLI commands read endpoints.yml; these tests never connect to Redis.
kefu_export_redis_fields "${REDIS_URL:-redis://127.0.0.1:6379/0}"

kefu_log "ruff"
ruff check bot actions tests scripts benchmarks

kefu_log "mypy"
# Files and strictness: [tool.mypy] in pyproject.toml.
mypy

"$KEFU_ROOT/scripts/train.sh"
model="models/latest.tar.gz"
rm -rf results && mkdir -p results

kefu_log "rasa data validate"
rasa data validate --fail-on-warnings

kefu_log "end-to-end test stories (zh + en)"
rasa test core --model "$model" --stories tests/stories --fail-on-prediction-errors \
  --out results/stories --no-plot

kefu_log "held-out NLU evaluation"
rasa test nlu --model "$model" --nlu tests/nlu/heldout --out results/nlu --no-plot
python scripts/check_nlu_report.py results/nlu

kefu_log "blind and out-of-scope NLU floors (per language)"
python scripts/nlu_report.py --model "$model" --sets blind,oos --gate

kefu_log "pytest"
# The slowest tests are listed at the end: CI must stay well under 30 minutes.
python -m pytest tests --durations=25
