#!/usr/bin/env bash
# Run N daphne processes on one port under supervisord (deploy/supervisord.conf), in the
# foreground; SIGTERM or Ctrl+C stops them, each saving its runs first.
#
#   DATABASE_URL=postgres://... REDIS_URL=redis://... deploy/serve.sh
#   PLAYGROUND_PROCESSES=4 PLAYGROUND_PORT=8080 deploy/serve.sh
#
# It does not migrate: `make serve` runs migrate, load_catalog and collectstatic first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

# Several processes share one database and one channel layer: a user's logout must close
# their sockets on every process, and a reloaded page may land on another process than the
# one streaming its comparison. SQLite and the in-memory layer are one process's own.
problems=()
case "${DATABASE_URL:-}" in
  postgres://* | postgresql://* | pgsql://*) ;;
  "") problems+=("DATABASE_URL is not set (a PostgreSQL URL, e.g. postgres://user:pass@127.0.0.1:5432/playground)") ;;
  *) problems+=("DATABASE_URL must name PostgreSQL, not ${DATABASE_URL%%:*}") ;;
esac
case "${REDIS_URL:-}" in
  redis://* | rediss://* | unix://*) ;;
  "") problems+=("REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)") ;;
  *) problems+=("REDIS_URL must name Redis, not ${REDIS_URL%%:*}") ;;
esac
if [ ${#problems[@]} -gt 0 ]; then
  {
    echo "serve: several processes need a shared database and channel layer:"
    printf '  - %s\n' "${problems[@]}"
    echo "  SQLite and the in-memory channel layer cannot be shared across processes;"
    echo "  for one process on SQLite use \`make run\`. See deploy/env.example."
  } >&2
  exit 2
fi

cores="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
export PLAYGROUND_PROCESSES="${PLAYGROUND_PROCESSES:-$cores}"
export PLAYGROUND_BIND="${PLAYGROUND_BIND:-127.0.0.1}"
export PLAYGROUND_PORT="${PLAYGROUND_PORT:-8000}"
export PLAYGROUND_ROOT="${PLAYGROUND_ROOT:-$root}"
export PLAYGROUND_DAPHNE_ARGS="${PLAYGROUND_DAPHNE_ARGS:-}"
if [ -z "${PLAYGROUND_DAPHNE:-}" ]; then
  if [ -x "$root/.venv/bin/daphne" ]; then PLAYGROUND_DAPHNE="$root/.venv/bin/daphne"
  else PLAYGROUND_DAPHNE="$(command -v daphne || true)"; fi
fi
export PLAYGROUND_DAPHNE
export PLAYGROUND_PYTHON="${PLAYGROUND_PYTHON:-$(dirname "${PLAYGROUND_DAPHNE:-/nonexistent/x}")/python}"
export PLAYGROUND_WORKERS="${PLAYGROUND_WORKERS:-1}"
export PLAYGROUND_RUN_DIR="${PLAYGROUND_RUN_DIR:-${XDG_RUNTIME_DIR:-/tmp}/playground-serve-$PLAYGROUND_PORT}"
conf="${PLAYGROUND_SUPERVISOR_CONF:-$here/supervisord.conf}"

supervisord="$(dirname "${PLAYGROUND_DAPHNE:-/nonexistent/x}")/supervisord"
[ -x "$supervisord" ] || supervisord="$(command -v supervisord || true)"
if [ -z "$PLAYGROUND_DAPHNE" ] || [ -z "$supervisord" ]; then
  echo "serve: daphne or supervisord not found; pip install -e '.[serve]' (or set PLAYGROUND_DAPHNE)" >&2
  exit 2
fi
case "$PLAYGROUND_PROCESSES" in
  '' | *[!0-9]* | 0) echo "serve: PLAYGROUND_PROCESSES must be a positive number" >&2; exit 2 ;;
esac
mkdir -p "$PLAYGROUND_RUN_DIR"
chmod 700 "$PLAYGROUND_RUN_DIR"

echo "serve: $PLAYGROUND_PROCESSES daphne processes on http://$PLAYGROUND_BIND:$PLAYGROUND_PORT/ ($conf)" >&2
exec "$supervisord" -c "$conf"
