#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (no browser download is possible here).
set -euo pipefail
if command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)." >&2
  exit 1
fi
