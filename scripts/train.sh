#!/usr/bin/env bash
# Trains the model only when config, domain, training data or our NLU components
# changed: the model file is named after a hash of exactly those inputs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

# One training at a time per checkout: two would race on models/ and Rasa's cache.
mkdir -p models
exec 9>models/.train.lock
flock 9

# data/ is Rasa's training data and nothing else (company content is in content/);
# data/jieba/ is the tokenizer's dictionary, copied into the model at training time.
fingerprint="$(find config.yml domain.yml data bot/nlu -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.txt' -o -name '*.py' \) \
  -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
model="models/kefu-$fingerprint.tar.gz"

if [ -f "$model" ]; then
  kefu_log "model is up to date: $model"
else
  kefu_log "training $model (config, domain or data changed)"
  start=$(date +%s)
  # Rasa's defaults: config.yml, domain.yml, data/, models/ (what a bare `rasa train` uses).
  rasa train --fixed-model-name "kefu-$fingerprint"
  kefu_log "trained in $(( $(date +%s) - start ))s, $(du -h "$model" | cut -f1)"
fi
ln -sfn "$(basename "$model")" models/latest.tar.gz
# Keep the current model and the one before it; older ones are just disk.
ls -t models/kefu-*.tar.gz | tail -n +3 | xargs -r rm -f
