#!/usr/bin/env bash
# CLI tests for cnn-visualize: the man page's examples on a quickly trained
# lecture model, byte-identical output for the same flags and seed, picture
# sizes, and misuse.
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
D=$ROOT/data/mnist
W=$TMP/w.safetensors
# Few steps keep the suite fast (and the sanitizer build bearable); the
# pictures' quality is not what these tests check.
FAST=(--steps 15 --threads 1)

# Width and height of a PNG from its IHDR chunk.
png_size() { od -An -t u1 -j 16 -N 8 "$1" | awk '{ printf "%d %d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }

train_once() {
    [ -s "$W" ] && return 0
    "$BIN/cnn-train" models/lee-mnist.json --train-images $D-train-images-idx3-ubyte.gz \
        --train-labels $D-train-labels-idx1-ubyte.gz --epochs 1 --threads 1 -q -o "$W" \
        >"$TMP/train.out" 2>"$TMP/train.err" || fail "cnn-train failed: $(tail -n 3 "$TMP/train.err")"
}

test_help_version_and_misuse() {
    run "$BIN/cnn-visualize" --help
    expect_rc 0
    expect_out_contains "--feature-maps"
    run "$BIN/cnn-visualize" --version
    expect_rc 0
    expect_out_contains "cnn-visualize 0.1.0"
    run "$BIN/cnn-visualize" --layer conv2d -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "-w WEIGHTS.safetensors is required"
    run "$BIN/cnn-visualize" -w "$W" -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "--layer NAME is required"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d
    expect_rc 2
    expect_err_contains "-o FILE.png or --each DIR"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --steps many -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "--steps: expected an integer"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --optimizer sgd -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "expected one of: normalized adam"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --range 1,0 -o "$TMP/x.png"
    expect_rc 2
    run "$BIN/cnn-visualize" -w "$W" --bogus
    expect_rc 2
    [ -e "$TMP/x.png" ] && fail "a PNG was written on misuse"
}

test_bad_layer_units_and_files() {
    train_once
    run "$BIN/cnn-visualize" -w "$W" --layer conv9 -o "$TMP/x.png"
    expect_rc 1
    expect_err_contains 'cnn-visualize: error: the model has no layer "conv9" (its layers: conv2d, max_pooling2d, conv2d_1'
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --units 0-25 -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "--units: 25 is out of range: layer conv2d has units 0 to 24"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --units 3-1 -o "$TMP/x.png"
    expect_rc 2
    expect_err_contains "expected a list like 0-11,17"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --units 1,,2 -o "$TMP/x.png"
    expect_rc 2
    run "$BIN/cnn-visualize" -w "$TMP/missing.safetensors" --layer conv2d -o "$TMP/x.png"
    expect_rc 1
    expect_err_contains "missing.safetensors"
    run "$BIN/cnn-visualize" -w "$W" --layer dense --feature-maps "$TMP/none.png" -o "$TMP/x.png"
    expect_rc 1
    expect_err_contains "is flat; feature maps need a spatial layer"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d_1 --kernels -o "$TMP/x.png"
    expect_rc 1
    expect_err_contains "only a Conv2D layer fed by 1 or 3 channels"
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer conv2d -o "$TMP/no/such/dir/x.png"
    expect_rc 1
    expect_err_contains "cnn-visualize: error:"
    [ -e "$TMP/x.png" ] && fail "a PNG was written after an error"
}

# -m - and the MODEL operand - (issue 10): the model description from standard
# input draws the PNG -m FILE draws; a model that disagrees is refused with
# nothing written; stdin is read once (-w - with -m - is misuse).
test_model_on_stdin() {
    train_once
    local M=models/lee-mnist.json
    run "$BIN/cnn-visualize" -w "$W" -m $M --kernels -o "$TMP/m-ref.png"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$W" -m - --kernels -o "$TMP/m1.png" <$M
    expect_rc 0
    cmp -s "$TMP/m-ref.png" "$TMP/m1.png" || fail "-m - drew another kernel picture"
    cat $M | "$BIN/cnn-visualize" -w "$W" - "${FAST[@]}" --layer dense_1 --units 0-2 -o "$TMP/m2.png" \
        >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$W" $M "${FAST[@]}" --layer dense_1 --units 0-2 -o "$TMP/m2-ref.png"
    cmp -s "$TMP/m2-ref.png" "$TMP/m2.png" || fail "the operand - drew another ascent picture"
    run "$BIN/cnn-visualize" -w "$W" -m - --kernels -o "$TMP/m3.png" <tests/train/tiny.json
    expect_rc 1
    expect_err_contains "cnn-visualize: error: <stdin> and $W describe different models"
    [ -e "$TMP/m3.png" ] && fail "a PNG was written for a model that disagrees"
    run "$BIN/cnn-visualize" -w - -m - --kernels -o "$TMP/m3.png" <"$W"
    expect_rc 2
    [ "$(head -n 1 "$TMP/err")" = "cnn-visualize: -w - and -m - would both read standard input; give one of them a file" ] ||
        fail "stderr: $(head -n 1 "$TMP/err")"
    run "$BIN/cnn-visualize" -w - - --kernels -o "$TMP/m3.png" <"$W"
    expect_rc 2
    expect_err_contains "-w - and MODEL - would both read standard input"
    [ -e "$TMP/m3.png" ] && fail "a PNG was written on misuse"
}

test_same_flags_and_seed_give_identical_png() {
    train_once
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --l1 0.05 -o "$TMP/a.png"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --l1 0.05 -o "$TMP/b.png"
    expect_rc 0
    cmp -s "$TMP/a.png" "$TMP/b.png" || fail "same flags and seed gave different PNGs"
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --l1 0.05 --seed 2 -o "$TMP/c.png"
    expect_rc 0
    cmp -s "$TMP/a.png" "$TMP/c.png" && fail "another seed gave the same PNG"
    ls "$TMP" | grep -q '\.tmp' && fail "temporary files left behind: $(ls "$TMP")"
}

test_grid_sizes_follow_ceil_sqrt_and_scale() {
    train_once
    # A cell is a 14-pixel label strip over the tile; cells are framed, so the
    # gap between them is --margin + 2; a 20-pixel title strip sits on top.
    # 10 classes of 28x28: 4 columns, 3 rows, tiles 84 pixels, margin 2:
    # 4*84 + 5*4 = 356 wide, 20 + 3*(84+14) + 4*4 = 330 high
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 -o "$TMP/g.png"
    expect_rc 0
    [ "$(png_size "$TMP/g.png")" = "356 330" ] || fail "10-tile grid is $(png_size "$TMP/g.png")"
    # --cols 5: 5*84 + 6*4 = 444 wide, 20 + 2*98 + 3*4 = 228 high
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --cols 5 -o "$TMP/g5.png"
    expect_rc 0
    [ "$(png_size "$TMP/g5.png")" = "444 228" ] || fail "--cols 5 grid is $(png_size "$TMP/g5.png")"
    # 25 first-layer 3x3 kernels: 5 x 5 tiles of 96 pixels and a 70-pixel colour bar:
    # 5*96 + 6*4 + 70 = 574, 20 + 5*110 + 6*4 = 594; --kernels is --weights' new name
    for flag in --weights --kernels; do
        run "$BIN/cnn-visualize" -w "$W" $flag -o "$TMP/k.png"
        expect_rc 0
        [ "$(png_size "$TMP/k.png")" = "574 594" ] || fail "$flag grid is $(png_size "$TMP/k.png")"
    done
    # 3 tiles at scale 1, margin 0: 2 columns, 2*28 + 3*2 = 62, 20 + 2*42 + 3*2 = 110
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer conv2d_1 --units 0-2 --scale 1 --margin 0 -o "$TMP/s.png"
    expect_rc 0
    [ "$(png_size "$TMP/s.png")" = "62 110" ] || fail "3 tiles at scale 1: $(png_size "$TMP/s.png")"
}

test_json_lines_and_each() {
    train_once
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer conv2d_1 --units 4,1-2 --json --each "$TMP/each"
    expect_rc 0
    [ "$(wc -l <"$TMP/out")" = 3 ] || fail "expected 3 JSON lines: $(cat "$TMP/out")"
    head -n 1 "$TMP/out" | grep -Eq '^\{"layer": "conv2d_1", "unit": 4, "value": [-0-9.e]+, "dead": (true|false)\}$' ||
        fail "JSON line: $(head -n 1 "$TMP/out")"
    # conv2d_1 has 50 filters, 0 to 49: UNIT takes two digits, whichever units are drawn
    for u in 01 02 04; do [ -s "$TMP/each/conv2d_1-$u.png" ] || fail "no $TMP/each/conv2d_1-$u.png"; done
    [ "$(ls "$TMP/each" | tr '\n' ' ')" = "conv2d_1-01.png conv2d_1-02.png conv2d_1-04.png " ] ||
        fail "--each wrote $(ls "$TMP/each" | tr '\n' ' ')"
    [ "$(png_size "$TMP/each/conv2d_1-04.png")" = "84 84" ] || fail "--each tile is $(png_size "$TMP/each/conv2d_1-04.png")"
    # --sort orders the lines by value, largest first
    run "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --sort --json -o "$TMP/sorted.png"
    expect_rc 0
    grep -o '"value": [-0-9.e]*' "$TMP/out" | cut -d' ' -f2 >"$TMP/values"
    sort -g -r "$TMP/values" | cmp -s - "$TMP/values" || fail "--sort --json not descending: $(tr '\n' ' ' <"$TMP/values")"
}

test_man_page_examples_run() {
    train_once
    local d=$TMP/man
    mkdir -p "$d" && cp "$W" "$d/w.safetensors"
    # a 28x28 digit-like image for --feature-maps: the class-3 maximizer itself
    "$BIN/cnn-visualize" -w "$W" "${FAST[@]}" --layer dense_1 --units 3 --scale 1 --each "$d/tmp" -q &&
        cp "$d/tmp/dense_1-3.png" "$d/digit.png" || fail "could not make digit.png"
    sed -n '/^\.SH EXAMPLES/,/^\.SH /p' man/cnn-visualize.1 | sed -n '/^\.EX/,/^\.EE/p' |
        grep '^cnn-visualize ' | sed 's/\\-/-/g' >"$TMP/examples"
    local n=0 cmd
    while IFS= read -r cmd; do
        n=$((n + 1))
        (cd "$d" && PATH="$BIN:$PATH" bash -c "$cmd --steps 15 -q") >"$TMP/out" 2>"$TMP/err"
        rc=$?
        expect_rc 0
    done <"$TMP/examples"
    [ "$n" -ge 6 ] || fail "only $n examples found in man/cnn-visualize.1"
    for f in filters.png digits.png top.png first-layer.png maps.png neurons/dense-00.png \
             saliency.png gradcam.png seen.png; do
        [ -s "$d/$f" ] || fail "example output $f missing"
    done
}

# An RGB model (8x8x3 input) gives RGB PNGs: colour type 2 in the IHDR (byte 26).
test_rgb_model_gives_rgb_pngs() {
    { printf '\x00\x00\x08\x04\x00\x00\x00\x40\x00\x00\x00\x08\x00\x00\x00\x08\x00\x00\x00\x03'
      head -c $((64 * 8 * 8 * 3)) /dev/urandom; } >"$TMP/rgb.idx"
    { printf '\x00\x00\x08\x01\x00\x00\x00\x40'; head -c 64 /dev/zero; } >"$TMP/rgb-labels.idx"
    echo '{"input_shape": [8, 8, 3], "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"}, {"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"}]}' >"$TMP/rgb.json"
    "$BIN/cnn-train" "$TMP/rgb.json" --train-images "$TMP/rgb.idx" --train-labels "$TMP/rgb-labels.idx" --epochs 1 -q -o "$TMP/rgb.safetensors" ||
        { fail "training the RGB model failed"; return; }
    for view in "--layer dense --steps 10" "--layer conv2d --kernels"; do
        run "$BIN/cnn-visualize" -w "$TMP/rgb.safetensors" $view -o "$TMP/rgb.png"
        expect_rc 0
        [ "$(od -An -t u1 -j 25 -N 1 "$TMP/rgb.png" | tr -d ' ')" = 2 ] || fail "$view: PNG colour type is not RGB (2)"
    done
}

run_test test_rgb_model_gives_rgb_pngs
run_test test_help_version_and_misuse
run_test test_bad_layer_units_and_files
run_test test_same_flags_and_seed_give_identical_png
run_test test_model_on_stdin
run_test test_grid_sizes_follow_ceil_sqrt_and_scale
run_test test_json_lines_and_each
run_test test_man_page_examples_run
finish
