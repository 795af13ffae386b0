#!/usr/bin/env bash
# CLI tests for the one vocabulary every cnn-* tool shares (issue 10 §4):
# -w/--weights and -m/--model, the old spellings with their deprecation notes,
# -V/-q/-h everywhere, - for the standard streams, -0, and cnn-summary on
# weights files and several models.
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
D=$ROOT/data/mnist

# A tiny model trained one epoch on the first 200 test digits.
W=$TMP/w.safetensors
M=$TMP/tiny.json
cp tests/train/tiny.json "$M"
{ printf '\x00\x00\x08\x03\x00\x00\x00\xc8\x00\x00\x00\x1c\x00\x00\x00\x1c'
  zcat $D-test-images-idx3-ubyte.gz | tail -c +17 | head -c $((200 * 784)); } >"$TMP/i.idx"
{ printf '\x00\x00\x08\x01\x00\x00\x00\xc8'
  zcat $D-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 200; } >"$TMP/l.idx"
"$BIN/cnn-train" "$M" --train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" --epochs 1 \
    --threads 1 -q -o "$W" >/dev/null 2>"$TMP/train.err" || echo "cnn-train failed: $(cat "$TMP/train.err")" >&2

expect_err_empty() { [ ! -s "$TMP/err" ] || fail "stderr not empty: $(head -c 300 "$TMP/err")"; }
expect_err_first() { [ "$(head -n 1 "$TMP/err")" = "$1" ] || fail "stderr's first line is \"$(head -n 1 "$TMP/err")\", expected \"$1\""; }
same_file() { cmp -s "$1" "$2" || fail "$2 differs from $1"; }

# ---- cnn-visualize: -w/--weights FILE, --kernels, -m/--model ---------------

test_visualize_weights_long_flag_is_the_weights_file() {
    run "$BIN/cnn-visualize" -w "$W" --kernels -o "$TMP/k-ref.png"
    expect_rc 0; expect_err_empty
    run "$BIN/cnn-visualize" --weights "$W" --kernels -o "$TMP/k1.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/k1.png"
    run "$BIN/cnn-visualize" --weights="$W" --kernels -o "$TMP/k2.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/k2.png"
    # A --weights FILE that does not exist is the weights file, reported missing.
    run "$BIN/cnn-visualize" --weights "$TMP/none.safetensors" --kernels -o "$TMP/k3.png"
    expect_rc 1
    expect_err_contains "none.safetensors"
    [ -e "$TMP/k3.png" ] && fail "a PNG was written for missing weights"
}

test_visualize_old_spellings_work_with_one_note() {
    local note_file="cnn-visualize: note: --weights-file is deprecated; use -w/--weights FILE"
    local note_kern="cnn-visualize: note: --weights as the kernel view is deprecated; use --kernels (--weights FILE names the weights file)"
    run "$BIN/cnn-visualize" -w "$W" --kernels -o "$TMP/k-ref.png"
    run "$BIN/cnn-visualize" --weights-file "$W" --kernels -o "$TMP/o1.png"
    expect_rc 0; expect_err_first "$note_file"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "more than one line on stderr: $(cat "$TMP/err")"
    same_file "$TMP/k-ref.png" "$TMP/o1.png"
    # bare --weights followed by an option
    run "$BIN/cnn-visualize" -w "$W" --weights -o "$TMP/o2.png"
    expect_rc 0; expect_err_first "$note_kern"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "more than one line on stderr: $(cat "$TMP/err")"
    same_file "$TMP/k-ref.png" "$TMP/o2.png"
    # bare --weights as the last word
    run "$BIN/cnn-visualize" -w "$W" -o "$TMP/o3.png" --weights
    expect_rc 0; expect_err_first "$note_kern"
    same_file "$TMP/k-ref.png" "$TMP/o3.png"
    # bare --weights followed by the old MODEL.json operand (a file, not safetensors)
    run "$BIN/cnn-visualize" -w "$W" --weights "$M" -o "$TMP/o4.png"
    expect_rc 0; expect_err_first "$note_kern"
    same_file "$TMP/k-ref.png" "$TMP/o4.png"
    # both old spellings at once: two notes; -q silences them
    run "$BIN/cnn-visualize" --weights-file "$W" --weights -o "$TMP/o5.png"
    expect_rc 0
    [ "$(wc -l <"$TMP/err")" = 2 ] || fail "expected two notes: $(cat "$TMP/err")"
    run "$BIN/cnn-visualize" -q --weights-file "$W" --weights -o "$TMP/o6.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/o6.png"
    # a value that happens to be "--weights" is not the flag: --layer's value here
    run "$BIN/cnn-visualize" -w "$W" --layer --weights --kernels -o "$TMP/o7.png"
    expect_rc 1
    expect_err_first 'cnn-visualize: error: the model has no layer "--weights" (its layers: conv2d, max_pooling2d, flatten, dropout, dense)'
}

test_visualize_model_flag() {
    run "$BIN/cnn-visualize" -w "$W" "$M" --kernels -o "$TMP/m-ref.png"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$W" -m "$M" --kernels -o "$TMP/m1.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/m-ref.png" "$TMP/m1.png"
    run "$BIN/cnn-visualize" -w "$W" --model "$M" --kernels -o "$TMP/m2.png"
    expect_rc 0
    same_file "$TMP/m-ref.png" "$TMP/m2.png"
    run "$BIN/cnn-visualize" -w "$W" -m "$M" "$M" --kernels -o "$TMP/m3.png"
    expect_rc 2
    expect_err_first "cnn-visualize: the model is given twice: -m $M and \"$M\""
    # a model that is not the weights' architecture
    sed 's/"filters": 4/"filters": 3/' "$M" >"$TMP/other.json"
    run "$BIN/cnn-visualize" -w "$W" -m "$TMP/other.json" --kernels -o "$TMP/m4.png"
    expect_rc 1
    [ -e "$TMP/m4.png" ] && fail "a PNG was written for a mismatched model"
}

test_visualize_help_names_the_new_flags() {
    run "$BIN/cnn-visualize" --help
    expect_rc 0
    expect_out_contains "-w, --weights FILE"
    expect_out_contains "-m, --model FILE"
    expect_out_contains "--kernels"
    expect_out_contains "--threads N          threads for the math (default: all cores"
    grep -q -- '--weights-file FILE  ' "$TMP/out" && fail "--help still lists --weights-file as a flag"
}

# ---- cnn-train: -m/--model ---------------------------------------------------

test_train_model_flag() {
    local args=(--train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" --epochs 1 --threads 1 -q)
    run "$BIN/cnn-train" "$M" "${args[@]}" -o "$TMP/t0.st"
    expect_rc 0
    run "$BIN/cnn-train" -m "$M" "${args[@]}" -o "$TMP/t1.st"
    expect_rc 0; expect_err_empty
    same_file "$TMP/t0.st" "$TMP/t1.st"
    run "$BIN/cnn-train" --model "$M" "${args[@]}" -o "$TMP/t2.st"
    expect_rc 0
    same_file "$TMP/t0.st" "$TMP/t2.st"
    run "$BIN/cnn-train" -m "$M" "$M" "${args[@]}" -o "$TMP/t3.st"
    expect_rc 2
    expect_err_first "cnn-train: the model is given twice: -m $M and \"$M\""
    [ -e "$TMP/t3.st" ] && fail "weights written on misuse"
}

run_test test_train_model_flag
run_test test_visualize_weights_long_flag_is_the_weights_file
run_test test_visualize_old_spellings_work_with_one_note
run_test test_visualize_model_flag
run_test test_visualize_help_names_the_new_flags
finish
