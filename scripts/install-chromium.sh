#!/usr/bin/env bash
# Installs Debian's Chromium (package `chromium`) when no Chromium or Chrome is on the
# PATH: tests/report_browser.rs renders report.html in it, headless. Does nothing when
# one is already there.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
echo "no Chromium on the PATH: installing the Debian package chromium (the report's browser test renders the page in it)" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null || { echo "chromium was installed but is not on the PATH" >&2; exit 1; }
