# shellcheck shell=bash
# Idempotent set-up shared by scripts/up and scripts/test: system packages, the pinned virtualenv,
# a running Docker engine. Every step is skipped when already satisfied, so a second run is quick.
set -euo pipefail

WEBSTACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${WEBSTACK_VENV:-$WEBSTACK_ROOT/.venv}"
export WEBSTACK_ROOT VENV

log() { printf '\033[1m[webstack]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_system_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v ss >/dev/null 2>&1 || missing+=(iproute2)
  [ -x /usr/lib/postgresql/15/bin/pg_dump ] || missing+=(postgresql-client-15)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$WEBSTACK_ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing pinned Python requirements (requirements.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$WEBSTACK_ROOT/requirements.txt"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:/usr/lib/postgresql/15/bin:$PATH"
  export ANSIBLE_CONFIG="$WEBSTACK_ROOT/ansible.cfg"
  # the test support package (tests/support, `import support`) for the scripts; pytest finds it through pytest.ini
  export PYTHONPATH="$WEBSTACK_ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"
}

ensure_docker() {
  # Prefer the engine's own client: a newer client on PATH may lack plugins the engine expects.
  if docker info >/dev/null 2>&1; then return; fi
  log "starting the Docker engine"
  as_root sh -c 'nohup dockerd >/var/log/webstack-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  log "dockerd did not come up; see /var/log/webstack-dockerd.log"
  return 1
}

bootstrap() {
  cd "$WEBSTACK_ROOT"
  ensure_system_packages
  ensure_venv
  ensure_docker
}
