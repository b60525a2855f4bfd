#!/usr/bin/env bash
# A fleet on this one machine: N Rasa servers, N action servers and N desks behind one
# nginx, one durable Redis. Proves the topology a multi-host deployment uses: any replica
# serves any customer, and a process that dies is restarted while the others keep serving.
#
#   scripts/fleet.sh [--replicas N] [--no-train]
#     N replicas of each service (default 2); --no-train serves models/latest.tar.gz as it
#     is (tests). Ctrl-C stops everything.
#
# Ports, all on 127.0.0.1 (each from the environment):
#   FLEET_PORT (8080)          nginx: the one public entry (deploy/fleet/nginx.conf.template)
#   RASA_PORT (5005)..         Rasa replicas, one port each
#   FLEET_ACTIONS_PORT (5155)..  action servers; Rasa calls them through nginx on
#   ACTIONS_PORT (5055)          (ACTION_ENDPOINT_URL), which skips a dead one
#   FLEET_DESK_PORT (8100)..   desks (website, console, APIs, SMS webhooks, outbox)
#   KEFU_LOCAL_REDIS_PORT (6379)  Kefu's local Redis, as start.sh's (or REDIS_URL's)
# Logs: .run/fleet/logs/<name>.log; pids: .run/fleet/<name>.pid (the current process).
# Not next to a running start.sh: both use RASA_PORT and ACTIONS_PORT.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

replicas=2
train=1
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas="${2:-}"; shift 2 || shift ;;
    --replicas=*) replicas="${1#*=}"; shift ;;
    --no-train) train=0; shift ;;
    *) kefu_die "usage: scripts/fleet.sh [--replicas N] [--no-train]" ;;
  esac
done
[[ "$replicas" =~ ^[1-9]$ ]] || kefu_die "--replicas: a number from 1 to 9, got '$replicas'"

fleet_port="${FLEET_PORT:-8080}"
actions_base="${FLEET_ACTIONS_PORT:-5155}"
desk_base="${FLEET_DESK_PORT:-8100}"
fleet_dir="$KEFU_RUN/fleet"
logs="$fleet_dir/logs"
public_url="http://localhost:$fleet_port"

"$KEFU_ROOT/scripts/setup.sh" --fleet
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
mkdir -p "$logs" "$fleet_dir/nginx-tmp"
rm -f "$fleet_dir"/*.pid

# ---------------------------------------------------------------- supervision
# `supervise NAME COMMAND...` (run it with &): runs COMMAND, appending its output to
# logs/NAME.log and its pid to NAME.pid, and starts it again whenever it exits, after a
# backoff (1 s, doubling to 30 s while it keeps dying young; back to 1 s after a run of a
# minute). TERM stops the command (TERM, then KILL after 15 s) and the loop.
fleet_note() {
  local line
  line="$(date '+%F %T') [fleet] $2"
  kefu_log "$1: $2"
  printf '%s\n' "$line" >>"$logs/$1.log"
}
# Braces, not a ( ) body: `supervise ... &` must be the very process that traps TERM.
supervise() {
  local name="$1" child="" stopping=0 backoff=1 started rc ran
  shift
  # Also TERM the child at once: a TERM between starting it and `wait` must not hang.
  trap 'stopping=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true' TERM
  while [ "$stopping" = 0 ]; do
    started=$SECONDS
    "$@" >>"$logs/$name.log" 2>&1 &
    child=$!
    echo "$child" >"$fleet_dir/$name.pid"
    rc=0
    wait "$child" || rc=$?
    [ "$stopping" = 0 ] || break
    ran=$((SECONDS - started))
    [ "$ran" -lt 60 ] || backoff=1
    fleet_note "$name" "pid $child exited with status $rc after ${ran}s; restarting in ${backoff}s"
    sleep "$backoff" &
    wait $! || true
    backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
  done
  kill -TERM "$child" 2>/dev/null || exit 0
  for _ in $(seq 150); do
    kill -0 "$child" 2>/dev/null || exit 0
    sleep 0.1
  done
  kill -KILL "$child" 2>/dev/null || true
  wait "$child" 2>/dev/null || true # gone, not a zombie, when the fleet says it stopped
  exit 0
}

supervisors=()    # pids of the supervise loops, in start order
redis_supervisor=""
stop_all() {
  trap - INT TERM EXIT
  kefu_log "stopping the fleet"
  # Services first (nginx, then the rest, all at once), Redis last: they flush into it.
  local pid
  for pid in "${supervisors[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${supervisors[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_supervisor" ]; then
    kill -TERM "$redis_supervisor" 2>/dev/null || true
    wait "$redis_supervisor" 2>/dev/null || true
  fi
}
trap 'stop_all; exit 0' INT TERM # Ctrl-C is the normal way to stop
trap stop_all EXIT

start() {
  kefu_log "starting $1 ($2)"
  local name="$1"
  shift 2
  supervise "$name" "$@" &
  supervisors+=($!)
}

# ---------------------------------------------------------------- settings
kefu_export_secrets
# Every Rasa replica calls the action servers through nginx's loopback balancer.
export ACTION_ENDPOINT_URL="http://127.0.0.1:$ACTIONS_PORT/webhook"
# Browsers reach socket.io through nginx; Twilio signs the public URL.
export RASA_PUBLIC_URL="$public_url"
export SMS_PUBLIC_URL="$public_url"
export KEFU_CORS_ORIGINS="http://localhost:$fleet_port http://127.0.0.1:$fleet_port"
# nginx is the desks' proxy: its X-Forwarded-For is the client (login throttling).
export KEFU_TRUSTED_PROXIES="127.0.0.1"

if kefu_wants_local_redis; then
  if kefu_local_redis_running; then
    kefu_log "reusing the local Redis started earlier (pid $(cat "$KEFU_RUN/redis.pid"), port $KEFU_LOCAL_REDIS_PORT)"
  else
    kefu_log "starting the local Redis on port $KEFU_LOCAL_REDIS_PORT (data in $KEFU_RUN/redis)"
    supervise redis kefu_redis_server --logfile "" &
    redis_supervisor=$!
    kefu_redis_wait || kefu_die "the local Redis did not answer; see $logs/redis.log"
  fi
fi
kefu_export_redis_fields "$REDIS_URL"

[ "$train" = 0 ] || "$KEFU_ROOT/scripts/train.sh"
[ -f models/latest.tar.gz ] || kefu_die "no trained model: run scripts/train.sh"

# ---------------------------------------------------------------- nginx
servers() { # servers BASE: one `server` line per replica
  local i
  for ((i = 0; i < replicas; i++)); do
    printf '        server 127.0.0.1:%s max_fails=1 fail_timeout=5s;\n' "$(($1 + i))"
  done
}
render_nginx() {
  local text
  text="$(<"$KEFU_ROOT/deploy/fleet/nginx.conf.template")"
  text="${text//@RASA_SERVERS@/$(servers "$RASA_PORT")}"
  text="${text//@DESK_SERVERS@/$(servers "$desk_base")}"
  text="${text//@ACTION_SERVERS@/$(servers "$actions_base")}"
  text="${text//@FLEET_PORT@/$fleet_port}"
  text="${text//@ACTIONS_PORT@/$ACTIONS_PORT}"
  text="${text//@RUN@/$fleet_dir}"
  text="${text//@LOGS@/$logs}"
  printf '%s\n' "$text" >"$fleet_dir/nginx.conf"
}
render_nginx
nginx_args=(-c "$fleet_dir/nginx.conf" -p "$fleet_dir" -e "$logs/nginx-error.log")
"$nginx_bin" -t -q "${nginx_args[@]}" || kefu_die "nginx refused $fleet_dir/nginx.conf"

# ---------------------------------------------------------------- the fleet
# Each replica's own port in its environment; secrets in the environment, never arguments.
start nginx "public http://localhost:$fleet_port, actions 127.0.0.1:$ACTIONS_PORT" \
  "$nginx_bin" "${nginx_args[@]}" -g "daemon off;"
for ((i = 0; i < replicas; i++)); do
  n=$((i + 1))
  start "actions-$n" "127.0.0.1:$((actions_base + i))" \
    env ACTIONS_PORT="$((actions_base + i))" python -m actions.server
  # Rasa at a lower CPU priority: when the cores are saturated, the desks (Twilio's
  # acknowledgements, the console) and nginx still answer at once; bot turns queue instead.
  # One TensorFlow thread each: several replicas on few cores otherwise oversubscribe
  # (benchmarks/bench_stack.py, one replica: 24.6 -> 27.7 turns/s; two: 20.4 -> 23.5).
  start "rasa-$n" "127.0.0.1:$((RASA_PORT + i))" \
    env RASA_PORT="$((RASA_PORT + i))" TF_INTER_OP_PARALLELISM_THREADS=1 \
    TF_INTRA_OP_PARALLELISM_THREADS=1 nice -n 10 python -m bot.rasa_server
  # The desk reaches Rasa's HTTP API (handoff, return visits) on its own replica.
  start "desk-$n" "127.0.0.1:$((desk_base + i))" \
    env DESK_PORT="$((desk_base + i))" RASA_URL="http://127.0.0.1:$((RASA_PORT + i))" \
    python -m bot.desk
done

# Ready when every replica answers (Rasa: once its model is loaded).
ready_urls=("$public_url/")
for ((i = 0; i < replicas; i++)); do
  ready_urls+=("http://127.0.0.1:$((actions_base + i))/health"
    "http://127.0.0.1:$((desk_base + i))/healthz" "http://127.0.0.1:$((RASA_PORT + i))/")
done
kefu_log "waiting for every replica (Rasa loads its model; logs in $logs/)"
deadline=$((SECONDS + 600))
for url in "${ready_urls[@]}"; do
  until curl -fs -o /dev/null "$url"; do
    [ "$SECONDS" -lt "$deadline" ] || kefu_die "not ready: $url (logs in $logs/)"
    sleep 1
  done
done

kefu_log "fleet ready ($replicas replicas): open $public_url/ and chat. Ctrl-C stops."
kefu_log "agent console: $public_url/console/ (users: .venv/bin/python -m bot.desk.users create ...)"
kefu_log "Twilio webhooks: $public_url/webhooks/sms/webhook and /webhooks/sms/status"
kefu_log "a process that exits is restarted; logs in $logs/, current pids in $fleet_dir/*.pid"
# Supervisors never return on their own: wait until a signal ends the fleet.
wait
