#!/usr/bin/env bash
# System packages the test suite drives for real: Chromium + ChromeDriver (docs site and
# report in a real browser). Installs them with apt-get when run as root; otherwise says
# in one sentence what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} with apt-get..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "error: the browser tests need ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and retry." >&2
    exit 2
fi
