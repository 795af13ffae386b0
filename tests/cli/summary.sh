# CLI tests for cnn-summary: golden output for the lecture's model in every
# layout, the three Keras exports, the additions, options and exit codes, every
# bad model file in tests/models/bad (expectations in tests/models/bad/EXPECT),
# and the examples of man/cnn-summary.1.
. "$(dirname "$0")/lib.sh"
S="$BIN/cnn-summary"
M=tests/models

keras3_layout_is_golden() {
    run "$S" models/lee-mnist.json
    expect_rc 0; expect_out_equals_file $M/lee-mnist.keras3.txt
}

keras2_layout_is_golden() {
    run "$S" --keras2 models/lee-mnist.json
    expect_rc 0; expect_out_equals_file $M/lee-mnist.keras2.txt
}

json_is_golden() {
    run "$S" --json models/lee-mnist.json
    expect_rc 0; expect_out_equals_file $M/lee-mnist.summary.json
}

tf_keras2_and_keras3_exports_give_the_same_summary() {
    for f in $M/lee-mnist.tfkeras2.json $M/lee-mnist.keras3.json; do
        run "$S" "$f"; expect_rc 0; expect_out_equals_file $M/lee-mnist.keras3.txt
        run "$S" --keras2 "$f"; expect_rc 0; expect_out_equals_file $M/lee-mnist.keras2.txt
        run "$S" --json "$f"; expect_rc 0; expect_out_equals_file $M/lee-mnist.summary.json
    done
}

# Keras 2.2 names layers from 1 (conv2d_1, ..., dense_2) and its list form has
# no model name: the same table once the name column and title are set aside.
keras22_export_gives_the_same_table() {
    run "$S" $M/lee-mnist.keras22.json
    expect_rc 0
    expect_out_contains 'Model: "sequential"'
    expect_out_contains '│ conv2d_1 (Conv2D)               │ (None, 26, 26, 25)     │           250 │'
    expect_out_contains '│ dense_2 (Dense)                 │ (None, 10)             │         1,010 │'
    sed -e '1d' -e 's/^│[^│]*│/││/' "$TMP/out" >"$TMP/a"
    sed -e '1d' -e 's/^│[^│]*│/││/' $M/lee-mnist.keras3.txt >"$TMP/b"
    cmp -s "$TMP/a" "$TMP/b" || fail "Keras 2.2 table differs: $(diff "$TMP/b" "$TMP/a" | head -n 10)"
}

# fashion-bn: BatchNormalization has 4*C parameters of which 2*C are not
# trainable: 2*32 + 2*64 + 2*128 = 448 non-trainable, 1,792 bytes; the total
# 288 + 18,432 + 204,800 + 1,290 + 4*(32+64+128) = 225,706 floats = 902,824 bytes.
batchnorm_counts_and_wraps_like_keras3() {
    run "$S" models/fashion-bn.json
    expect_rc 0
    expect_out_contains '│ batch_normalization             │ (None, 26, 26, 32)     │           128 │'
    expect_out_contains '│ (BatchNormalization)            │                        │               │'
    expect_out_contains ' Total params: 225,706 (881.66 KB)'
    expect_out_contains ' Trainable params: 225,258 (879.91 KB)'
    expect_out_contains ' Non-trainable params: 448 (1.75 KB)'
}

# UpSampling2D, against tables written by hand from Keras' layout rules:
# conv2d 3*3*2*4 + 4 = 76; (7, 7) upsampled by [3, 2] = (21, 14), then by 2 =
# (42, 28); conv2d_1 4 + 1 = 5; dense 42*28*1*3 + 3 = 3,531; total 3,612 floats
# = 14,448 bytes = 14.11 KB.  Keras 2 cuts the first column at 27 characters.
upsampling2d_summary_is_golden() {
    run "$S" $M/upsampling.json
    expect_rc 0; expect_out_equals_file $M/upsampling.keras3.txt
    run "$S" --keras2 $M/upsampling.json
    expect_rc 0; expect_out_equals_file $M/upsampling.keras2.txt
}

keras2_layout_wraps_long_names() {
    run "$S" --keras2 models/fashion-bn.json
    expect_rc 0
    expect_out_contains ' batch_normalization (BatchN  (None, 26, 26, 32)       128       '
    expect_out_contains ' ormalization)                                                   '
    expect_out_contains 'Non-trainable params: 448'
}

# MACs per image: conv2d 26*26*25*3*3*1 = 152,100; conv2d_1 11*11*50*3*3*25 =
# 1,361,250; dense 1250*100 = 125,000; dense_1 100*10 = 1,000.
flops_lists_macs_per_layer() {
    run "$S" --flops models/lee-mnist.json
    expect_rc 0
    expect_out_contains ' conv2d (Conv2D)                        152,100'
    expect_out_contains ' conv2d_1 (Conv2D)                    1,361,250'
    expect_out_contains ' Total MACs per image: 1,639,350'
    # FLOPs = 2 x MACs: 2 * 152,100 and 2 * 1,639,350
    expect_out_contains ' conv2d (Conv2D)                        152,100          304,200'
    expect_out_contains ' Total FLOPs per image: 3,278,700'
    expect_out_contains 'FLOPs = 2 x MACs'
    run "$S" --json --flops models/lee-mnist.json
    expect_out_contains '"macs":152100,"flops":304200'
    expect_out_contains '"macs":1639350,"flops":3278700}}'
}

# Dense from 28*28*1 = 784 inputs to 26*26*25 = 16,900 outputs:
# 784*16900 + 16900 = 13,266,500 parameters against the convolution's 250.
compare_dense_shows_the_saving() {
    run "$S" --compare-dense models/lee-mnist.json
    expect_rc 0
    expect_out_contains ' conv2d (Conv2D)            250    13,266,500   53,066.0x'
    expect_out_contains ' conv2d_1 (Conv2D)       11,300    25,567,300    2,262.6x'
    run "$S" --compare-dense --keras2 models/lee-mnist.json
    expect_rc 0; expect_out_contains '53,066.0x'
}

help_and_version() {
    run "$S" --help
    expect_rc 0; expect_out_contains 'usage: cnn-summary'; expect_out_contains '--compare-dense'
    run "$S" --version
    expect_rc 0
    local v; v=$(sed -n 's/^#define CNN_VERSION "\([^"]*\)".*/\1/p' include/cnn/version.h)
    [ -n "$v" ] || fail "no CNN_VERSION in include/cnn/version.h"
    expect_out_contains "cnn-summary $v"
}

misuse_exits_2_with_usage() {
    run "$S"
    expect_rc 2; expect_out_empty; expect_err_contains 'usage: cnn-summary'
    run "$S" --bogus models/lee-mnist.json
    expect_rc 2; expect_out_empty; expect_err_contains "unknown option '--bogus'"
    run "$S" --keras2 --json models/lee-mnist.json
    expect_rc 2; expect_out_empty; expect_err_contains 'cannot be combined'
    run "$S" - models/lee-mnist.json -
    expect_rc 2; expect_out_empty; expect_err_contains '- (standard input) can be given only once'
}

missing_file_is_a_runtime_error() {
    run "$S" "$TMP/no-such.json"
    expect_rc 1; expect_out_empty; expect_err_contains "cnn-summary: error: $TMP/no-such.json"
}

every_bad_model_fails_with_its_message() {
    local n=0 line file status words
    while IFS= read -r line; do
        case $line in '#'*|'') continue ;; esac
        file=${line%%|*}; line=${line#*|}; status=${line%%|*}; words=${line#*|}
        for layout in "" --keras2 --json; do
            run "$S" $layout "$M/bad/$file"
            expect_rc "$status"; expect_out_empty
            expect_err_contains "cnn-summary: error: $M/bad/$file: "
            expect_err_contains "$words"
        done
        n=$((n + 1))
    done <$M/bad/EXPECT
    [ "$n" -ge 15 ] || fail "only $n bad model files"
    for f in $M/bad/*.json; do
        grep -q "^$(basename "$f")|" $M/bad/EXPECT || fail "$f has no line in EXPECT"
    done
}

man_page_examples_run() {
    local n=0 cmd
    while IFS= read -r cmd; do
        n=$((n + 1))
        (PATH="$BIN:$PATH"; eval "$cmd") >"$TMP/out" 2>"$TMP/err" || fail "example failed: $cmd: $(head -c 300 "$TMP/err")"
        [ -s "$TMP/out" ] || fail "example printed nothing: $cmd"
    done < <(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' man/cnn-summary.1 | grep '^cnn-summary ' | sed 's/\\-/-/g')
    [ "$n" -ge 3 ] || fail "only $n examples found in man/cnn-summary.1"
}

run_test keras3_layout_is_golden
run_test keras2_layout_is_golden
run_test json_is_golden
run_test tf_keras2_and_keras3_exports_give_the_same_summary
run_test keras22_export_gives_the_same_table
run_test batchnorm_counts_and_wraps_like_keras3
run_test upsampling2d_summary_is_golden
run_test keras2_layout_wraps_long_names
run_test flops_lists_macs_per_layer
run_test compare_dense_shows_the_saving
run_test help_and_version
run_test misuse_exits_2_with_usage
run_test missing_file_is_a_runtime_error
run_test every_bad_model_fails_with_its_message
run_test man_page_examples_run
finish
