#!/usr/bin/env bash
# Benchmark for cnn-infer (issue 5): images per second for the lecture's model
# over the 10,000 Fashion-MNIST test images (make data installs them), and the
# time for one PNG from process start to printed line, which is what a shell
# loop pays per call.  Each figure is the median of several runs; the figures
# are printed, never asserted.
#
#   BIN=bin bash bench/infer.sh          (RUNS=N, PNG_RUNS=N, WEIGHTS=F to override)
#
# Without WEIGHTS, the lecture's model is trained for one epoch on the embedded
# 2,000 test digits first: the speed does not depend on the weights' values.
set -eu
BIN=${BIN:-bin}
RUNS=${RUNS:-5}
PNG_RUNS=${PNG_RUNS:-21}
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnn-bench-infer.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

now_ns() { date +%s%N; }
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

W=${WEIGHTS:-}
if [ -z "$W" ]; then
    W=$TMP/lee.safetensors
    "$BIN/cnn-train" models/lee-mnist.json --train-images data/mnist-test-images-idx3-ubyte.gz \
        --train-labels data/mnist-test-labels-idx1-ubyte.gz --epochs 1 -q -o "$W" >/dev/null
fi

IMAGES=$FASHION/t10k-images-idx3-ubyte.gz
SET="Fashion-MNIST test images"
if [ ! -r "$IMAGES" ]; then
    echo "bench/infer.sh: $IMAGES not found (make data installs it); using the embedded MNIST test digits" >&2
    IMAGES=data/mnist-test-images-idx3-ubyte.gz
    SET="embedded MNIST test digits"
fi
N=$("$BIN/cnn-infer" -w "$W" --images "$IMAGES" | wc -l)
cores=$(getconf _NPROCESSORS_ONLN)

# Whole-process time for the IDX set, so it includes loading (about 0.1 s).
for threads in 1 "$cores"; do
    for i in $(seq "$RUNS"); do
        t0=$(now_ns)
        "$BIN/cnn-infer" -w "$W" --threads "$threads" --images "$IMAGES" >/dev/null
        t1=$(now_ns)
        echo $(( t1 - t0 ))
    done | median >"$TMP/t"
    awk -v ns="$(cat "$TMP/t")" -v n="$N" -v th="$threads" -v runs="$RUNS" -v set="$SET" 'BEGIN {
        printf "cnn-infer: %.0f images/s  (lee-mnist, %d %s, batch 128, %d thread%s, %.3f s, median of %d)\n",
               n / (ns / 1e9), n, set, th, th == 1 ? "" : "s", ns / 1e9, runs }'
    [ "$cores" = 1 ] && break
done

# One PNG: a 28x28 digit, process start to printed line.
echo "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABAElEQVQokc3QwSvDYRzH8Y+1hhIpS8xOFO1/4MbUDiulVmrLTW6KnNSujjRx2MXNHzA5r+zkoOTCYblQZOFgB3p/c3hMv3mes3xO33o9357P80j/ILFs5sQyYRs8BtgL2sgmAFNBrAJwPhCyLeP9Ee7HfZo4+7T26sw6ZD1buISrkjQLVW/vDsgpirGOpWppqXQarKlt4KBHbvOiu+6GmR26cc7sYzRqyVuoD7nZu3NlUu21N0lS77L0El0cbkLte16EVjqKY0BRkpTIP8CSfuORJE1X4Hm/0zX+c6Bw/SQV8nqtlLsfGd/BxajPe1+QvHHYyPV7JvWVAXYTAfrbfAHjl3zRX3qFZgAAAABJRU5ErkJggg==" | base64 -d >"$TMP/digit.png"
[ "$PNG_RUNS" -gt 0 ] || exit 0 # bench/run.sh times the PNG with hyperfine instead
for threads in 1 "$cores"; do
    for i in $(seq "$PNG_RUNS"); do
        t0=$(now_ns)
        "$BIN/cnn-infer" -w "$W" --threads "$threads" "$TMP/digit.png" >/dev/null
        t1=$(now_ns)
        echo $(( t1 - t0 ))
    done | median >"$TMP/t"
    awk -v ns="$(cat "$TMP/t")" -v th="$threads" -v runs="$PNG_RUNS" 'BEGIN {
        printf "cnn-infer: one PNG, process start to printed line: %.1f ms  (%d thread%s, median of %d)\n",
               ns / 1e6, th, th == 1 ? "" : "s", runs }'
    [ "$cores" = 1 ] && break
done
