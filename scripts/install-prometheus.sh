#!/usr/bin/env bash
# Installs Debian's Prometheus (package `prometheus`) when it is not on the PATH:
# tests/watch_metrics.rs starts one on a loopback port to scrape `sabench load
# --metrics-listen`. The package's service is not started here (the test starts its
# own, with its own configuration and a temporary store). Does nothing when it is there.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
echo "no prometheus on the PATH: installing the Debian package prometheus (the metrics test scrapes a run with it)" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus >/dev/null || { echo "prometheus was installed but is not on the PATH" >&2; exit 1; }
