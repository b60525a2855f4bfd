# shellcheck shell=bash
# Local defaults shared by the scripts (env.sh sources this file) and by an active venv
# (scripts/setup.sh makes .venv/bin/activate source it), so `rasa shell` typed by hand and
# start.sh agree on ports, on Kefu's local Redis and on the secrets kept in .run/.
# bash or zsh: activate is sourced by either. Values already in the environment win.
#
#   . scripts/defaults.sh /path/to/kefu     # the checkout's root
#   kefu_rasa_env                           # what endpoints.yml's ${VARIABLES} need

kefu_run_dir="${KEFU_RUN:-$1/.run}"

export RASA_PORT="${RASA_PORT:-5005}"
export ACTIONS_PORT="${ACTIONS_PORT:-5055}"
export DESK_PORT="${DESK_PORT:-8000}"
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-http://127.0.0.1:$ACTIONS_PORT/webhook}"
export RASA_PUBLIC_URL="${RASA_PUBLIC_URL:-http://localhost:$RASA_PORT}"
export RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}"   # Rasa's HTTP API, for the desk
export KEFU_LOCAL_REDIS_PORT="${KEFU_LOCAL_REDIS_PORT:-6379}"

# Rasa, TensorFlow and friends: no telemetry, no GPU probing, quieter logs.
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=2
export CUDA_VISIBLE_DEVICES=""
export SQLALCHEMY_SILENCE_UBER_WARNING=1

# A local secret, made once and kept in .run/ (0600). Hex: a secret starting with "-"
# would be read as an option wherever it is an argument.
kefu_secret() {
  local file="$kefu_run_dir/$1"
  if [ ! -s "$file" ]; then
    mkdir -p "$kefu_run_dir"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$file")
  fi
  cat "$file"
}

# The URL of Kefu's own local Redis (scripts/redis.sh, start.sh).
kefu_local_redis_url() {
  printf 'redis://:%s@127.0.0.1:%s/0\n' "$(kefu_secret redis_password)" "$KEFU_LOCAL_REDIS_PORT"
}

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

# Everything endpoints.yml names, for Rasa's own commands typed by hand (rasa shell,
# rasa interactive, rasa run): the local Redis unless REDIS_URL says otherwise, the action
# server's token (python -m actions.server reads the same one), the tracker retention
# (the default of tracker_retention_s in bot/settings.py, 30 days).
kefu_rasa_env() {
  export REDIS_URL="${REDIS_URL:-$(kefu_local_redis_url)}"
  kefu_export_redis_fields "$REDIS_URL"
  export KEFU_ACTION_TOKEN="${KEFU_ACTION_TOKEN:-$(kefu_secret action_token)}"
  export KEFU_TRACKER_RETENTION_S="${KEFU_TRACKER_RETENTION_S:-2592000}"
}
