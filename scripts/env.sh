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
  local password pidfile
  password="$(kefu_secret redis_password)"
  pidfile="$KEFU_RUN/redis.pid"
  kefu_redis_pid=""
  mkdir -p "$KEFU_RUN/logs" "$KEFU_RUN/redis"
  if port_answers "$KEFU_LOCAL_REDIS_PORT"; then
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
      [ "$(REDISCLI_AUTH="$password" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
      kefu_log "reusing the local Redis started earlier (pid $(cat "$pidfile"), port $KEFU_LOCAL_REDIS_PORT)"
      return 0
    fi
    kefu_die "port $KEFU_LOCAL_REDIS_PORT is in use by something Kefu did not start (another Redis?). Set KEFU_LOCAL_REDIS_PORT to a free port for Kefu's own Redis, or set REDIS_URL=redis://:password@host:port/db to use that Redis on purpose."
  fi
  kefu_log "starting a local Redis on port $KEFU_LOCAL_REDIS_PORT (data in $KEFU_RUN/redis)"
  # Configuration on stdin: the password never appears on a command line (ps).
  {
    printf 'include %s\nrequirepass %s\n' "$KEFU_ROOT/redis.conf" "$password"
    [ -z "${KEFU_REDIS_MAXMEMORY:-}" ] || printf 'maxmemory %s\n' "$KEFU_REDIS_MAXMEMORY"
  } | redis-server - --port "$KEFU_LOCAL_REDIS_PORT" --dir "$KEFU_RUN/redis" \
    --pidfile "$pidfile" --logfile "$KEFU_RUN/logs/redis.log" "$@" &
  kefu_redis_pid=$!
  for _ in $(seq 50); do
    [ "$(REDISCLI_AUTH="$password" redis-cli -p "$KEFU_LOCAL_REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  kefu_die "the local Redis did not answer; see $KEFU_RUN/logs/redis.log"
}
