#!/usr/bin/env bash
# Start the background worker and the web server; stop both on Ctrl+C.
set -euo pipefail
PORT="${PORT:-8000}"
PY=.venv/bin/python
$PY manage.py run_worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
$PY manage.py demo_logins --url "http://127.0.0.1:${PORT}"
exec_status=0
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload || exec_status=$?
exit $exec_status
