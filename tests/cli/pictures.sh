#!/usr/bin/env bash
# CLI tests of the pictures (issue 15): cnn-infer --confusion and cnn-train
# --plot.  The pictures' pixels are checked in tests/test_plot.c; here the
# tools must draw what the library draws for the figures computed by hand
# (the confusion matrix of test_infer's hand-checked set), continue the curve
# across --resume byte for byte, write "-" to stdout, and refuse misuse.
. "$(dirname "$0")/lib.sh"
: "${BUILD:=build}"
ROOT=$(pwd)
BUILD=$(cd "$BUILD" && pwd)
PLOT=$BUILD/tests/test_plot
D=$ROOT/data/mnist
TRAIN=(--train-images $D-train-images-idx3-ubyte.gz --train-labels $D-train-labels-idx1-ubyte.gz)
TEST=(--test-images $D-test-images-idx3-ubyte.gz --test-labels $D-test-labels-idx1-ubyte.gz)
TINY=tests/train/tiny.json
F=$TMP/fx
mkdir -p "$F"
"$BUILD/tests/test_infer" --write-fixtures "$F" || { echo "could not write fixtures"; echo "0 passed, 1 failed"; exit 1; }
SET=(--images "$F/tiny-images.idx" --labels "$F/tiny-labels.idx")

# Records predict 0, 1, 2, 2; labels 0, 1, 2, 0 (tests/cli/infer.sh): rows are
# true classes, so the counts are [[1, 0, 1], [0, 1, 0], [0, 0, 1]].
test_confusion_draws_the_hand_counted_matrix() {
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q --confusion "$TMP/cm.png"
    expect_rc 0; expect_out_empty
    "$PLOT" --confusion "$TMP/want.png" tiny 3 1 0 1 0 1 0 0 0 1 || fail "test_plot --confusion failed"
    cmp -s "$TMP/want.png" "$TMP/cm.png" || fail "cnn-infer's matrix differs from the hand-counted one"
    # another matrix would not match: the comparison can fail
    "$PLOT" --confusion "$TMP/other.png" tiny 3 2 0 0 0 1 0 0 0 1
    cmp -s "$TMP/other.png" "$TMP/cm.png" && fail "a different matrix drew the same picture"
    [ "$("$PLOT" --info "$TMP/cm.png" | cut -d' ' -f3)" = 2 ] || fail "not an RGB PNG"
    # the same again gives the same bytes; "-" writes them to stdout
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q --confusion -
    expect_rc 0; expect_out_equals_file "$TMP/cm.png"
}

test_confusion_misuse_and_bad_outputs() {
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" --confusion "$TMP/x.png" "$F/rec0.png"
    expect_rc 2; expect_err_contains "--confusion goes with --labels or --eval"
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" --json --confusion -
    expect_rc 2; expect_err_contains "would both write to standard output"
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" --confusion "$F/tiny-labels.idx"
    expect_rc 2; expect_err_contains "--confusion"
    run "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q --confusion "$TMP/no/such/dir/cm.png"
    expect_rc 1; expect_err_contains "$TMP/no/such/dir/cm.png"
}

# The curves are drawn from the history the checkpoint keeps: one epoch, then
# a resume to two, draws exactly the picture of an uninterrupted two-epoch run.
test_plot_continues_across_resume() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 2 \
        --plot "$TMP/full.png" -o "$TMP/full.safetensors"
    expect_rc 0
    [ "$("$PLOT" --info "$TMP/full.png")" = "960 460 2" ] || fail "full.png: $("$PLOT" --info "$TMP/full.png")"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 1 \
        --plot "$TMP/part.png" -o "$TMP/part.safetensors"
    expect_rc 0
    [ -s "$TMP/part.png" ] || fail "no plot after one epoch"
    cmp -s "$TMP/part.png" "$TMP/full.png" && fail "one epoch drew the same curves as two"
    cp "$TMP/part.png" "$TMP/resumed.png"
    run "$BIN/cnn-train" --resume "$TMP/part.safetensors.ckpt" --threads 1 -q --epochs 2 \
        --plot "$TMP/resumed.png"
    expect_rc 0
    cmp -s "$TMP/resumed.png" "$TMP/full.png" || fail "the resumed run's curves differ from the uninterrupted run's"
}

# The plot is rewritten after every epoch: a run stopped by SIGINT during its
# second epoch leaves the one-epoch curves behind.
test_plot_is_written_after_each_epoch() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 1 \
        --plot "$TMP/one.png" -o "$TMP/one.safetensors"
    expect_rc 0
    "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --threads 1 --epochs 3 \
        --plot "$TMP/live.png" -o "$TMP/live.safetensors" 2>"$TMP/live.err" &
    local pid=$! i
    for i in $(seq 600); do grep -q '^epoch 1/3' "$TMP/live.err" && break; sleep 0.1; done
    [ -s "$TMP/live.png" ] || fail "no plot once epoch 1 was reported"
    [ -e "$TMP/live.safetensors" ] && fail "the weights exist already: the run was not in progress"
    kill -INT $pid 2>/dev/null
    wait $pid
    [ "$("$PLOT" --info "$TMP/live.png" | cut -d' ' -f1-2)" = "960 460" ] || fail "live.png is not a whole picture"
}

test_plot_misuse_and_bad_outputs() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 --plot - -o "$TMP/a.safetensors"
    expect_rc 2; expect_err_contains "--plot -"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 --plot "$TMP/nodir/p.png" -o "$TMP/b.safetensors"
    expect_rc 1; expect_err_contains "$TMP/nodir/p.png"
    [ -e "$TMP/b.safetensors" ] && fail "trained although the plot cannot be written"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 --plot "$TMP/c.safetensors" -o "$TMP/c.safetensors"
    expect_rc 2
}

run_test test_confusion_draws_the_hand_counted_matrix
run_test test_confusion_misuse_and_bad_outputs
run_test test_plot_continues_across_resume
run_test test_plot_is_written_after_each_epoch
run_test test_plot_misuse_and_bad_outputs
finish
