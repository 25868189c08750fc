#!/usr/bin/env bash
# Installs Debian's tmux when it is not on the PATH: tests/watch_terminal.rs runs
# `sabench load` in a tmux pane and reads the live view with `tmux capture-pane`.
set -euo pipefail
exec bash "$(dirname "$0")/install-package.sh" tmux tmux \
  "the live view's test reads sabench's screen in a tmux pane"
