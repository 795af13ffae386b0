#!/usr/bin/env bash
# `make bench`: every figure of issue 13 in one run (bench/README.md explains
# them and what each optimization bought):
#   1. the lecture's model at batch 64: sgemm rate, training step and inference
#      as a fraction of it, then against PyTorch in its best configuration,
#      interleaved (ours, PyTorch, three times), best of three;
#   2. images/s at batch 1, 8, 64, 256 and for the CIFAR and AlphaGo networks;
#   3. Fashion-MNIST training (lecture model, 5 epochs, batch 64): time,
#      accuracy, peak RSS;
#   4. start-up: one PNG through cnn-infer and cnn-summary against an empty C
#      program, side by side in hyperfine; cnn-infer over the test set.
#   5. data-parallel training (bench/mpi.sh, issue 14): 1 rank x 1 and 2 threads,
#      2 ranks x 1 thread, time in MPI, gain of overlapping.
# With BENCH_SMOKE=1 (bench/smoke.sh, CI) each part runs once and briefly:
# no PyTorch, 2,000 embedded digits for one epoch; its figures mean nothing.
set -eu
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
MODEL=models/lee-mnist.json
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
SMOKE=
[ -z "${BENCH_SMOKE:-}" ] || [ "$BENCH_SMOKE" = 0 ] || SMOKE=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnn-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

get() { printf '%s\n' "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
# max / median of the numbers on stdin
max() { sort -g | tail -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //');" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

# part NAME: the seconds since the last part (or the start), kept for the
# closing line, which says where make bench's time goes (the issue: < 3 min)
parts=() last=$SECONDS
part() { parts+=("$1 $((SECONDS - last)) s"); last=$SECONDS; }

# ---- 0. loading a folder of PNGs (bench/dataset.sh) --------------------------
BIN=$BIN BUILD=$BUILD bash bench/dataset.sh

part "folder loading"
# ---- 1. lecture model at batch 64, against PyTorch ----------------------------
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
[ -z "$SMOKE" ] || PY=
rounds=3
[ -z "$SMOKE" ] || rounds=1
for r in $(seq "$rounds"); do
    "$BUILD/bench/bench" "$MODEL" 64 ${THREADS:-} >"$TMP/ours.$r"
    if [ -n "$PY" ]; then
        OPENBLAS_NUM_THREADS=1 "$PY" bench/torch_bench.py --batch 64 --threads 2 --reps 5 >"$TMP/theirs.$r"
    fi
done
col() { for r in $(seq "$rounds"); do get "$(cat "$TMP/$1.$r")" "$2"; done; }
threads=$(col ours threads | head -1)
echo "libcnn, $threads threads, batch 64, $MODEL ($rounds round(s) interleaved with PyTorch;" \
     "images/s best of the rounds, fractions of sgemm their median)"
printf '  cblas_sgemm %s^3:  %8s GFLOP/s\n' "$(col ours sgemm_n | head -1)" "$(col ours sgemm_gflops | median)"
echo "  conv layers' GEMMs: $(sed -n 's/^conv_gemm //p' "$TMP/ours.1")"
tr_ips=$(col ours train_images_per_s | max); in_ips=$(col ours infer_images_per_s | max)
printf '  training step:       %8s images/s  %6s GFLOP/s  %s of sgemm\n' "$tr_ips" \
    "$(col ours train_gflops | max)" "$(col ours train_fraction_of_sgemm | median)"
printf '  inference:           %8s images/s  %6s GFLOP/s  %s of sgemm\n' "$in_ips" \
    "$(col ours infer_gflops | max)" "$(col ours infer_fraction_of_sgemm | median)"
echo "  (FLOPs = 2 x multiply-adds; a training step counts 3 x the forward pass)"
if [ -n "$PY" ]; then
    tt=$(col theirs train_images_per_s | max); ti=$(col theirs infer_images_per_s | max)
    echo "PyTorch $(col theirs torch_version | head -1), torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1" \
         "(its best configuration here), best of $rounds"
    printf '  training step:       %8s images/s   ours/PyTorch %s\n' "$tt" "$(ratio "$tr_ips" "$tt")"
    printf '  inference:           %8s images/s   ours/PyTorch %s\n' "$ti" "$(ratio "$in_ips" "$ti")"
elif [ -n "$SMOKE" ]; then
    echo "PyTorch: not measured in the smoke pass"
else
    echo "PyTorch: not measured (python3 cannot import torch; make bench installs python3-torch)"
fi

part "lecture model and PyTorch"
# ---- 2. scaling ----------------------------------------------------------------
echo
echo "scaling (median of 3 repetitions each; fraction of the same run's sgemm):"
scale() { # model batch
    local o
    o=$(BENCH_REPS=3 "$BUILD/bench/bench" "$1" "$2" ${THREADS:-})
    printf '  %-26s batch %3s: training %8s images/s (%s of sgemm), inference %8s images/s (%s of sgemm), %s MFLOP/image\n' \
        "$1" "$2" "$(get "$o" train_images_per_s)" "$(get "$o" train_fraction_of_sgemm)" \
        "$(get "$o" infer_images_per_s)" "$(get "$o" infer_fraction_of_sgemm)" \
        "$(get "$o" model_mflop_per_image_forward)"
}
for b in 1 8 64 256; do scale "$MODEL" "$b"; done
# AlphaGo's policy network is 2.8 GFLOP an image: batch 8 keeps it to seconds
if [ -z "$SMOKE" ]; then scale models/cifar-cnn.json 64; scale models/alphago-policy.json 8
else scale models/cifar-cnn.json 8; scale models/alphago-policy.json 1; fi

part scaling
# ---- 3. Fashion-MNIST training -------------------------------------------------
echo
TI=$FASHION/train-images-idx3-ubyte.gz; TL=$FASHION/train-labels-idx1-ubyte.gz
VI=$FASHION/t10k-images-idx3-ubyte.gz; VL=$FASHION/t10k-labels-idx1-ubyte.gz
EPOCHS=5; SET="Fashion-MNIST (60,000 training, 10,000 test images)"
if [ -n "$SMOKE" ] || [ ! -r "$TI" ]; then
    [ -n "$SMOKE" ] || echo "bench/run.sh: $TI not found (make data installs it); using the embedded digits" >&2
    TI=data/mnist-test-images-idx3-ubyte.gz; TL=data/mnist-test-labels-idx1-ubyte.gz
    VI=$TI; VL=$TL; EPOCHS=1; SET="the 2,000 embedded test digits"
fi
W=$TMP/lee.safetensors
/usr/bin/time -v -o "$TMP/time" "$BIN/cnn-train" "$MODEL" --train-images "$TI" --train-labels "$TL" \
    --test-images "$VI" --test-labels "$VL" --epochs "$EPOCHS" --batch-size 64 --json -q \
    -o "$W" >"$TMP/train.json"
awk -v set="$SET" -v e="$EPOCHS" -F'[:,{} ]+' '
    FNR == NR { for (i = 1; i < NF; i++) v[$i] = $(i + 1); next }
    /Maximum resident set size/ { rss = $NF }
    END { printf "training, lecture model, %d epochs, batch 64, %s:\n  %.1f s, %.0f images/s, test accuracy %.2f %%, peak RSS %.1f MiB\n",
                 e, set, v["\"elapsed_seconds\""], v["\"images_per_second\""], 100 * v["\"val_accuracy\""], rss / 1024 }' \
    "$TMP/train.json" "$TMP/time"

part "Fashion-MNIST training"
# ---- 4. start-up and cnn-infer -------------------------------------------------
echo
sed -n '/iVBOR/p' bench/infer.sh | sed 's/^echo "//; s/".*//' | base64 -d >"$TMP/digit.png"
# Three rounds of hyperfine, each timing the three side by side: a machine
# whose speed drifts during one round (hyperfine runs each command's runs in a
# row) then moves every round's ratios, not only one program's time.  Each
# figure is the median over the rounds of the round's medians and ratios.
runs=30 rounds=3
[ -z "$SMOKE" ] || runs=3 rounds=1
for r in $(seq "$rounds"); do
    hyperfine -N -w 5 -r "$runs" --export-csv "$TMP/hf$r.csv" \
        "$BUILD/bench/empty" "$BIN/cnn-infer -w $W $TMP/digit.png" "$BIN/cnn-summary $MODEL" >/dev/null 2>&1
done
awk -F, -v rounds="$rounds" -v runs="$runs" '
    function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    FNR == 1 { r++; next }
    FNR == 2 { e = $4 }
    { c = FNR - 1; n = $1; sub(/ .*/, "", n); sub(/.*\//, "", n); name[c] = n
      t[c, r] = $4; q[c, r] = $4 / e }
    END { printf "start-up, process start to exit (hyperfine, side by side, %d round%s of %d runs; the median of the rounds%s medians):\n", rounds, (rounds > 1 ? "s" : ""), runs, "\047"
          for (c = 1; c <= 3; c++) { s = ""
              for (i = 1; i <= rounds; i++) { a[i] = t[c, i]; b[i] = q[c, i]; s = s sprintf(" %.2f", q[c, i]) }
              printf "  %-28s %6.2f ms  %5.2f x the empty program%s\n", name[c] (c == 2 ? " (one PNG)" : c == 3 ? " (lecture model)" : ""),
                     1000 * med(a, rounds), med(b, rounds), (rounds > 1 && c > 1 ? "  (rounds:" s ")" : "") } }' \
    "$TMP"/hf[0-9]*.csv
if [ -n "$SMOKE" ]; then FASHION=$TMP/none RUNS=1 PNG_RUNS=0 WEIGHTS=$W BIN=$BIN bash bench/infer.sh 2>/dev/null
else RUNS=3 PNG_RUNS=0 WEIGHTS=$W BIN=$BIN bash bench/infer.sh; fi

part "start-up and cnn-infer"
# ---- 5. data-parallel training (bench/mpi.sh) --------------------------------
echo
BIN=$BIN bash bench/mpi.sh
part "data-parallel training"

echo
printf -v all '%s, ' "${parts[@]}"
echo "make bench: $SECONDS s in all (${all%, })"
