#!/usr/bin/env bash
# Installs the headless browser that tests/test_docs_browser.py drives: Debian's
# chromium and chromium-driver at pinned versions (selenium from the lock talks to
# /usr/bin/chromedriver; no test tool downloads a browser of its own). Idempotent:
# with both packages at their pinned versions it returns at once, without apt.
# Needs root (or sudo) only when something is missing. `make test` runs it first.
# Usage: scripts/install_browser.sh
set -euo pipefail
CHROMIUM_VERSION=156.0.8078.129-1~deb12u1
PACKAGES=("chromium=$CHROMIUM_VERSION" "chromium-common=$CHROMIUM_VERSION"
          "chromium-driver=$CHROMIUM_VERSION")

missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Version}' "${p%%=*}" 2>/dev/null) == "${p#*=}" ]] || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)
log=$(mktemp)
echo "install_browser: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >"$log" 2>&1 ||
  { "${sudo[@]}" apt-get update -q >>"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >>"$log" 2>&1; } ||
  { echo "install_browser: error: cannot install ${missing[*]} with apt-get (see $log)" >&2; exit 2; }
rm -f "$log"
