# shellcheck shell=bash
# Sourced by the other scripts: one place for ports, paths and Redis settings.
# Everything can be overridden from the environment.

KEFU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEFU_ROOT
export KEFU_VENV="${KEFU_VENV:-$KEFU_ROOT/.venv}"
export KEFU_RUN="${KEFU_RUN:-$KEFU_ROOT/.run}"        # pids, logs, local Redis data
export PATH="$KEFU_VENV/bin:$PATH"

export RASA_PORT="${RASA_PORT:-5005}"
export ACTIONS_PORT="${ACTIONS_PORT:-5055}"
export DESK_PORT="${DESK_PORT:-8000}"
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-http://127.0.0.1:$ACTIONS_PORT/webhook}"
export RASA_PUBLIC_URL="${RASA_PUBLIC_URL:-http://localhost:$RASA_PORT}"
export RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}"   # Rasa's HTTP API, for the desk
export KEFU_LOCAL_REDIS_PORT="${KEFU_LOCAL_REDIS_PORT:-6379}"

# What Rasa trains on. The rest of data/ is content our own code reads
# (policies, complaint form words, SMS keywords) and is not Rasa training data.
KEFU_RASA_DATA=(data/nlu data/faq data/rules data/stories)

# Rasa, TensorFlow and friends: no telemetry, no GPU probing, quieter logs.
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=2
export CUDA_VISIBLE_DEVICES=""
export SQLALCHEMY_SILENCE_UBER_WARNING=1

# endpoints.yml reads Redis as separate fields; derive them from REDIS_URL.
kefu_export_redis_fields() {
  local url="$1"
  eval "$(python3 - "$url" <<'PY'
import shlex, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
fields = {
    "REDIS_HOST": u.hostname or "localhost",
    "REDIS_PORT": str(u.port or 6379),
    "REDIS_DB": (u.path or "/0").lstrip("/") or "0",
    "REDIS_PASSWORD": u.password or "",
}
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in fields.items()))
PY
)"
}

kefu_log() { printf '\033[1;34m[kefu]\033[0m %s\n' "$*"; }
kefu_die() { printf '\033[1;31m[kefu]\033[0m %s\n' "$*" >&2; exit 1; }
