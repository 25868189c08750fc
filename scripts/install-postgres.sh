#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian package `postgresql`) when they are
# missing: the database tests and workloads start a throwaway cluster with them
# (src/db/). Does nothing when initdb, postgres and psql are already there.
set -euo pipefail
have() {
  for dir in "${SABENCH_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/psql" ]; then
      return 0
    fi
  done
  return 1
}
if have; then
  exit 0
fi
echo "PostgreSQL's server binaries are missing: installing the Debian package postgresql" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
have || { echo "postgresql was installed but its binaries were not found" >&2; exit 1; }
