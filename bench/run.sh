#!/usr/bin/env bash
# Benchmark: prebounce check against Knot DNS on loopback, with dnsperf's
# capacity on the same server and query mix as the baseline, measured in
# the same run. Prints figures; asserts nothing.
#
#   bench/run.sh [DOMAINS] [ADDRESSES]     (defaults: 100000 300000)
#
# Traffic stays on 127.0.0.1. Needs root for apt-get when knot or dnsperf
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DOMAINS=${1:-100000}
ADDRESSES=${2:-300000}
WORK=$(mktemp -d /tmp/prebounce-bench.XXXXXX)
trap 'kill ${KNOT_PID:-0} 2>/dev/null || true; rm -rf "$WORK"' EXIT

need=()
command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ] || need+=(knot)
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
KNOTD=$(command -v knotd || echo /usr/sbin/knotd)

cargo build --release --quiet
BIN=target/release/prebounce

python3 bench/gen.py --domains "$DOMAINS" --addresses "$ADDRESSES" --out "$WORK/data"
mkdir -p "$WORK/run" "$WORK/db" "$WORK/zones"
cp "$WORK/data/root.zone" "$WORK/data/broken.zone" "$WORK/zones/"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/knot.conf" <<CONF
server:
  rundir: "$WORK/run"
  listen: 127.0.0.1@$PORT
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: stderr
    any: error
database:
  storage: "$WORK/db"
template:
  - id: default
    storage: "$WORK/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: .
    file: root.zone
  - domain: broken.zz.
    file: broken.zone
CONF
"$KNOTD" -c "$WORK/knot.conf" 2>"$WORK/knot.log" &
KNOT_PID=$!
python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
q = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
for _ in range(300):
    try:
        s.sendto(q, ("127.0.0.1", port)); d = s.recv(512)
        if d[3] & 15 == 0: sys.exit(0)
    except OSError: pass
    time.sleep(0.1)
sys.exit("knotd did not start")
PY

echo "== ${DOMAINS} domains, ${ADDRESSES} addresses, knot $("$KNOTD" --version | awk '{print $NF}') on 127.0.0.1:$PORT, $(nproc) cores"

# Baseline: knot's capacity for the same MX queries (dnsperf, 10 s).
DNSPERF_QPS=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/data/queries.txt" -l 10 -c 4 -T 1 -q 200 2>/dev/null \
  | awk '/Queries per second/ {print $4}')
echo "dnsperf MX queries/s:            $DNSPERF_QPS"

run_check() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" check --resolver "127.0.0.1:$PORT" --format csv \
    -o /dev/null "$@" "$WORK/data/addresses.txt" 2>"$WORK/summary"
  read -r wall rss < "$WORK/time"
  local queries
  queries=$(awk '/ dns: / {print $2}' "$WORK/summary")
  python3 - "$label" "$wall" "$rss" "$queries" "$ADDRESSES" "$DOMAINS" "$DNSPERF_QPS" <<'PY'
import sys
label, wall, rss, queries, rows, domains, base = sys.argv[1:]
wall, rss, queries, rows, domains, base = float(wall), int(rss), int(queries), int(rows), int(domains), float(base)
qps = queries / wall
print(f"prebounce check ({label}): {wall:.2f} s wall, {rows/wall:,.0f} addresses/s, {domains/wall:,.0f} domains/s, "
      f"{qps:,.0f} DNS queries/s = {qps/base:.2f} x dnsperf, peak RSS {rss/1024:.0f} MiB")
PY
  sed 's/^/    /' "$WORK/summary"
}
run_check "bulk engine" --dns-engine bulk
run_check "stub engine" --dns-engine stub
