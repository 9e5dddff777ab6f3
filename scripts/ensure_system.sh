#!/usr/bin/env bash
# Check (and, as root, install with apt) what `make` needs from the system before it can set up torg:
#   ensure_system.sh python   — a Python that can create a virtualenv (Debian splits ensurepip into python3-venv)
#   ensure_system.sh npm      — npm, to install the front-end assets from the npm registry
set -euo pipefail
PYTHON="${PYTHON:-python3}"

apt_install() {
  if [ "$(id -u)" != "0" ]; then
    echo "torg needs: $* — install it with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

case "${1:-}" in
  python)
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
      echo "Python 3.11 or newer is needed ($PYTHON was not found)." >&2
      exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      echo "torg needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
      exit 1
    fi
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
      minor="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      apt_install "python${minor}-venv"
    fi
    ;;
  npm)
    if ! command -v npm >/dev/null 2>&1; then
      apt_install nodejs npm
    fi
    ;;
  *)
    echo "usage: $0 python|npm" >&2
    exit 2
    ;;
esac
