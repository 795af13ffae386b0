#!/usr/bin/env bash
# Long fuzzing session for one harness, niced, in segments of SEGMENT seconds
# (default 600) until TOTAL seconds (default 1800) have run; stops at the first
# finding.  Each segment's log is kept as build-fuzz/long/HARNESS.N.log and one
# line per segment (seconds, executions, result) is appended to
# build-fuzz/long/HARNESS.tsv for the tests/fuzz/README.md log.
#   tests/fuzz/long.sh fuzz_png 1800
set -u
cd "$(dirname "$0")/../.."
h=$1; total=${2:-1800}; seg=${SEGMENT:-600}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$FUZZ_BUILD/long"
done_s=0; n=$(ls "$FUZZ_BUILD/long/$h".*.log 2>/dev/null | wc -l)
while [ "$done_s" -lt "$total" ]; do
    s=$((total - done_s < seg ? total - done_s : seg))
    n=$((n + 1))
    FUZZ_LOG_TAG=.long FUZZ_NICE=10 FUZZ_SECONDS=$s bash tests/fuzz/run.sh "$h" >/dev/null 2>&1
    rc=$?
    cp "$FUZZ_BUILD/$h.long.log" "$FUZZ_BUILD/long/$h.$n.log"
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$FUZZ_BUILD/$h.long.log" | grep -o '[0-9]*$' | tail -n 1)
    secs=$(grep -ao 'Done [0-9]* runs in [0-9]* second' "$FUZZ_BUILD/$h.long.log" | awk '{print $5}' | tail -n 1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" "${secs:-$s}" "${execs:-?}" \
        "$([ $rc = 0 ] && echo ok || echo FINDING)" >>"$FUZZ_BUILD/long/$h.tsv"
    [ $rc = 0 ] || { echo "$h: finding in segment $n, see $FUZZ_BUILD/long/$h.$n.log"; exit 1; }
    done_s=$((done_s + s))
done
echo "$h: $done_s seconds without findings"
