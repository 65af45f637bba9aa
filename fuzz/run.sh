#!/bin/sh
# Runs every fuzz target in turn, single-job and bounded in time, on the
# nightly toolchain; logs go to fuzz/logs/TARGET.log.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 180 s each, all targets
set -eu
cd "$(dirname "$0")"
secs=${1:-180}
[ $# -gt 0 ] && shift
targets=${*:-address input zone reply mtalog}
[ -d corpus ] || python3 seed.py
mkdir -p logs
for t in $targets; do
    echo "== $t ($secs s)"
    nice -n 15 cargo +nightly fuzz run -O "$t" -- \
        -max_total_time="$secs" -jobs=1 -workers=1 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || echo "$t: FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
    # With -jobs the fuzzing itself runs in a child that logs to fuzz-0.log.
    [ -f fuzz-0.log ] && mv fuzz-0.log "logs/$t.libfuzzer.log"
    cat "logs/$t.log" "logs/$t.libfuzzer.log" 2>/dev/null |
        grep -E '^stat::|^#[0-9]+ +(DONE|pulse)|^INFO: (seed|Seed|Loaded)|ERROR|panicked|^Failing input|artifacts/' | tail -n 14 || true
done
