#!/usr/bin/env bash
# `make bench-smoke` (run by CI): the benchmark with BENCH_SMOKE=1 (one
# repetition of one step on a 256^3 sgemm, a second or two), so that
# `make bench` cannot silently break.  Checks that it exits 0 and prints every
# figure bench/run.sh reads, each a positive number; the figures themselves
# mean nothing at this size.  Ends with "N passed, N failed".
set -u
BUILD=${BUILD:-build}
pass=0; fail=0
out=$(BENCH_SMOKE=1 BUILD=$BUILD bash bench/run.sh 2>&1); rc=$?
raw=$(BENCH_SMOKE=1 "$BUILD/bench/bench" models/lee-mnist.json 8 2>&1); rc2=$?
if [ "$rc" = 0 ] && [ "$rc2" = 0 ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL bench exits $rc (run.sh) and $rc2 (bench):"; printf '%s\n' "$out" "$raw" | sed 's/^/  /'; fi
for k in threads batch sgemm_n sgemm_gflops model_mflop_per_image_forward train_images_per_s \
         train_gflops train_fraction_of_sgemm infer_images_per_s infer_gflops infer_fraction_of_sgemm; do
    v=$(printf '%s\n' "$raw" | awk -v k="$k" '$1 == k { print $2 }')
    if awk -v v="$v" 'BEGIN { exit !(v != "" && v + 0 > 0 && v == v + 0) }'; then pass=$((pass + 1))
    else fail=$((fail + 1)); echo "FAIL bench figure $k is '$v', expected a positive number"; fi
done
printf '%s\n' "$out"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
