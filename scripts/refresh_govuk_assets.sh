#!/usr/bin/env bash
# Vendor GOV.UK Frontend's compiled CSS/JS, fonts and images into web/static/govuk/, and
# axe-core (for the browser tests' accessibility checks) into tests/browser/vendor/.
# Run once after changing a version below; commit the result. The service never fetches
# them at run time (it runs on networks without internet).
#
#   GOVUK_FRONTEND_VERSION must match what govuk-frontend-jinja supports (4.1 -> 6.3.0).
set -euo pipefail
GOVUK_FRONTEND_VERSION="${GOVUK_FRONTEND_VERSION:-6.3.0}"
AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "govuk-frontend@${GOVUK_FRONTEND_VERSION}" \
  "axe-core@${AXE_CORE_VERSION}" >/dev/null)
mkdir -p "$tmp/gf" "$tmp/axe"
tar xzf "$tmp/govuk-frontend-${GOVUK_FRONTEND_VERSION}.tgz" -C "$tmp/gf"
tar xzf "$tmp/axe-core-${AXE_CORE_VERSION}.tgz" -C "$tmp/axe"
dist="$tmp/gf/package/dist/govuk"
rm -rf web/static/govuk && mkdir -p web/static/govuk
cp "$dist/govuk-frontend.min.css" "$dist/govuk-frontend.min.js" web/static/govuk/
cp -r "$dist/assets" web/static/govuk/assets
cp "$tmp/gf/package/LICENSE.txt" web/static/govuk/LICENSE.txt 2>/dev/null || true
echo "$GOVUK_FRONTEND_VERSION" > web/static/govuk/VERSION
mkdir -p tests/browser/vendor
cp "$tmp/axe/package/axe.min.js" tests/browser/vendor/axe.min.js
cp "$tmp/axe/package/LICENSE" tests/browser/vendor/axe-LICENSE.txt 2>/dev/null || true
echo "$AXE_CORE_VERSION" > tests/browser/vendor/AXE_VERSION
echo "GOV.UK Frontend $GOVUK_FRONTEND_VERSION -> web/static/govuk/; axe-core $AXE_CORE_VERSION -> tests/browser/vendor/"
