#!/usr/bin/env bash
# `make valgrind`: the CLI tests with every tool run under Valgrind's memcheck.
#
# Each binary of $BIN is replaced, in a temporary folder, by a wrapper that
# execs
#   valgrind --error-exitcode=99 --leak-check=full
#            --errors-for-leak-kinds=definite,indirect
#            --suppressions=tests/valgrind.supp --log-file=LOGS/TOOL.%p.log
# on the real binary, and CLI test scripts run with BIN pointing at the
# wrappers.  A memory error or a definite/indirect leak makes the tool exit 99
# (which the tests see as a wrong status) and leaves a non-empty log; the
# script fails if any test failed or any log holds a report, and prints the
# reports.
#
# What runs (Valgrind makes the tools some 30-50 times slower, so the suites
# that train the lecture's model for whole epochs, tests/cli/train.sh, crash.sh
# and faults.sh, are left to `make test` and `make asan`).  Measured on two
# shared cores: main 62 s, bad_inputs 192 s, summary 171 s, infer 648 s;
# visualize is by far the slowest (more than half an hour), so
# VALGRIND_SUITES="main bad_inputs summary" is the quick pass:
#   - main paths: every tool's successful runs on small inputs (below);
#   - tests/cli/bad_inputs.sh: the whole bad-input table;
#   - tests/cli/summary.sh, whole;
#   - tests/cli/infer.sh and tests/cli/visualize.sh, whole, with cnn-train
#     (which only prepares their weights there) run without Valgrind.
# VALGRIND_SUITES="main bad_inputs summary infer visualize" picks a subset.
set -u
BIN=${BIN:-bin}; BUILD=${BUILD:-build}
BIN=$(cd "$BIN" && pwd); BUILD=$(cd "$BUILD" && pwd)
ROOT=$(pwd)
SUITES=${VALGRIND_SUITES:-main bad_inputs summary infer visualize}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/cnn-valgrind.XXXXXX")
trap 'rm -rf "$W"' EXIT
LOGS=$W/logs
mkdir -p "$LOGS" "$W/bin" "$W/bin-notrain" "$W/real"
# Copies of the binaries: a concurrent `make` relinking bin/ does not disturb the run.
REAL_BIN=$W/real
cp "$BIN"/cnn-summary "$BIN"/cnn-train "$BIN"/cnn-infer "$BIN"/cnn-visualize "$BIN"/cnn-data \
    "$BIN"/cnn-import "$REAL_BIN/"

# wrap DIR TOOL: DIR/TOOL runs the real TOOL under Valgrind.
wrap() {
    cat >"$1/$2" <<EOF
#!/bin/sh
printf '%s\\n' "\$*" >"$LOGS/$2.\$\$.cmd"
exec valgrind -q --error-exitcode=99 --leak-check=full \\
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect,possible \\
    --num-callers=30 --suppressions="$ROOT/tests/valgrind.supp" \\
    --log-file="$LOGS/$2.%p.log" "$REAL_BIN/$2" "\$@"
EOF
    chmod +x "$1/$2"
}
for t in cnn-summary cnn-train cnn-infer cnn-visualize cnn-data; do
    wrap "$W/bin" $t
    wrap "$W/bin-notrain" $t
done
ln -sf "$REAL_BIN/cnn-train" "$W/bin-notrain/cnn-train"
# cnn-import runs unwrapped: its HDF5 reader is a child under an address-space
# limit (RLIMIT_AS), in which Valgrind cannot run; `make asan` checks it.
ln -sf "$REAL_BIN/cnn-import" "$W/bin/cnn-import"
ln -sf "$REAL_BIN/cnn-import" "$W/bin-notrain/cnn-import"

start=$(date +%s)
total_pass=0; total_fail=0

# result NAME "N passed, N failed" line
result() {
    local line=$2 p f
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    echo "$1: $line ($(($(date +%s) - $3))s)"
}

# ---- main paths: every tool's successful runs -------------------------------

main_paths() {
    local V=$W/bin M=$W/main p=0 f=0 D=$ROOT/data/mnist
    mkdir -p "$M"
    # ok NAME CMD...: the command exits 0 (stdout and stderr kept in $M/NAME.*)
    ok() {
        local name=$1; shift
        if "$@" >"$M/$name.out" 2>"$M/$name.err"; then p=$((p + 1))
        else f=$((f + 1)); echo "FAIL main: $name (exit $?): $(head -c 300 "$M/$name.err")" >&2; fi
    }
    "$BUILD/tests/test_infer" --write-subset "$D-test-images-idx3-ubyte.gz" \
        "$D-test-labels-idx1-ubyte.gz" 300 "$M" || { echo "0 passed, 1 failed"; return; }
    "$BUILD/tests/test_infer" --write-digits "$D-test-images-idx3-ubyte.gz" 3 "$M" || {
        echo "0 passed, 1 failed"; return; }
    local S=(--train-images "$M/sub-images.idx" --train-labels "$M/sub-labels.idx")
    local m
    for m in models/*.json tests/models/lee-mnist.{keras22,keras3,tfkeras2}.json; do
        ok "summary-$(basename "$m" .json)" "$V/cnn-summary" --flops --compare-dense "$m"
    done
    ok summary-keras2 "$V/cnn-summary" --keras2 models/fashion-bn.json
    ok summary-json "$V/cnn-summary" --json --flops models/lee-mnist.json
    ok train "$V/cnn-train" tests/train/tiny.json "${S[@]}" --val-split 0.2 --epochs 1 \
        --threads 2 --log "$M/h.jsonl" --json -q -o "$M/tiny.safetensors"
    ok train-resume "$V/cnn-train" tests/train/tiny.json "${S[@]}" --val-split 0.2 --epochs 2 \
        --threads 1 --resume "$M/tiny.safetensors.ckpt" -o "$M/tiny2.safetensors"
    # every other layer kind, small: BatchNormalization, Activation, average and
    # global pooling, SGD with a schedule, shifts, early stopping, finite checks
    printf '%s\n' '{"input_shape": [28, 28, 1], "layers": [' \
        '{"type": "Conv2D", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},' \
        '{"type": "BatchNormalization"}, {"type": "Activation", "activation": "tanh"},' \
        '{"type": "AveragePooling2D", "pool_size": 2}, {"type": "Conv2D", "filters": 4, "kernel_size": 3},' \
        '{"type": "GlobalMaxPooling2D"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}' \
        >"$M/bn.json"
    ok train-sgd-bn "$V/cnn-train" "$M/bn.json" "${S[@]}" --epochs 2 --batch-size 32 \
        --optimizer sgd --nesterov --schedule cosine --shift 2 --patience 1 --val-split 0.1 \
        --threads 2 -q --check-finite -o "$M/bn.safetensors"
    local Wt=$M/tiny.safetensors
    ok infer-pngs "$V/cnn-infer" -w "$Wt" --top 3 --probs "$M"/digit-*.png
    ok infer-json-model "$V/cnn-infer" -w "$Wt" tests/train/tiny.json --json "$M/digit-0.png"
    ok infer-resize "$V/cnn-infer" -w "$Wt" --resize --invert "$ROOT/tests/bad-inputs/fixtures/small10.png"
    ok infer-eval "$V/cnn-infer" -w "$Wt" --images "$M/sub-images.idx" --labels "$M/sub-labels.idx" \
        --predictions --json --threads 2
    ok infer-bn "$V/cnn-infer" -w "$M/bn.safetensors" --images "$M/sub-images.idx" --batch-size 7
    printf '%s\n' "$M"/digit-*.png >"$M/names"
    ok infer-names "$V/cnn-infer" -w "$Wt" - <"$M/names"
    ok infer-png-stdin "$V/cnn-infer" -w "$Wt" --png-stdin <"$M/digit-1.png"
    ok vis-max "$V/cnn-visualize" -w "$Wt" --layer conv2d --steps 5 --sort --json -o "$M/v1.png"
    ok vis-dense "$V/cnn-visualize" -w "$Wt" --layer dense --units 0-2 --steps 3 --optimizer adam \
        --l1 0.01 --tv 0.1 --threads 2 --each "$M/each"
    ok vis-weights "$V/cnn-visualize" -w "$Wt" --kernels -o "$M/v2.png"
    ok vis-fmaps "$V/cnn-visualize" -w "$Wt" --layer max_pooling2d --feature-maps "$M/digit-2.png" \
        --normalize global -o "$M/v3.png"
    ok vis-bn "$V/cnn-visualize" -w "$M/bn.safetensors" --layer conv2d --units 0-1 --steps 2 \
        --center -o "$M/v4.png"
    echo "$p passed, $f failed"
}

for s in $SUITES; do
    t0=$(date +%s)
    case $s in
    main) out=$(main_paths) ;;
    infer | visualize) out=$(BIN=$W/bin-notrain BUILD=$BUILD bash "tests/cli/$s.sh") ;;
    *) out=$(BIN=$W/bin BUILD=$BUILD CASE_TIMEOUT=600 PREP_BIN=$REAL_BIN bash "tests/cli/$s.sh") ;;
    esac
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    [ -n "$line" ] || line="0 passed, 1 failed"
    result "$s" "$line" "$t0"
done

# Every log with a report: the tool, its process and what Valgrind found.
reports=0
for l in "$LOGS"/*.log; do
    [ -s "$l" ] || continue
    reports=$((reports + 1))
    echo "--- $(basename "$l" .log): $(cat "${l%.log}.cmd" 2>/dev/null)"
    head -n 60 "$l"
done
runs=$(ls "$LOGS" | grep -c '\.log$')
echo "valgrind: $runs tool runs, $reports with reports, $(($(date +%s) - start))s"
[ "$reports" = 0 ] || total_fail=$((total_fail + 1))
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
