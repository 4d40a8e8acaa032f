# shellcheck shell=bash
# Shared helpers for the test and service scripts. Source it: . "$(dirname "$0")/lib.sh"

# Repository root (the parent of scripts/).
ESTEIRA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ESTEIRA_VENV="${ESTEIRA_VENV:-$ESTEIRA_ROOT/.venv}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"

# Prints a free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A section header, easy to spot in a long log.
section() {
  printf '\n==== %s ====\n' "$*"
}

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Waits until a TCP port on 127.0.0.1 accepts connections: wait_for_port PORT SECONDS.
wait_for_port() {
  local port="$1" secs="${2:-30}" i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
