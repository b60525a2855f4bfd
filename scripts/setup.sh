#!/usr/bin/env bash
# Installs what Kefu needs on a Debian/Ubuntu machine. Idempotent and quick when
# nothing changed: OS packages only when absent, the venv only when the pinned
# requirements changed, npm packages only when the lock file changed.
#   scripts/setup.sh         what runs (start.sh): requirements.txt, npm dependencies
#   scripts/setup.sh --dev   and what tests (test.sh, CI): requirements-dev.txt, npm
#                            devDependencies, Chromium, the nginx binary, openssl
#   scripts/setup.sh --fleet what runs, and the nginx binary (fleet.sh)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

dev=0
with_nginx=0
case "${1:-}" in
  --dev) dev=1 with_nginx=1 ;;
  --fleet) with_nginx=1 ;;
  "") ;;
  *) kefu_die "usage: scripts/setup.sh [--dev|--fleet]" ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v npm >/dev/null || need_apt+=(nodejs npm)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
if [ "$dev" = 1 ]; then
  # Chromium for the browser tests; openssl makes the proxy test's certificate.
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v openssl >/dev/null || need_apt+=(openssl)
fi
if [ "$with_nginx" = 1 ]; then
  # Only the binary: tests run deploy/nginx.conf, fleet.sh its own configuration.
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  kefu_log "installing OS packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  if [[ " ${need_apt[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null; then
    # Debian starts the stock site on every interface's port 80; Kefu needs no running nginx.
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

find_python310() {
  for candidate in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

# One stamp per set, each the hash of the files that define it: the dev set includes the
# runtime set, so after `--dev` a plain run has nothing to do, and after a plain run
# `--dev` installs only what is missing.
runtime_stamp="$KEFU_VENV/.kefu-requirements.sha256"
dev_stamp="$KEFU_VENV/.kefu-requirements-dev.sha256"
want_runtime="$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
want_dev="$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$dev" = 1 ]; then
  req=requirements-dev.txt stamp="$dev_stamp" want="$want_dev"
else
  req=requirements.txt stamp="$runtime_stamp" want="$want_runtime"
fi
if [ ! -x "$KEFU_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py="$(find_python310)" || kefu_die "Rasa 3.6 needs Python 3.10 (3.8-3.10). Install python3.10 (e.g. with pyenv) and re-run."
  kefu_log "installing $req into the Python environment with $py (about 4 minutes the first time)"
  [ -x "$KEFU_VENV/bin/python" ] || "$py" -m venv "$KEFU_VENV"
  "$KEFU_VENV/bin/python" -m pip install -q --upgrade "pip==24.2"
  "$KEFU_VENV/bin/python" -m pip install -q -r "$req" -c constraints.txt
  echo "$want_runtime" >"$runtime_stamp"
  [ "$dev" = 0 ] || echo "$want_dev" >"$dev_stamp"
fi

# An active venv is enough for Rasa's own commands (rasa shell, rasa interactive): its
# activate script loads the same local defaults as the scripts (scripts/defaults.sh).
defaults="$KEFU_ROOT/scripts/defaults.sh"
hook="if [ -f \"$defaults\" ]; then . \"$defaults\" \"$KEFU_ROOT\" && kefu_rasa_env; fi  # kefu"
if ! grep -qF "$hook" "$KEFU_VENV/bin/activate"; then
  sed -i '/# kefu$/d' "$KEFU_VENV/bin/activate"
  echo "$hook" >>"$KEFU_VENV/bin/activate"
fi

# npm: the stamp names the lock file's hash and the set installed ("dev" or "runtime").
npm_stamp="node_modules/.kefu-lock.sha256"
lock="$(sha256sum package-lock.json | cut -d' ' -f1)"
have_npm="$(cat "$npm_stamp" 2>/dev/null || true)"
if [ "$have_npm" != "$lock dev" ] && { [ "$dev" = 1 ] || [ "$have_npm" != "$lock runtime" ]; }; then
  if [ "$dev" = 1 ]; then
    kefu_log "installing npm packages (with devDependencies)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock dev" >"$npm_stamp"
  else
    kefu_log "installing npm packages"
    npm ci --omit=dev --no-audit --no-fund --loglevel=error
    echo "$lock runtime" >"$npm_stamp"
  fi
fi
