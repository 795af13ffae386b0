#!/usr/bin/env bash
# CLI tests of the pictures (issue 15): cnn-infer --confusion, cnn-train
# --plot, cnn-visualize --saliency, --gradcam and --start.  The pictures' pixels are checked in tests/test_plot.c; here the
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

# Saliency and Grad-CAM through --json, number by number against the closed
# forms (tests/test_attribution.c computes them from the same weight formulas
# its --write-fixtures wrote): Flatten -> Dense gives |W_K|; a linear 1x1
# convolution -> global average pooling -> Dense gives ReLU(sum_c W[K,c] a_c . x) / (h w).
ATTR=$BUILD/tests/test_attribution
A=$TMP/attr
mkdir -p "$A"
"$ATTR" --write-fixtures "$A" || { echo "could not write the attribution fixtures"; echo "0 passed, 1 failed"; exit 1; }

test_saliency_json_is_abs_weights() {
    local k
    for k in 0 1 2; do
        run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" --class $k --json
        expect_rc 0
        "$ATTR" --check-saliency $k "$TMP/out" || fail "saliency of class $k is not |W_$k|"
    done
    # without --class: the predicted class
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" --json
    expect_rc 0
    local cls pred
    cls=$(grep -o '"class": [0-9]*' "$TMP/out" | cut -d' ' -f2)
    pred=$(grep -o '"predicted": [0-9]*' "$TMP/out" | cut -d' ' -f2)
    [ -n "$cls" ] && [ "$cls" = "$pred" ] || fail "default class $cls, predicted $pred"
    "$ATTR" --check-saliency "$cls" "$TMP/out" || fail "default class: not |W|"
}

test_gradcam_json_is_the_closed_form() {
    local k
    for k in 0 1 2; do
        run "$BIN/cnn-visualize" -w "$A/gc.safetensors" --gradcam "$A/rgb.png" --layer mix --class $k --json
        expect_rc 0
        expect_out_contains '"layer": "mix"'
        "$ATTR" --check-gradcam $k "$TMP/out" || fail "Grad-CAM of class $k is not the closed form"
    done
    # the check can fail: class 1's map is not class 0's closed form
    sed 's/"class": 2,/"class": 0,/' "$TMP/out" >"$TMP/wrong"
    "$ATTR" --check-gradcam 0 "$TMP/wrong" 2>/dev/null && fail "class 2's map passed as class 0's"
    return 0
}

# The picture: image | map | overlay, scaled so the 4-pixel-wide image is 96
# pixels (3 x 96 + 4 gaps of 12 + 70 for the colour bar = 406; at least 156
# high for the bar); the same inputs give the same bytes; - is stdout.
test_saliency_and_gradcam_pictures() {
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" -o "$TMP/s.png"
    expect_rc 0
    [ "$("$PLOT" --info "$TMP/s.png")" = "406 156 2" ] || fail "s.png: $("$PLOT" --info "$TMP/s.png")"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" -o -
    expect_rc 0; expect_out_equals_file "$TMP/s.png"
    run "$BIN/cnn-visualize" -w "$A/gc.safetensors" --gradcam "$A/rgb.png" --layer mix --class 1 -o "$TMP/g.png"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$A/gc.safetensors" --gradcam "$A/rgb.png" --layer mix --class 1 -o "$TMP/g2.png"
    cmp -s "$TMP/g.png" "$TMP/g2.png" || fail "two runs drew different Grad-CAM pictures"
    cmp -s "$TMP/g.png" "$TMP/s.png" && fail "Grad-CAM drew the saliency picture"
    return 0
}

test_attribution_misuse() {
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" --class 3 --json
    expect_rc 2; expect_err_contains "--class 3: the model has classes 0 to 2"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" --class cat --json
    expect_rc 2; expect_err_contains "--class cat: not a class number"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --layer dense --class 1 -o "$TMP/x.png"
    expect_rc 2; expect_err_contains "--class goes with --saliency or --gradcam"
    run "$BIN/cnn-visualize" -w "$A/gc.safetensors" --gradcam "$A/rgb.png" --json
    expect_rc 2; expect_err_contains "--layer NAME is required"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png"
    expect_rc 2; expect_err_contains "-o FILE.png or --json is required"
    run "$BIN/cnn-visualize" -w "$A/gc.safetensors" --gradcam "$A/rgb.png" --layer global_average_pooling2d --json
    expect_rc 1; expect_err_contains "flat"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --saliency "$A/rgb.png" -o "$A/rgb.png"
    expect_rc 2; expect_err_contains "an output never replaces an input"
}

# --start: the ascent begins at the image.  With no steps, the picture is the
# image itself: the same as the one an image of the same pixels would give.
test_start_image_is_the_first_start() {
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --layer dense --units 0 --steps 0 --blur 0 \
        --jitter 0 --normalize none --start "$A/rgb.png" --json -o "$TMP/start.png"
    expect_rc 0
    # the objective at the image is logit 0 = W_0 . x + b_0
    local v; v=$(grep -o '"value": [-0-9.e]*' "$TMP/out" | cut -d' ' -f2)
    "$ATTR" --logit 0 "$v" || fail "the value at the start image is not W_0 . x + b_0 ($v)"
    run "$BIN/cnn-visualize" -w "$A/fd.safetensors" --layer dense --units 0 --steps 0 --blur 0 \
        --jitter 0 --json -o "$TMP/noise.png"
    cmp -s "$TMP/start.png" "$TMP/noise.png" && fail "--start drew the same as a random start"
    return 0
}

# cairo is loaded at the first picture (lib/cairo_load.c), not linked: no tool
# lists it, a run that draws nothing never loads it (the dynamic loader's own
# trace, LD_DEBUG=files), a picture loads it once by dlopen, and without it
# (a private mount of /dev/null over the library: root, as in CI) the picture
# fails with a clear message while a run drawing nothing still works.
test_cairo_is_loaded_only_to_draw() {
    local b lib
    for b in cnn-summary cnn-infer cnn-train cnn-data cnn-visualize; do
        ldd "$BIN/$b" | grep -q libcairo && fail "$b links cairo: $(ldd "$BIN/$b" | grep libcairo)"
    done
    LD_DEBUG=files "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q >"$TMP/out" 2>"$TMP/trace" ||
        fail "cnn-infer failed: $(tail -n 3 "$TMP/trace")"
    grep -q 'file=[^ ]*libcjson' "$TMP/trace" || fail "no loader trace (LD_DEBUG ignored?)"
    grep -q 'file=[^ ]*libcairo' "$TMP/trace" && fail "an evaluation without --confusion loaded cairo"
    LD_DEBUG=files "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q --confusion "$TMP/cm.png" \
        >"$TMP/out" 2>"$TMP/trace" || fail "cnn-infer --confusion failed: $(tail -n 3 "$TMP/trace")"
    expect_dlopened_once libcairo "$TMP/trace"
    lib=$(hideable_lib libcairo.so.2)
    [ -n "$lib" ] || { echo "  (skipped the missing-cairo case: needs root and unshare)" >&2; return; }
    rm -f "$TMP/cm.png"
    run_without "$lib" "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q --confusion "$TMP/cm.png"
    expect_rc 1
    expect_err_contains "cnn-infer: error: cannot load cairo to draw the picture ("
    expect_err_contains "install Debian's libcairo2"
    [ -e "$TMP/cm.png" ] && fail "a picture was written without cairo"
    run_without "$lib" "$BIN/cnn-infer" -w "$F/tiny.safetensors" "${SET[@]}" -q
    expect_rc 0
}

run_test test_cairo_is_loaded_only_to_draw
run_test test_confusion_draws_the_hand_counted_matrix
run_test test_confusion_misuse_and_bad_outputs
run_test test_plot_continues_across_resume
run_test test_plot_is_written_after_each_epoch
run_test test_plot_misuse_and_bad_outputs
run_test test_saliency_json_is_abs_weights
run_test test_gradcam_json_is_the_closed_form
run_test test_saliency_and_gradcam_pictures
run_test test_attribution_misuse
run_test test_start_image_is_the_first_start
finish
