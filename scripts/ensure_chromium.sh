#!/usr/bin/env bash
# The browser tests drive the operating system's Chromium (Playwright cannot download
# browsers here). Install it quietly when it is missing (needs root, as on CI).
set -euo pipefail
CHROMIUM="${IOM_TEST_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)" >&2
  exit 1
fi
echo "installing Chromium for the browser tests (apt-get, quiet)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
