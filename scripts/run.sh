#!/usr/bin/env bash
# Start the background worker and the web server (`make run`); Ctrl+C stops both.
# The database is migrated and the demo loaded by `make db` before this runs.
set -euo pipefail
PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
PY=.venv/bin/python

$PY manage.py run_worker &
WORKER=$!
stop_worker() {
  kill "$WORKER" 2>/dev/null || true
  wait "$WORKER" 2>/dev/null || true
}
trap stop_worker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$PY manage.py demo_logins --url "http://${HOST}:${PORT}"
# --noreload: one process, started quickly; static files are served by the app (whitenoise).
$PY manage.py runserver "${HOST}:${PORT}" --noreload &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; stop_worker' EXIT
wait "$SERVER"
