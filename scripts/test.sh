#!/usr/bin/env bash
# Runs the whole test suite: unit tests, doc tests, and the end-to-end
# tests that drive the real binary against DNS servers on loopback.
# The end-to-end tests also need Knot DNS (a server we did not write); it is
# installed here when missing and this runs as root with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v knotd >/dev/null 2>&1 && [ ! -x /usr/sbin/knotd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing knot (Knot DNS) for the end-to-end tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends knot >/dev/null
  else
    echo "the end-to-end tests need Knot DNS: sudo apt-get install knot" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"
