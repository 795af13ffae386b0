#!/usr/bin/env bash
# `make bench-smoke` (run by CI): the benchmark with BENCH_SMOKE=1 (one
# repetition of one step on a 256^3 sgemm, each part of bench/run.sh once and
# briefly, a few seconds), so that
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
# every part of run.sh printed its lines
for line in 'training step: .* of sgemm' 'inference: .* of sgemm' 'batch   1: training' \
            'batch 256: training' 'cifar-cnn.json *batch +[0-9]+: training' 'alphago-policy.json *batch +[0-9]+: training' \
            'peak RSS [0-9.]+ MiB' 'cnn-infer \(one PNG\) +[0-9.]+ ms +[0-9.]+ x the empty' \
            'cnn-summary \(lecture model\) +[0-9.]+ ms' 'cnn-infer: [0-9]+ images/s' \
            '2 ranks x 1 thread +[0-9]+ images/s +[0-9.]+ % of training time in MPI|data-parallel training: not measured' \
            'overlap: 2 ranks [0-9]+ images/s|data-parallel training: not measured' \
            'make bench: [0-9]+ s in all \(folder loading [0-9]+ s, .*data-parallel training [0-9]+ s\)'; do
    if printf '%s\n' "$out" | grep -Eq "$line"; then pass=$((pass + 1))
    else fail=$((fail + 1)); echo "FAIL bench/run.sh printed no line matching '$line'"; fi
done
printf '%s\n' "$out"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
