#!/usr/bin/env bash
# One command: install what is missing, train if needed, start Redis (unless
# REDIS_URL points at one), the action server, Rasa and the desk website.
# Ctrl-C stops everything it started. Every service listens on 127.0.0.1 only;
# deploy/nginx.conf shows what to expose publicly.
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

# Secrets come from the environment; for a local start, make them and keep them in
# .run/ (kefu_export_secrets, scripts/env.sh).
kefu_export_secrets

# Kefu's own Redis unless REDIS_URL points elsewhere.
if kefu_wants_local_redis; then
  kefu_local_redis
  [ -z "$kefu_redis_pid" ] || pids+=("$kefu_redis_pid")
fi
kefu_export_redis_fields "$REDIS_URL"

"$KEFU_ROOT/scripts/train.sh"

# Both read their secrets from the environment, never from arguments (ps shows those).
kefu_log "starting the action server on ${ACTIONS_HOST:-127.0.0.1}:$ACTIONS_PORT"
python -m actions.server >"$KEFU_RUN/logs/actions.log" 2>&1 &
pids+=($!)

kefu_log "starting Rasa on ${RASA_HOST:-127.0.0.1}:$RASA_PORT"
python -m bot.rasa_server >"$KEFU_RUN/logs/rasa.log" 2>&1 &
pids+=($!)

kefu_log "starting the desk website on :$DESK_PORT"
python -m bot.desk >"$KEFU_RUN/logs/desk.log" 2>&1 &
pids+=($!)

kefu_log "waiting for Rasa to load the model (logs in $KEFU_RUN/logs/)"
for _ in $(seq 180); do
  if curl -fs "$RASA_URL/" >/dev/null 2>&1; then break; fi
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || kefu_die "a service exited; see $KEFU_RUN/logs/"; done
  sleep 1
done
curl -fs "$RASA_URL/" >/dev/null || kefu_die "Rasa did not start; see $KEFU_RUN/logs/rasa.log"

kefu_log "ready: open http://localhost:$DESK_PORT/ and chat (中文 or English). Ctrl-C stops."
kefu_log "agent console: http://localhost:$DESK_PORT/console/ (first user: .venv/bin/python -m bot.desk.users create --name wang.fang --role agent)"
[ -n "${TWILIO_ACCOUNT_SID:-}" ] || kefu_log "SMS without Twilio: http://localhost:$DESK_PORT/console/simulator (text the bot as any phone number)"
kefu_log "ticket API: http://localhost:$DESK_PORT/api/tickets (bearer token in $KEFU_RUN/desk_api_token unless DESK_API_TOKEN is set)"
wait -n "${pids[@]}" || true
kefu_die "a service exited; see $KEFU_RUN/logs/"
