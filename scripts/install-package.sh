#!/usr/bin/env bash
# Installs a Debian package when its command is not on the PATH; does nothing when it
# is. Usage: scripts/install-package.sh COMMAND PACKAGE WHY
#   COMMAND  the program the tests run (e.g. prometheus, tmux)
#   PACKAGE  the Debian package that brings it
#   WHY      which test needs it, said when installing
# Run as root or with sudo. Services the package ships are not started here: the tests
# start their own, on loopback ports.
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "usage: $0 COMMAND PACKAGE WHY" >&2
  exit 2
fi
command=$1 package=$2 why=$3
if command -v "$command" >/dev/null 2>&1; then
  exit 0
fi
echo "no $command on the PATH: installing the Debian package $package ($why)" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null
command -v "$command" >/dev/null || { echo "$package was installed but $command is not on the PATH" >&2; exit 1; }
