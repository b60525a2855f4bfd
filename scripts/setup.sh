#!/usr/bin/env bash
# Installs what Kefu needs on a Debian/Ubuntu machine. Idempotent and quick when
# nothing changed: OS packages only when absent, the venv only when the pinned
# requirements changed, npm packages only when the lock file changed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KEFU_ROOT"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v npm >/dev/null || need_apt+=(nodejs npm)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
# nginx: only the binary, to test deploy/nginx.conf; openssl makes the test certificate.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v openssl >/dev/null || need_apt+=(openssl)
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

stamp="$KEFU_VENV/.kefu-requirements.sha256"
want="$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x "$KEFU_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py="$(find_python310)" || kefu_die "Rasa 3.6 needs Python 3.10 (3.8-3.10). Install python3.10 (e.g. with pyenv) and re-run."
  kefu_log "creating the Python environment with $py (about 4 minutes the first time)"
  [ -x "$KEFU_VENV/bin/python" ] || "$py" -m venv "$KEFU_VENV"
  "$KEFU_VENV/bin/python" -m pip install -q --upgrade "pip==24.2"
  "$KEFU_VENV/bin/python" -m pip install -q -r requirements.txt -c constraints.txt
  echo "$want" > "$stamp"
fi

npm_stamp="node_modules/.kefu-lock.sha256"
want_npm="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$want_npm" ]; then
  kefu_log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want_npm" > "$npm_stamp"
fi
