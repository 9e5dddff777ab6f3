#!/usr/bin/env bash
# Run one pytest step: pytest_step.sh "what" [pytest arguments...]
# pytest exits 5 when it collects no test. In CI (CI=true) that is a failure — a step that runs
# nothing proves nothing; on a developer's machine it is a warning (e.g. no browser tests yet).
set -uo pipefail
what="$1"
shift
echo "== ${what}"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = "5" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "ERROR: ${what}: no test was collected (pytest $*)." >&2
    exit 1
  fi
  echo "WARNING: ${what}: no test was collected (pytest $*)." >&2
  exit 0
fi
exit "$rc"
