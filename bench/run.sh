#!/usr/bin/env bash
# `make bench`: runs build/bench/bench (sgemm rate, then the lecture model's
# training step and inference at batch 64, medians of several repetitions)
# and, when python3 can import torch, the same model and step in PyTorch
# (bench/torch_bench.py), then prints our images/s as a ratio to PyTorch's.
set -eu
BUILD=${BUILD:-build}
MODEL=${MODEL:-models/lee-mnist.json}
BATCH=${BATCH:-64}

ours=$("$BUILD/bench/bench" "$MODEL" "$BATCH" ${THREADS:-})
get() { printf '%s\n' "$1" | awk -v k="$2" '$1 == k { print $2 }'; }

echo "libcnn, $(get "$ours" threads) threads, batch $BATCH, $MODEL"
printf '  cblas_sgemm %s^3:  %8s GFLOP/s\n' "$(get "$ours" sgemm_n)" "$(get "$ours" sgemm_gflops)"
printf '  training step:       %8s images/s  %6s GFLOP/s  %s of sgemm\n' \
    "$(get "$ours" train_images_per_s)" "$(get "$ours" train_gflops)" \
    "$(get "$ours" train_fraction_of_sgemm)"
printf '  inference:           %8s images/s  %6s GFLOP/s  %s of sgemm\n' \
    "$(get "$ours" infer_images_per_s)" "$(get "$ours" infer_gflops)" \
    "$(get "$ours" infer_fraction_of_sgemm)"
echo "  (FLOPs = 2 x multiply-adds; a training step counts 3 x the forward pass)"

BIN=${BIN:-bin} BUILD=${BUILD:-build} bash bench/dataset.sh

# The smoke pass (bench/smoke.sh) stops here.
[ -z "${BENCH_SMOKE:-}" ] || [ "$BENCH_SMOKE" = 0 ] || exit 0

# Debian's python3-torch lives in the system interpreter, which may not be the
# first python3 on PATH.
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
    theirs=$("$PY" bench/torch_bench.py --batch "$BATCH")
    tt=$(get "$theirs" train_images_per_s); ti=$(get "$theirs" infer_images_per_s)
    echo "PyTorch $(get "$theirs" torch_version), $(get "$theirs" threads) threads (its default)"
    printf '  training step:       %8s images/s   ours/PyTorch %s\n' "$tt" \
        "$(awk -v a="$(get "$ours" train_images_per_s)" -v b="$tt" 'BEGIN { printf "%.2f", a / b }')"
    printf '  inference:           %8s images/s   ours/PyTorch %s\n' "$ti" \
        "$(awk -v a="$(get "$ours" infer_images_per_s)" -v b="$ti" 'BEGIN { printf "%.2f", a / b }')"
else
    echo "PyTorch: not measured (python3 cannot import torch; install python3-torch)"
fi

echo
bash bench/infer.sh
