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

# Secrets come from the environment; for a local start, make one and keep it in .run/.
# Hex: a secret starting with "-" would be read as an option wherever it is an argument.
kefu_secret() {
  local file="$KEFU_RUN/$1"
  [ -s "$file" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$file")
  cat "$file"
}
export DESK_API_TOKEN="${DESK_API_TOKEN:-$(kefu_secret desk_api_token)}"
export RASA_TOKEN="${RASA_TOKEN:-$(kefu_secret rasa_token)}"
export KEFU_ACTION_TOKEN="${KEFU_ACTION_TOKEN:-$(kefu_secret action_token)}"
export KEFU_WEB_SESSION_SECRET="${KEFU_WEB_SESSION_SECRET:-$(kefu_secret web_session_secret)}"

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${REDIS_URL:-}" ]; then
  redis_password="$(kefu_secret redis_password)"
  export REDIS_URL="redis://:$redis_password@127.0.0.1:$KEFU_LOCAL_REDIS_PORT/0"
  redis_pidfile="$KEFU_RUN/redis.pid"
  if port_answers "$KEFU_LOCAL_REDIS_PORT"; then
    # Reuse only the Redis an earlier start.sh left running: its pid file is ours and it
    # knows our password. Anything else on the port is someone else's data.
    if [ -s "$redis_pidfile" ] && kill -0 "$(cat "$redis_pidfile")" 2>/dev/null &&
      [ "$(REDISCLI_AUTH="$redis_password" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
      kefu_log "reusing the local Redis started earlier (pid $(cat "$redis_pidfile"), port $KEFU_LOCAL_REDIS_PORT)"
    else
      kefu_die "port $KEFU_LOCAL_REDIS_PORT is in use by something start.sh did not start (another Redis?). Set KEFU_LOCAL_REDIS_PORT to a free port for Kefu's own Redis, or set REDIS_URL=redis://:password@host:port/db to use that Redis on purpose."
    fi
  else
    kefu_log "starting a local Redis on port $KEFU_LOCAL_REDIS_PORT (data in $KEFU_RUN/redis)"
    # Configuration on stdin: the password never appears on a command line (ps).
    {
      printf 'include %s\nrequirepass %s\n' "$KEFU_ROOT/redis.conf" "$redis_password"
      [ -z "${KEFU_REDIS_MAXMEMORY:-}" ] || printf 'maxmemory %s\n' "$KEFU_REDIS_MAXMEMORY"
    } | redis-server - --port "$KEFU_LOCAL_REDIS_PORT" --dir "$KEFU_RUN/redis" \
      --pidfile "$redis_pidfile" --logfile "$KEFU_RUN/logs/redis.log" &
    pids+=($!)
    for _ in $(seq 50); do
      [ "$(REDISCLI_AUTH="$redis_password" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
  fi
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
kefu_log "ticket API: http://localhost:$DESK_PORT/api/tickets (bearer token in $KEFU_RUN/desk_api_token unless DESK_API_TOKEN is set)"
wait -n "${pids[@]}" || true
kefu_die "a service exited; see $KEFU_RUN/logs/"
