#!/usr/bin/env bash
# Installs Debian's Prometheus (package `prometheus`) when it is not on the PATH:
# tests/watch_metrics.rs starts one on a loopback port to scrape `sabench load
# --metrics-listen` (with its own configuration and a temporary store).
set -euo pipefail
exec bash "$(dirname "$0")/install-package.sh" prometheus prometheus \
  "the metrics test scrapes a run with a real Prometheus"
