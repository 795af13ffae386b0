# CLI tests for cnn-infer.  Fixtures (PNGs of every colour type and depth, bad
# PNGs, tiny models whose predictions are known in closed form, IDX files) are
# written by the test_infer program; expected probabilities are computed here
# with awk from the chosen weights, never read back from the tool.  Ends with
# the examples of man/cnn-infer.1, run against the lecture's model trained for
# one epoch on 500 of the embedded training digits.
. tests/cli/lib.sh
: "${BUILD:=build}"
BIN=$(cd "$BIN" && pwd); BUILD=$(cd "$BUILD" && pwd)   # the man examples run elsewhere
INFER=$BIN/cnn-infer
F=$TMP/fx
mkdir -p "$F"
"$BUILD/tests/test_infer" --write-fixtures "$F" || { echo "could not write fixtures"; echo "0 passed, 1 failed"; exit 1; }
W=$F/tiny.safetensors

# The tiny model: logits (x0, x1, x2 + x3 - 0.5) for a 2x2 image x, softmax.
# prob X0 X1 X2 X3 C: the closed-form probability of class C.
prob() {
    awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v k="$5" 'BEGIN {
        z[0] = a; z[1] = b; z[2] = c + d - 0.5; s = 0
        for (i = 0; i < 3; i++) s += exp(z[i]); printf "%.9f\n", exp(z[k]) / s }'
}
# near A B: |A - B| <= 1e-6
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6) }'; }

# Columns 3.. of two outputs agree to 1e-6, line by line (sources may differ).
same_probs() {
    paste "$1" "$2" | awk -F'\t' '{
        n = NF / 2
        for (i = 3; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (!(d <= 1e-6)) { print "line " NR ": " $i " vs " $(i + n); bad = 1 } }
    } END { if (NR == 0) { print "no lines"; bad = 1 } exit bad }'
}

test_help_version_and_misuse() {
    run "$INFER" --help; expect_rc 0; expect_out_contains "usage: cnn-infer"
    run "$INFER" --version; expect_rc 0; expect_out_contains "cnn-infer "
    run "$INFER" "$F/rec0.png"; expect_rc 2; expect_err_contains "-w WEIGHTS.safetensors is required"
    run "$INFER" -w "$W"; expect_rc 2; expect_err_contains "no input"
    run "$INFER" -w "$W" --labels "$F/tiny-labels.idx" "$F/rec0.png"; expect_rc 2; expect_err_contains "--labels needs --images"
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" "$F/rec0.png"; expect_rc 2; expect_err_contains "only one kind of input"
    run "$INFER" -w "$W" --png-stdin "$F/rec0.png"; expect_rc 2
    run "$INFER" -w "$W" - - </dev/null; expect_rc 2; expect_err_contains "only once"
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" --resize; expect_rc 2
    run "$INFER" -w "$W" --top 0 "$F/rec0.png"; expect_rc 2; expect_err_contains "--top"
    run "$INFER" -w "$W" --top 4 "$F/rec0.png"; expect_rc 2; expect_err_contains "only 3 classes"
    run "$INFER" -w "$W" --batch-size x "$F/rec0.png"; expect_rc 2
    run "$INFER" -w "$W" --no-such-flag "$F/rec0.png"; expect_rc 2
    expect_out_empty
}

test_one_png_gives_the_closed_form_probability() {
    run "$INFER" -w "$W" "$F/rec0.png"; expect_rc 0
    local want; want=$(prob 1 0 0 0 0)
    [ "$(cut -f1,2 "$TMP/out")" = "$F/rec0.png	0" ] || fail "line: $(cat "$TMP/out")"
    near "$(cut -f3 "$TMP/out")" "$want" || fail "probability $(cut -f3 "$TMP/out"), expected $want"
    [ "$(wc -l <"$TMP/out")" = 1 ] || fail "expected one line"
    # with the model JSON too, which agrees
    run "$INFER" -w "$W" "$F/tiny.json" "$F/rec3.png"; expect_rc 0
    want=$(prob 0 0 0.50196078 0.50196078 2)
    [ "$(cut -f2 "$TMP/out")" = 2 ] || fail "rec3: class $(cut -f2 "$TMP/out"), expected 2"
    near "$(cut -f3 "$TMP/out")" "$want" || fail "rec3: probability $(cut -f3 "$TMP/out"), expected $want"
}

test_same_image_as_png_idx_record_and_stdin_agrees() {
    local r
    run "$INFER" -w "$W" --probs "$F"/rec0.png "$F"/rec1.png "$F"/rec2.png "$F"/rec3.png; expect_rc 0
    cp "$TMP/out" "$TMP/files"
    run "$INFER" -w "$W" --probs --images "$F/tiny-images.idx"; expect_rc 0
    cut -f1 "$TMP/out" | tr '\n' ' ' | grep -qx '0 1 2 3 ' || fail "IDX sources: $(cut -f1 "$TMP/out")"
    same_probs "$TMP/files" "$TMP/out" || fail "PNG files and IDX records differ"
    printf '%s\n' "$F"/rec0.png "$F"/rec1.png "$F"/rec2.png "$F"/rec3.png >"$TMP/names"
    run "$INFER" -w "$W" --probs - <"$TMP/names"; expect_rc 0
    expect_out_equals_file "$TMP/files"
    : >"$TMP/stdin"
    for r in 0 1 2 3; do
        "$INFER" -w "$W" --probs --png-stdin <"$F/rec$r.png" >>"$TMP/stdin" || fail "--png-stdin rec$r"
    done
    grep -c '^-	' "$TMP/stdin" | grep -qx 4 || fail "--png-stdin source column: $(cat "$TMP/stdin")"
    same_probs "$TMP/files" "$TMP/stdin" || fail "PNG files and --png-stdin differ"
    # and each against the closed form
    near "$(sed -n 2p "$TMP/files" | cut -f3)" "$(prob 0 1 0 0 1)" || fail "rec1: $(sed -n 2p "$TMP/files")"
    near "$(sed -n 3p "$TMP/files" | cut -f6)" "$(prob 0 0 1 0 2)" || fail "rec2: $(sed -n 3p "$TMP/files")"
}

test_bad_inputs_are_named_on_stderr_and_skipped_in_order() {
    run "$INFER" -w "$W" "$F/rec2.png" "$F/corrupt.png" "$F/rec0.png" "$F/truncated.png" \
        "$F/notpng.png" "$F/missing.png" "$F/rec1.png"
    expect_rc 1
    [ "$(cut -f1,2 "$TMP/out" | tr '\n' ' ')" = "$F/rec2.png	2 $F/rec0.png	0 $F/rec1.png	1 " ] ||
        fail "stdout: $(cat "$TMP/out")"
    local b
    for b in corrupt truncated notpng missing; do
        grep -q "^cnn-infer: error: $F/$b.png: " "$TMP/err" || fail "no error line for $b.png"
    done
    [ "$(wc -l <"$TMP/err")" = 4 ] || fail "expected 4 error lines: $(cat "$TMP/err")"
    # the same through a list on stdin
    printf '%s\n' "$F/corrupt.png" "$F/rec1.png" >"$TMP/names"
    run "$INFER" -w "$W" - <"$TMP/names"; expect_rc 1
    expect_out_contains "$F/rec1.png	1"; expect_err_contains "corrupt.png"
    # a PNG on stdin that is not one
    run "$INFER" -w "$W" --png-stdin <"$F/truncated.png"; expect_rc 1; expect_out_empty; expect_err_contains "<stdin>"
}

test_wrong_size_with_and_without_resize() {
    run "$INFER" -w "$W" "$F/wide.png"; expect_rc 1; expect_out_empty
    expect_err_contains "wide.png: the image is 3x2 but the model takes 2x2"
    run "$INFER" -w "$W" "$F/big.png"; expect_rc 1; expect_err_contains "4x4 but the model takes 2x2"
    # 4x4 with each pixel of rec0 as a 2x2 block: bilinear halving gives rec0 back
    run "$INFER" -w "$W" --resize "$F/big.png"; expect_rc 0
    near "$(cut -f3 "$TMP/out")" "$(prob 1 0 0 0 0)" || fail "resized: $(cat "$TMP/out")"
}

test_invert_reads_dark_on_light() {
    run "$INFER" -w "$W" "$F/dark.png"; expect_rc 0
    near "$(cut -f3 "$TMP/out")" "$(prob 0 1 1 1 2)" || fail "dark: $(cat "$TMP/out")"
    run "$INFER" -w "$W" --invert "$F/dark.png"; expect_rc 0
    near "$(cut -f3 "$TMP/out")" "$(prob 1 0 0 0 0)" || fail "inverted: $(cat "$TMP/out")"
}

test_every_colour_type_and_depth_is_read() {
    local files=("$F"/gray*.png "$F"/rgb*.png "$F"/pal*.png)
    [ ${#files[@]} = 16 ] || fail "expected 16 fixtures, found ${#files[@]}"
    run "$INFER" -w "$W" "${files[@]}"; expect_rc 0
    [ "$(wc -l <"$TMP/out")" = 16 ] || fail "expected 16 lines: $(cat "$TMP/err")"
    # gray16: (1, 0.2, 0.50000763, 0.0000153) exactly from the samples
    near "$(grep '/gray16.png' "$TMP/out" | cut -f3)" "$(prob 1 0.2 0.500007629 0.0000152590 0)" ||
        fail "gray16: $(grep gray16 "$TMP/out")"
    # an RGB model takes every one too (gray replicated)
    run "$INFER" -w "$F/tiny-rgb.safetensors" "${files[@]}"; expect_rc 0
    [ "$(wc -l <"$TMP/out")" = 16 ] || fail "rgb model: $(cat "$TMP/err")"
}

test_weights_of_another_model_and_disagreeing_json_are_refused() {
    run "$INFER" -w "$F/other.safetensors" "$F/tiny.json" "$F/rec0.png"; expect_rc 1; expect_out_empty
    expect_err_contains "describe different models"
    run "$INFER" -w "$F/bare.safetensors" -m "$F/tiny.json" "$F/rec0.png"; expect_rc 1
    expect_err_contains "dense.kernel has shape (4, 4) but the model needs (3, 4)"
    run "$INFER" -w "$F/bare.safetensors" "$F/rec0.png"; expect_rc 1
    expect_err_contains "holds no model description"
    run "$INFER" -w "$F/missing.safetensors" "$F/rec0.png"; expect_rc 1; expect_err_contains "missing.safetensors"
    # the other model on its own is fine (4 classes)
    run "$INFER" -w "$F/other.safetensors" --top 4 "$F/rec0.png"; expect_rc 0
}

# -m - (issue 10): the model description from standard input, redirected from
# the file or through a pipe, gives the probabilities -m FILE gives; it must
# agree with the weights as the file must; stdin is read once per command.
test_model_on_stdin() {
    local recs=("$F/rec0.png" "$F/rec1.png" "$F/rec2.png" "$F/rec3.png")
    run "$INFER" -w "$W" -m "$F/tiny.json" --probs "${recs[@]}"; expect_rc 0
    cp "$TMP/out" "$TMP/model-ref.tsv"
    [ "$(wc -l <"$TMP/model-ref.tsv")" = 4 ] || fail "-m FILE: $(cat "$TMP/err")"
    run "$INFER" -w "$W" -m - --probs "${recs[@]}" <"$F/tiny.json"; expect_rc 0
    expect_out_equals_file "$TMP/model-ref.tsv"
    cat "$F/tiny.json" | "$INFER" -w "$W" --model - --probs "${recs[@]}" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/model-ref.tsv"
    [ -s "$TMP/err" ] && fail "stderr: $(cat "$TMP/err")"
    # a model that disagrees, weights without a model, a model that is no JSON
    run "$INFER" -w "$F/other.safetensors" -m - "$F/rec0.png" <"$F/tiny.json"; expect_rc 1; expect_out_empty
    expect_err_contains "cnn-infer: error: <stdin> and $F/other.safetensors describe different models"
    run "$INFER" -w "$F/bare.safetensors" -m - "$F/rec0.png" <"$F/tiny.json"; expect_rc 1
    expect_err_contains "dense.kernel has shape (4, 4) but the model needs (3, 4)"
    printf '{"name": ' >"$TMP/cut.json"
    run "$INFER" -w "$W" -m - "$F/rec0.png" <"$TMP/cut.json"; expect_rc 1; expect_out_empty
    case $(head -n 1 "$TMP/err") in "cnn-infer: error: <stdin>: "?*) ;; *) fail "message: $(cat "$TMP/err")" ;; esac
    # standard input is read once: each pair is refused, naming both
    local pair
    for pair in "-w -|-w - -m - $F/rec0.png|-w - and -m -" \
                "-w $W|-w $W -m - -|-m - and - (file names)" \
                "-w $W|-w $W -m - --png-stdin|-m - and --png-stdin"; do
        IFS='|' read -r _ args names <<<"$pair"
        # shellcheck disable=SC2086
        run "$INFER" $args <"$F/tiny.json"; expect_rc 2; expect_out_empty
        [ "$(head -n 1 "$TMP/err")" = "cnn-infer: $names would both read standard input; give one of them a file" ] ||
            fail "$args: $(head -n 1 "$TMP/err")"
    done
}

test_top_probs_json_and_class_names() {
    run "$INFER" -w "$W" --top 2 --class-names "$F/classes.txt" "$F/rec0.png"; expect_rc 0
    [ "$(cut -f2,4 "$TMP/out")" = "zero	one" ] || fail "top 2 names: $(cat "$TMP/out")"
    near "$(cut -f5 "$TMP/out")" "$(prob 1 0 0 0 1)" || fail "second probability: $(cat "$TMP/out")"
    run "$INFER" -w "$W" --top 3 --probs "$F/rec0.png"; expect_rc 0
    [ "$(awk -F'\t' '{print NF}' "$TMP/out")" = 10 ] || fail "expected 1 + 6 + 3 columns: $(cat "$TMP/out")"
    [ "$(cut -f2,4,6 "$TMP/out")" = "0	1	2" ] || fail "top 3 order: $(cat "$TMP/out")"
    run "$INFER" -w "$W" --json --top 2 --probs --class-names "$F/classes.txt" "$F/rec1.png"; expect_rc 0
    expect_out_contains "{\"source\": \"$F/rec1.png\", \"class\": \"one\", \"prob\": "
    expect_out_contains "\"top\": [{\"class\": \"one\", "
    expect_out_contains "\"probs\": ["
    run "$INFER" -w "$W" --json --images "$F/tiny-images.idx"; expect_rc 0
    [ "$(grep -c '^{"source": [0-3], "class": [0-2], "prob": [0-9.e-]*}$' "$TMP/out")" = 4 ] || fail "JSON lines: $(cat "$TMP/out")"
    printf 'a\nb\n' >"$TMP/two.txt"
    run "$INFER" -w "$W" --class-names "$TMP/two.txt" "$F/rec0.png"; expect_rc 1
    expect_err_contains "2 class names for a model with 3 classes"
}

# Records predict 0, 1, 2, 2; labels 0, 1, 2, 0: 3 of 4 correct.
# Wilson, k = 3, n = 4, z = 1.959964: z^2/n = 0.9603647, centre =
# (0.75 + 0.4801824) / 1.9603647 = 0.6275413, half = (1.959964 / 1.9603647) *
# sqrt(0.046875 + 0.0600456) = 0.9998 * 0.3269871 = 0.3268714: [0.3006418, 0.9544127].
# Precision: 1/1, 1/1, 1/2; recall: 1/2, 1/1, 1/1.
test_evaluation_on_a_hand_checked_set() {
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" --labels "$F/tiny-labels.idx"; expect_rc 0
    expect_out_empty
    expect_err_contains "accuracy 0.7500 (3 of 4), 95% CI [0.3006, 0.9544] (Wilson score)"
    expect_err_contains "2         0.5000  1.0000  0.6667        1          2"
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" --labels "$F/tiny-labels.idx" --json -q; expect_rc 0
    [ ! -s "$TMP/err" ] || fail "-q: stderr not empty: $(cat "$TMP/err")"
    [ "$(wc -l <"$TMP/out")" = 1 ] || fail "expected one JSON object"
    expect_out_contains '{"images": 4, "correct": 3, "accuracy": 0.750000, "accuracy_ci95": {"method": "wilson", "low": 0.300642, "high": 0.954413}'
    expect_out_contains '{"class": 0, "precision": 1.000000, "recall": 0.500000, "f1": 0.666667, "support": 2, "predicted": 1}'
    expect_out_contains '"confusion": [[1, 0, 1], [0, 1, 0], [0, 0, 1]]}'
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" --labels "$F/tiny-labels.idx" --predictions -q; expect_rc 0
    [ "$(cut -f1,2,4 "$TMP/out" | tr '\n' ' ')" = "0	0	0 1	1	1 2	2	2 3	2	0 " ] || fail "predictions: $(cat "$TMP/out")"
    # labels that do not fit the model
    printf '\0\0\x08\x01\0\0\0\x04\0\1\2\7' >"$TMP/bad-labels.idx"
    run "$INFER" -w "$W" --images "$F/tiny-images.idx" --labels "$TMP/bad-labels.idx"; expect_rc 1
    expect_err_contains "label 7 at index 3 is out of range"
}

# A slow producer: the result for a name is printed before stdin ends.
test_names_on_stdin_are_answered_as_they_come() {
    mkfifo "$TMP/fifo"
    "$INFER" -w "$W" - <"$TMP/fifo" >"$TMP/stream" 2>&1 &
    local pid=$! i
    exec 3>"$TMP/fifo"
    echo "$F/rec1.png" >&3
    # up to 30 s for the first answer (Valgrind at load 10 took more than 5)
    for i in $(seq 300); do [ -s "$TMP/stream" ] && break; sleep 0.1; done
    grep -q "rec1.png	1" "$TMP/stream" || fail "no answer while stdin is still open: $(cat "$TMP/stream")"
    echo "$F/rec2.png" >&3
    exec 3>&-
    wait $pid || fail "exit status $?"
    [ "$(cut -f2 "$TMP/stream" | tr '\n' ' ')" = "1 2 " ] || fail "stream: $(cat "$TMP/stream")"
}

test_man_page_examples_run() {
    local d=$TMP/man
    mkdir -p "$d/digits"
    ln -s "$PWD/data" "$d/data"; ln -s "$PWD/models" "$d/models"
    "$BUILD/tests/test_infer" --write-subset data/mnist-train-images-idx3-ubyte.gz \
        data/mnist-train-labels-idx1-ubyte.gz 500 "$TMP" || { fail "could not write the subset"; return; }
    "$BIN/cnn-train" models/lee-mnist.json --train-images "$TMP/sub-images.idx" \
        --train-labels "$TMP/sub-labels.idx" --epochs 1 -q \
        -o "$d/lee.safetensors" >/dev/null 2>"$TMP/err" || { fail "cnn-train: $(cat "$TMP/err")"; return; }
    "$BUILD/tests/test_infer" --write-digits data/mnist-test-images-idx3-ubyte.gz 10 "$d/digits" &&
        cp "$d/digits/digit-0.png" "$d/" &&
        "$BUILD/tests/test_infer" --write-drawing data/mnist-test-images-idx3-ubyte.gz "$d/drawing.png" ||
        { fail "could not write the digits"; return; }
    # PNG files and IDX records of the lecture model agree too
    (cd "$d" && "$INFER" -w lee.safetensors --probs digits/digit-{0,1,2,3,4,5,6,7,8,9}.png) >"$TMP/png" || fail "digits"
    # (the first 10 records as their own file, not `| head -n 10`: a tool killed
    # by SIGPIPE runs no exit handlers, which Valgrind reports as possibly lost)
    "$BUILD/tests/test_infer" --write-subset data/mnist-test-images-idx3-ubyte.gz \
        data/mnist-test-labels-idx1-ubyte.gz 10 "$d" || { fail "could not write the first 10"; return; }
    (cd "$d" && "$INFER" -w lee.safetensors --probs --images sub-images.idx) >"$TMP/idx"
    same_probs "$TMP/png" "$TMP/idx" || fail "lecture model: PNG and IDX differ"
    # the examples, between .EX and .EE in EXAMPLES
    sed -n '/^\.SH EXAMPLES/,/^\.SH /p' man/cnn-infer.1 | sed -n '/^\.EX/,/^\.EE/p' | grep -v '^\.E[XE]' |
        sed 's/\\-/-/g; s/\\e/\\/g' >"$TMP/examples"
    local n=0 cmd
    while IFS= read -r cmd; do
        n=$((n + 1))
        if [[ $cmd == *"| jq "* ]] && ! command -v jq >/dev/null; then
            echo "  (jq not installed: example $n runs without its jq stage)" >&2
            cmd=${cmd%%| jq *}
        fi
        (cd "$d" && PATH="$BIN:$PATH" bash -o pipefail -c "$cmd") >"$TMP/out" 2>"$TMP/err"
        rc=$?
        expect_rc 0
        [ -s "$TMP/out" ] || [ -s "$TMP/err" ] || fail "example $n printed nothing: $cmd"
    done <"$TMP/examples"
    [ "$n" -ge 6 ] || fail "only $n examples found in man/cnn-infer.1"
}

# libcnn's threads each call OpenBLAS at once: two threads must give the
# one-thread answers, byte for byte, run after run (Debian's serial OpenBLAS,
# linked for a while, was not safe so: a few of 10,000 answers changed).
test_threads_give_the_same_answers() {
    "$BUILD/tests/test_infer" --write-subset data/mnist-train-images-idx3-ubyte.gz \
        data/mnist-train-labels-idx1-ubyte.gz 500 "$TMP" || { fail "could not write the subset"; return; }
    "$BIN/cnn-train" models/lee-mnist.json --train-images "$TMP/sub-images.idx" \
        --train-labels "$TMP/sub-labels.idx" --epochs 1 -q \
        -o "$TMP/lee.safetensors" >/dev/null 2>"$TMP/err" || { fail "cnn-train: $(cat "$TMP/err")"; return; }
    "$INFER" -w "$TMP/lee.safetensors" --probs --threads 1 \
        --images data/mnist-test-images-idx3-ubyte.gz >"$TMP/t1" || { fail "--threads 1"; return; }
    local k
    for k in 1 2 3; do
        "$INFER" -w "$TMP/lee.safetensors" --probs --threads 2 \
            --images data/mnist-test-images-idx3-ubyte.gz >"$TMP/t2" || { fail "--threads 2"; return; }
        cmp -s "$TMP/t1" "$TMP/t2" || { fail "run $k: --threads 2 differs from --threads 1 on $(diff "$TMP/t1" "$TMP/t2" | grep -c '^<') of 10000 images"; return; }
    done
}

# A JPEG file is read as djpeg decodes it (libjpeg-turbo-progs, the reference):
# its probabilities equal those of an IDX record holding djpeg's gray bytes, by
# name, on --png-stdin, and cnn-visualize's --feature-maps and --saliency of the
# JPEG are the same PNG bytes as of an 8-bit PNG of djpeg's pixels.
test_jpeg_files_are_read_as_djpeg_decodes_them() {
    command -v djpeg >/dev/null || { fail "djpeg missing (libjpeg-turbo-progs)"; return; }
    "$BUILD/tests/test_infer" --write-subset data/mnist-train-images-idx3-ubyte.gz \
        data/mnist-train-labels-idx1-ubyte.gz 500 "$TMP" || { fail "could not write the subset"; return; }
    "$BIN/cnn-train" models/lee-mnist.json --train-images "$TMP/sub-images.idx" \
        --train-labels "$TMP/sub-labels.idx" --epochs 1 -q \
        -o "$TMP/lee.safetensors" >/dev/null 2>"$TMP/err" || { fail "cnn-train: $(cat "$TMP/err")"; return; }
    local j v
    for j in gray28 rgb28; do
        # IDX u8, 1 x 28 x 28, of djpeg's gray pixels (for the colour one, its luma)
        { printf '\0\0\10\3\0\0\0\1\0\0\0\34\0\0\0\34'
          djpeg -grayscale -pnm "tests/jpeg/$j.jpg" | tail -c 784; } >"$TMP/$j.idx"
        "$INFER" -w "$TMP/lee.safetensors" --probs "tests/jpeg/$j.jpg" >"$TMP/jpg" || { fail "$j.jpg"; continue; }
        "$INFER" -w "$TMP/lee.safetensors" --probs --images "$TMP/$j.idx" >"$TMP/idx" || fail "$j.idx"
        same_probs "$TMP/jpg" "$TMP/idx" || fail "$j: the JPEG file and djpeg's pixels differ"
        "$INFER" -w "$TMP/lee.safetensors" --probs --png-stdin <"tests/jpeg/$j.jpg" >"$TMP/stdin" || fail "$j on stdin"
        same_probs "$TMP/jpg" "$TMP/stdin" || fail "$j: the JPEG file and the JPEG on stdin differ"
        mkdir -p "$TMP/$j"
        "$BUILD/tests/test_infer" --write-digits "$TMP/$j.idx" 1 "$TMP/$j" || { fail "$j: PNG"; continue; }
        for v in "--layer conv2d --feature-maps" "--saliency"; do
            # shellcheck disable=SC2086
            "$BIN/cnn-visualize" -w "$TMP/lee.safetensors" $v "tests/jpeg/$j.jpg" -o "$TMP/a.png" &&
                "$BIN/cnn-visualize" -w "$TMP/lee.safetensors" $v "$TMP/$j/digit-0.png" -o "$TMP/b.png" ||
                { fail "$j: cnn-visualize $v"; continue; }
            cmp -s "$TMP/a.png" "$TMP/b.png" || fail "$j: cnn-visualize $v differs for the JPEG and its pixels"
        done
    done
}

# libjpeg is loaded at the first JPEG (lib/jpeg.c), not linked: no tool lists
# it, a run on PNGs never loads it (the dynamic loader's own trace), a JPEG
# loads it once by dlopen, and without it (a private mount of /dev/null over
# the library: root, as in CI) a JPEG fails with a clear message while PNGs
# are still read.
test_libjpeg_is_loaded_only_for_jpegs() {
    local b lib
    for b in cnn-summary cnn-infer cnn-train cnn-data cnn-visualize; do
        ldd "$BIN/$b" | grep -q libjpeg && fail "$b links libjpeg: $(ldd "$BIN/$b" | grep libjpeg)"
    done
    LD_DEBUG=files "$INFER" -w "$W" "$F/rec0.png" >"$TMP/out" 2>"$TMP/trace" ||
        fail "cnn-infer on a PNG failed: $(tail -n 3 "$TMP/trace")"
    grep -q 'file=[^ ]*libpng' "$TMP/trace" || fail "no loader trace (LD_DEBUG ignored?)"
    grep -q 'file=[^ ]*libjpeg' "$TMP/trace" && fail "a PNG loaded libjpeg"
    LD_DEBUG=files "$INFER" -w "$W" --resize tests/jpeg/gray28.jpg tests/jpeg/rgb28.jpg \
        >"$TMP/out" 2>"$TMP/trace" || fail "cnn-infer on JPEGs failed: $(tail -n 3 "$TMP/trace")"
    [ "$(wc -l <"$TMP/out")" = 2 ] || fail "two JPEGs gave: $(cat "$TMP/out")"
    expect_dlopened_once libjpeg "$TMP/trace"
    lib=$(hideable_lib libjpeg.so.62)
    [ -n "$lib" ] || { echo "  (skipped the missing-libjpeg case: needs root and unshare)" >&2; return; }
    run_without "$lib" "$INFER" -w "$W" --resize tests/jpeg/gray28.jpg "$F/rec0.png"
    expect_rc 1
    expect_err_contains "cnn-infer: error: tests/jpeg/gray28.jpg: cannot load libjpeg to decode a JPEG ("
    expect_err_contains "install Debian's libjpeg62-turbo"
    expect_out_contains "$F/rec0.png"
    run_without "$lib" "$INFER" -w "$W" "$F/rec0.png"
    expect_rc 0
}

run_test test_help_version_and_misuse
run_test test_libjpeg_is_loaded_only_for_jpegs
run_test test_one_png_gives_the_closed_form_probability
run_test test_same_image_as_png_idx_record_and_stdin_agrees
run_test test_bad_inputs_are_named_on_stderr_and_skipped_in_order
run_test test_wrong_size_with_and_without_resize
run_test test_invert_reads_dark_on_light
run_test test_every_colour_type_and_depth_is_read
run_test test_weights_of_another_model_and_disagreeing_json_are_refused
run_test test_model_on_stdin
run_test test_top_probs_json_and_class_names
run_test test_evaluation_on_a_hand_checked_set
run_test test_names_on_stdin_are_answered_as_they_come
run_test test_man_page_examples_run
run_test test_threads_give_the_same_answers
run_test test_jpeg_files_are_read_as_djpeg_decodes_them
finish
