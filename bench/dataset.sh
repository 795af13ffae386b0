#!/usr/bin/env bash
# Folder loading rate (issue 12): decodes a 70,000-image PNG class-folder set
# (Fashion-MNIST's 60,000 + 10,000 exported with cnn-data, made once under
# $BUILD/bench-fashion-png) with `cnn-data info`, which reads every image once
# over all cores, and prints images per second.  The target is >= 20,000 img/s
# on 2 cores.  BENCH_SMOKE=1 uses the 2,000 embedded digits instead.  Prints
# the load average beside the figure: other work on the machine lowers it.
set -u
BIN=${BIN:-bin}; BUILD=${BUILD:-build}
F=/usr/share/datasets/fashion-mnist
smoke=${BENCH_SMOKE:-0}; [ "$smoke" = 0 ] && smoke=
if [ -n "$smoke" ]; then
    dir=$BUILD/bench-digits-png
    [ -d "$dir" ] || "$BIN/cnn-data" export -q data/mnist-test-images-idx3-ubyte.gz "$dir" || exit 1
elif [ -f "$F/train-images-idx3-ubyte.gz" ]; then
    dir=$BUILD/bench-fashion-png
    if [ ! -d "$dir" ]; then
        rm -rf "$dir.test"
        "$BIN/cnn-data" export -q "$F/train-images-idx3-ubyte.gz" "$dir.new" &&
        "$BIN/cnn-data" export -q "$F/t10k-images-idx3-ubyte.gz" "$dir.test" || exit 1
        for c in "$dir.test"/*/; do
            c=$(basename "$c")
            for f in "$dir.test/$c"/*.png; do mv "$f" "$dir.new/$c/t$(basename "$f")"; done
        done
        rm -rf "$dir.test" && mv "$dir.new" "$dir"
    fi
else
    echo "folder loading: not measured (Fashion-MNIST missing: make data)"
    exit 0
fi
t0=$(date +%s.%N)
n=$("$BIN/cnn-data" info -q "$dir" | awk '$1 == "images" { print $2 }') || exit 1
t1=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    -v th="$(nproc)" 'BEGIN {
    printf "folder loading (PNG class folders, %d images, %d threads): %.0f images/s in %.2f s  (load average %s)\n",
        n, th, n / (b - a), b - a, load }'
