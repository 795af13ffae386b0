#!/usr/bin/env bash
# Every numeric training setting has one range, shared by cnn-train's flags and
# the readers of the "training" object (issue 11 §4): cnn-train run with each
# setting at the extremes it accepts writes weights and a checkpoint that
# cnn-infer, cnn-visualize and cnn-train --resume all read back.  (Before,
# --learning-rate 1e-30 was accepted and written, and then refused by every
# reader: "expected a number in [1e-12, 1e+06]".)
. "$(dirname "$0")/lib.sh"
D=data/mnist
TINY=tests/train/tiny.json
FX=tests/bad-inputs/fixtures

# 50 images and labels: enough for one quick epoch.
{ printf '\0\0\x08\x03\0\0\0\x32\0\0\0\x1c\0\0\0\x1c'; gzip -dc $D-test-images-idx3-ubyte.gz | tail -c +17 | head -c 39200; } >"$TMP/img"
{ printf '\0\0\x08\x01\0\0\0\x32'; gzip -dc $D-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 50; } >"$TMP/lab"
SET=(--train-images "$TMP/img" --train-labels "$TMP/lab" --threads 1 -q)

# read_back FILE: every tool that reads weights takes it.
read_back() {
    run "$BIN/cnn-infer" -w "$1" "$FX/digit28.png"; expect_rc 0
    run "$BIN/cnn-visualize" -w "$1" --kernels -o "$TMP/v.png"; expect_rc 0
    run "$BIN/cnn-infer" -w "$1" --images "$TMP/img" --labels "$TMP/lab" -q; expect_rc 0
}

# extremes NAME FLAGS...: trains with FLAGS, reads the weights and the
# checkpoint back, and resumes from the checkpoint.
extremes() {
    local name=$1; shift
    run "$BIN/cnn-train" $TINY "${SET[@]}" "$@" -o "$TMP/$name.st"
    expect_rc 0
    [ -f "$TMP/$name.st" ] || return
    read_back "$TMP/$name.st"
    read_back "$TMP/$name.st.ckpt"
    run "$BIN/cnn-train" $TINY "${SET[@]}" --resume "$TMP/$name.st.ckpt" --epochs 2 -o "$TMP/$name-2.st"
    expect_rc 0
}

lowest_accepted_values_read_back() {
    extremes low --epochs 1 --batch-size 1 --learning-rate 1e-12 --optimizer sgd --momentum 0 \
        --schedule step --step-epochs 1 --step-gamma 1e-6 --seed 0
}

highest_accepted_values_read_back() {
    extremes high --epochs 1 --batch-size 65536 --learning-rate 1e6 --optimizer sgd \
        --momentum 0.999999 --nesterov --schedule step --step-epochs 1000000 --step-gamma 1 \
        --seed 2147483647
}

# --epochs 1000000: stopped by SIGTERM after its first checkpoint, which then
# reads back (1,000,000 epochs cannot run in a test).
most_epochs_read_back() {
    "$BIN/cnn-train" $TINY "${SET[@]}" --epochs 1000000 -o "$TMP/e.st" >/dev/null 2>"$TMP/err" &
    local pid=$! i
    for i in $(seq 600); do [ -s "$TMP/e.st.ckpt" ] && break; sleep 0.05; done
    kill -TERM $pid; wait $pid; rc=$?
    expect_rc 130
    read_back "$TMP/e.st.ckpt"
}

# Values just outside are refused by the flags (and by the readers, with the
# same bounds: tests/bad-inputs/043, 044 and test_model).
values_outside_are_refused() {
    local f
    for f in "--learning-rate 1e-30" "--learning-rate 2e6" "--momentum 1" "--step-gamma 1e-7" \
             "--step-gamma 1.5" "--batch-size 65537" "--epochs 1000001" "--step-epochs 1000001" \
             "--seed 2147483648"; do
        # shellcheck disable=SC2086
        run "$BIN/cnn-train" $TINY "${SET[@]}" $f -o "$TMP/out.st"
        expect_rc 2
    done
    [ -e "$TMP/out.st" ] && fail "a refused run wrote weights"
    local m
    for m in '"learning_rate": 1e-30' '"batch_size": 65537' '"epochs": 1000001' '"step_gamma": 1e-7' '"seed": 2147483648'; do
        sed "s/\"training\": {/\"training\": {$m, /" $TINY >"$TMP/m.json"
        run "$BIN/cnn-summary" "$TMP/m.json"
        expect_rc 1
    done
}

run_test lowest_accepted_values_read_back
run_test highest_accepted_values_read_back
run_test most_epochs_read_back
run_test values_outside_are_refused
finish
