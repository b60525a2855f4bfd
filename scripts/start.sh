#!/usr/bin/env bash
# One command: install what is missing, train if needed, start Redis (unless
# REDIS_URL points at one), the action server, Rasa and the desk website.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

"$KEFU_ROOT/scripts/setup.sh"
mkdir -p "$KEFU_RUN/logs" "$KEFU_RUN/redis"

pids=()
stop_all() {
  trap - INT TERM EXIT
  kefu_log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Give each service a moment to finish its work, then make sure it is gone.
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM  # Ctrl-C is the normal way to stop
trap stop_all EXIT

if [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="redis://127.0.0.1:$KEFU_LOCAL_REDIS_PORT/0"
  if ! redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping >/dev/null 2>&1; then
    kefu_log "starting a local Redis on port $KEFU_LOCAL_REDIS_PORT (data in $KEFU_RUN/redis)"
    redis-server "$KEFU_ROOT/redis.conf" --port "$KEFU_LOCAL_REDIS_PORT" --dir "$KEFU_RUN/redis" \
      --logfile "$KEFU_RUN/logs/redis.log" &
    pids+=($!)
    for _ in $(seq 50); do redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
fi
kefu_export_redis_fields "$REDIS_URL"

# Secrets come from the environment; for a local start, make and keep one.
kefu_secret() {
  local file="$KEFU_RUN/$1"
  [ -s "$file" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$file")
  cat "$file"
}
export DESK_API_TOKEN="${DESK_API_TOKEN:-$(kefu_secret desk_api_token)}"
export RASA_TOKEN="${RASA_TOKEN:-$(kefu_secret rasa_token)}"

"$KEFU_ROOT/scripts/train.sh"

kefu_log "starting the action server on :$ACTIONS_PORT"
rasa run actions --actions actions --port "$ACTIONS_PORT" >"$KEFU_RUN/logs/actions.log" 2>&1 &
pids+=($!)

kefu_log "starting Rasa on :$RASA_PORT"
rasa run --model models/latest.tar.gz --endpoints endpoints.yml --credentials credentials.yml \
  --port "$RASA_PORT" --cors "*" --enable-api --auth-token "$RASA_TOKEN" \
  >"$KEFU_RUN/logs/rasa.log" 2>&1 &
pids+=($!)

kefu_log "starting the desk website on :$DESK_PORT"
python -m bot.desk >"$KEFU_RUN/logs/desk.log" 2>&1 &
pids+=($!)

kefu_log "waiting for Rasa to load the model (logs in $KEFU_RUN/logs/)"
for _ in $(seq 180); do
  if curl -fs "http://127.0.0.1:$RASA_PORT/" >/dev/null 2>&1; then break; fi
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || kefu_die "a service exited; see $KEFU_RUN/logs/"; done
  sleep 1
done
curl -fs "http://127.0.0.1:$RASA_PORT/" >/dev/null || kefu_die "Rasa did not start; see $KEFU_RUN/logs/rasa.log"

kefu_log "ready: open http://localhost:$DESK_PORT/ and chat (中文 or English). Ctrl-C stops."
kefu_log "agent console: http://localhost:$DESK_PORT/console/ (first user: .venv/bin/python -m bot.desk.users create --name wang.fang --role agent)"
kefu_log "ticket API: http://localhost:$DESK_PORT/api/tickets (bearer token in $KEFU_RUN/desk_api_token unless DESK_API_TOKEN is set)"
wait -n "${pids[@]}" || true
kefu_die "a service exited; see $KEFU_RUN/logs/"
