#!/usr/bin/env bash
# The benchmark of the README's "Benchmarks" section:
#
#   bench/run.sh [--domains N] [--addresses N] [--big K] [--sample N]
#   bench/run.sh --only-pg [--domains N] [--history-pairs N]
#       (SQLite against PostgreSQL, a private cluster on this machine)
#
# Installs what it needs (knot, dnsperf from Debian; email-validator from
# PyPI into a private venv), builds the release binary, then runs
# bench/run.py, which prints every figure beside its baseline. All traffic
# stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

need=()
[ -x /usr/sbin/knotd ] || command -v knotd >/dev/null 2>&1 || need+=(knot)
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
[ -x /usr/bin/time ] || need+=(time)
python3 -c 'import venv' 2>/dev/null || need+=(python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

VENV=target/bench-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import email_validator' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check email-validator
fi

cargo build --release --quiet
cargo build --release --quiet --example dns_layer
exec python3 bench/run.py --python "$VENV/bin/python" "$@"
