#!/usr/bin/env bash
# Kefu's local Redis alone, for Rasa's own commands (`rasa shell`, `rasa interactive`):
#   scripts/redis.sh        start it in the background (or reuse the one already running)
#   scripts/redis.sh stop   stop it (its data stays in .run/redis/)
# Same Redis, password and data as start.sh's; an active venv points REDIS_URL at it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

case "${1:-start}" in
  start)
    kefu_local_redis --daemonize yes
    kefu_log "Redis is on 127.0.0.1:$KEFU_LOCAL_REDIS_PORT (scripts/redis.sh stop stops it)"
    ;;
  stop)
    pidfile="$KEFU_RUN/redis.pid"
    if [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
      kefu_log "stopped the local Redis (pid $(cat "$pidfile"))"
    else
      kefu_log "no local Redis of ours is running"
    fi
    ;;
  *) kefu_die "usage: scripts/redis.sh [start|stop]" ;;
esac
