# shellcheck shell=bash
# Sourced by the other scripts: paths, then the local defaults in defaults.sh.
# Everything can be overridden from the environment.

KEFU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEFU_ROOT
export KEFU_VENV="${KEFU_VENV:-$KEFU_ROOT/.venv}"
export KEFU_RUN="${KEFU_RUN:-$KEFU_ROOT/.run}"        # pids, logs, local Redis data
export PATH="$KEFU_VENV/bin:$PATH"

# Ports, URLs, the local Redis and secrets: shared with an active venv.
source "$KEFU_ROOT/scripts/defaults.sh" "$KEFU_ROOT"

kefu_log() { printf '\033[1;34m[kefu]\033[0m %s\n' "$*"; }
kefu_die() { printf '\033[1;31m[kefu]\033[0m %s\n' "$*" >&2; exit 1; }

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Kefu's own Redis on 127.0.0.1:$KEFU_LOCAL_REDIS_PORT (password in .run/redis_password,
# data in .run/redis/). Reuses only the one an earlier start left running: its pid file is
# ours and it knows our password. Anything else on the port is someone else's data: refuse.
# Extra arguments go to redis-server (scripts/redis.sh: --daemonize yes). Sets
# kefu_redis_pid when it started a child process (start.sh stops it on exit).
kefu_local_redis() {
  kefu_redis_pid=""
  if kefu_local_redis_running; then
    kefu_log "reusing the local Redis started earlier (pid $(cat "$KEFU_RUN/redis.pid"), port $KEFU_LOCAL_REDIS_PORT)"
    return 0
  fi
  kefu_log "starting a local Redis on port $KEFU_LOCAL_REDIS_PORT (data in $KEFU_RUN/redis)"
  kefu_redis_server "$@" &
  kefu_redis_pid=$!
  kefu_redis_wait || kefu_die "the local Redis did not answer; see $KEFU_RUN/logs/redis.log"
}

# True when ours (from an earlier start) answers on the port, false when the port is free;
# dies when something else holds it.
kefu_local_redis_running() {
  local pidfile="$KEFU_RUN/redis.pid"
  port_answers "$KEFU_LOCAL_REDIS_PORT" || return 1
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
    [ "$(REDISCLI_AUTH="$(kefu_secret redis_password)" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
    return 0
  fi
  kefu_die "port $KEFU_LOCAL_REDIS_PORT is in use by something Kefu did not start (another Redis?). Set KEFU_LOCAL_REDIS_PORT to a free port for Kefu's own Redis, or set REDIS_URL=redis://:password@host:port/db to use that Redis on purpose."
}

# The local redis-server itself. It replaces the calling shell (exec), so run it with `&`:
# then $! is Redis's own pid. Configuration on stdin: the password never appears on a
# command line (ps). Extra arguments are appended (later settings win).
kefu_redis_server() {
  local password
  password="$(kefu_secret redis_password)"
  mkdir -p "$KEFU_RUN/logs" "$KEFU_RUN/redis"
  exec redis-server - --port "$KEFU_LOCAL_REDIS_PORT" --dir "$KEFU_RUN/redis" \
    --pidfile "$KEFU_RUN/redis.pid" --logfile "$KEFU_RUN/logs/redis.log" "$@" < <(
      printf 'include %s\nrequirepass %s\n' "$KEFU_ROOT/redis.conf" "$password"
      [ -z "${KEFU_REDIS_MAXMEMORY:-}" ] || printf 'maxmemory %s\n' "$KEFU_REDIS_MAXMEMORY"
    )
}

# Waits up to 5 s for the local Redis to answer.
kefu_redis_wait() {
  local password
  password="$(kefu_secret redis_password)"
  for _ in $(seq 50); do
    [ "$(REDISCLI_AUTH="$password" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}

# Kefu's own local Redis is meant unless REDIS_URL points elsewhere (an active venv sets
# REDIS_URL to the local URL: that still means "ours"). Exports REDIS_URL either way.
kefu_wants_local_redis() {
  local url
  url="$(kefu_local_redis_url)"
  if [ -z "${REDIS_URL:-}" ] || [ "$REDIS_URL" = "$url" ]; then
    export REDIS_URL="$url"
    return 0
  fi
  return 1
}

# The secrets a local start needs, from the environment or made once into .run/
# (kefu_secret, scripts/defaults.sh): start.sh and fleet.sh.
kefu_export_secrets() {
  export DESK_API_TOKEN="${DESK_API_TOKEN:-$(kefu_secret desk_api_token)}"
  export RASA_TOKEN="${RASA_TOKEN:-$(kefu_secret rasa_token)}"
  export KEFU_ACTION_TOKEN="${KEFU_ACTION_TOKEN:-$(kefu_secret action_token)}"
  export KEFU_WEB_SESSION_SECRET="${KEFU_WEB_SESSION_SECRET:-$(kefu_secret web_session_secret)}"
  # Prometheus's read-only scrape token (/metrics); deploy/prometheus/prometheus.yml reads it.
  export KEFU_METRICS_TOKEN="${KEFU_METRICS_TOKEN:-$(kefu_secret metrics_token)}"
  # Offline (no Twilio account): a local token in place of Twilio's, so the desk's SMS
  # simulator (/console/simulator) signs webhooks as Twilio would and the SMS webhook checks
  # them the same way. With TWILIO_ACCOUNT_SID set, TWILIO_AUTH_TOKEN must be the account's
  # real token.
  if [ -z "${TWILIO_ACCOUNT_SID:-}" ]; then
    export TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-$(kefu_secret sms_local_token)}"
  fi
}
