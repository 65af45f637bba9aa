#!/usr/bin/env bash
# Benchmarks `prebounce serve` on loopback with wrk (Debian's package,
# installed when missing): single-address POST /v1/check requests for a
# domain already in the server's cache, against a trivial handler of the
# same server (GET /healthz) as the baseline, in the same run.
#
#   bench/serve.sh [--seconds N] [--connections C] [--rate R]
#
# 1. Peak throughput: wrk, 2 threads, C connections (default 64), N seconds
#    (default 10), as fast as it can; requests/s of /v1/check and of
#    /healthz, and their ratio.
# 2. Latency at a fixed rate: wrk cannot hold a rate by itself, so a Lua
#    script paces it (each of 10 connections waits 10/R s before its next
#    request: R = 1000 req/s by default); p50/p99 of /v1/check and of
#    /healthz at that rate, and their ratio. wrk measures from sending a
#    request to its response, so at a rate this far below the peak no
#    request waits behind another.
# The server runs with an API key (every request is authenticated), the rate
# limit off, no history, and a lab DNS server for the one domain.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=10
connections=64
rate=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "usage: bench/serve.sh [--seconds N] [--connections C] [--rate R]" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

nice -n 10 cargo build --release --locked --quiet
bin=target/release/prebounce
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/bench.zone" <<'EOF'
$ORIGIN zz.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
mx.ok A 93.184.215.14
ok MX 10 mx.ok
EOF
"$bin" lab serve "$work/bench.zone" --listen 127.0.0.1:0 > "$work/lab.addr" 2>/dev/null &
pids+=($!)
echo bench-key > "$work/keys"
for _ in $(seq 50); do [ -s "$work/lab.addr" ] && break; sleep 0.1; done
PREBOUNCE_DNS_CANARY=none "$bin" serve --listen 127.0.0.1:0 --resolver "$(head -1 "$work/lab.addr")" \
  --no-history --api-keys "$work/keys" --rate-limit off > "$work/serve.addr" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/serve.addr" ] && break; sleep 0.1; done
addr=$(head -1 "$work/serve.addr")
url="http://$addr"
# The domain into the cache.
curl -sf -H 'Authorization: Bearer bench-key' -d '{"address":"ann@ok.zz"}' "$url/v1/check" > "$work/row.json"
grep -q '"reason":"deliverable"' "$work/row.json" || { echo "unexpected row: $(cat "$work/row.json")" >&2; exit 1; }

cat > "$work/check.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"address":"ann@ok.zz"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
EOF
cat > "$work/health.lua" <<'EOF'
wrk.headers["Authorization"] = "Bearer bench-key"
EOF
# Paced: each connection waits PACE ms between requests.
pace_ms=$(awk -v r="$rate" 'BEGIN { printf "%.3f", 10 * 1000 / r }')
for f in check health; do
  cp "$work/$f.lua" "$work/$f-paced.lua"
  printf 'function delay()\n  return %s\nend\n' "$pace_ms" >> "$work/$f-paced.lua"
done

# wrk's figures: requests/s, non-2xx count, and p50/p99 in milliseconds.
figures() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return v
    }
    /Requests\/sec:/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%s %s %s %s\n", rps, (bad == "" ? 0 : bad), p50, p99 }' "$1"
}

run() { # name script path threads connections
  wrk -t"$4" -c"$5" -d"${seconds}s" --latency -s "$work/$2" "$url$3" > "$work/$1.out"
  figures "$work/$1.out"
}

echo "== prebounce serve on $addr, wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), $(nproc) cores; everything below measured in this run"
read -r hp_rps hp_bad hp_p50 hp_p99 < <(run health-peak health.lua /healthz 2 "$connections")
read -r cp_rps cp_bad cp_p50 cp_p99 < <(run check-peak check.lua /v1/check 2 "$connections")
read -r hr_rps hr_bad hr_p50 hr_p99 < <(run health-paced health-paced.lua /healthz 1 10)
read -r cr_rps cr_bad cr_p50 cr_p99 < <(run check-paced check-paced.lua /v1/check 1 10)
for bad in "$hp_bad" "$cp_bad" "$hr_bad" "$cr_bad"; do
  [ "$bad" = 0 ] || { echo "non-2xx answers: $bad" >&2; exit 1; }
done
awk -v hp="$hp_rps" -v cp="$cp_rps" -v hr="$hr_rps" -v cr="$cr_rps" \
    -v h50="$hr_p50" -v h99="$hr_p99" -v c50="$cr_p50" -v c99="$cr_p99" -v c="$connections" -v s="$seconds" -v rate="$rate" 'BEGIN {
  printf "peak, %d connections, %d s:  /v1/check (cached domain) %8.0f req/s;  baseline /healthz %8.0f req/s;  ratio %.2f x\n", c, s, cp, hp, cp / hp
  printf "paced at %d req/s, %d s:   /v1/check %6.0f req/s p50 %.3f ms p99 %.3f ms;  baseline /healthz %6.0f req/s p50 %.3f ms p99 %.3f ms;  p99 ratio %.2f x\n", rate, s, cr, c50, c99, hr, h50, h99, c99 / h99
  printf "targets: p99 at %d req/s under 2 ms: %s;  peak at least 20,000 req/s: %s\n", rate, (c99 < 2 ? "met" : "NOT met"), (cp >= 20000 ? "met" : "NOT met")
}'
