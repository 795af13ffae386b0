# CLI tests for OpenBLAS loaded only around a pass that needs it (lib/blas.c,
# the layers' uses_blas): programs that multiply no matrix through it never
# load it (seen by the dynamic loader's own trace, LD_DEBUG=files), nor does
# a prediction through libcnn's own kernels; a backward pass does; and a
# missing or wrong library is a clear error of the pass that needed it, not of
# the program's start.
. tests/cli/lib.sh
: "${BUILD:=build}"
F=$TMP/fx
mkdir -p "$F"
"$BUILD/tests/test_infer" --write-fixtures "$F" || { echo "could not write fixtures"; echo "0 passed, 1 failed"; exit 1; }
W=$F/tiny.safetensors  # Flatten + Dense: the forward pass is libcnn's kernel, backward OpenBLAS's
PNG=$F/rec0.png
# a saliency map: one forward and one backward pass
saliency() { "$BIN/cnn-visualize" -w "$W" --saliency "$PNG" --json; }

# loads FILE: the loader's trace in FILE shows libopenblas being opened.
loads_openblas() { grep -q 'file=[^ ]*libopenblas' "$1"; }

binaries_do_not_link_openblas() {
    for b in cnn-summary cnn-infer cnn-train cnn-data cnn-visualize; do
        ldd "$BIN/$b" | grep -q libopenblas && fail "$b links libopenblas: $(ldd "$BIN/$b" | grep libopenblas)"
    done
}

summary_never_loads_openblas() {
    LD_DEBUG=files "$BIN/cnn-summary" models/lee-mnist.json >"$TMP/out" 2>"$TMP/trace"
    [ $? = 0 ] || fail "cnn-summary failed: $(tail -n 3 "$TMP/trace")"
    grep -q 'file=[^ ]*libcjson' "$TMP/trace" || fail "no loader trace (LD_DEBUG ignored?)"
    loads_openblas "$TMP/trace" && fail "cnn-summary loaded OpenBLAS: $(grep libopenblas "$TMP/trace" | head -n 2)"
}

a_dense_prediction_does_not_load_openblas() {
    LD_DEBUG=files "$BIN/cnn-infer" -w "$W" "$PNG" "$PNG" >"$TMP/out" 2>"$TMP/trace"
    [ $? = 0 ] || fail "cnn-infer failed: $(tail -n 3 "$TMP/trace")"
    grep -q 'file=[^ ]*libcjson' "$TMP/trace" || fail "no loader trace (LD_DEBUG ignored?)"
    loads_openblas "$TMP/trace" && fail "cnn-infer loaded OpenBLAS: $(grep libopenblas "$TMP/trace" | head -n 2)"
}

a_backward_pass_loads_openblas_once() {
    LD_DEBUG=files saliency >"$TMP/out" 2>"$TMP/trace"
    [ $? = 0 ] || fail "cnn-visualize failed: $(tail -n 3 "$TMP/trace")"
    loads_openblas "$TMP/trace" || fail "cnn-visualize --saliency did not load OpenBLAS"
    grep 'file=[^ ]*libopenblas' "$TMP/trace" | grep -q 'dynamically loaded by' ||
        fail "OpenBLAS was not loaded with dlopen: $(grep libopenblas "$TMP/trace" | head -n 2)"
    n=$(grep -c 'calling init: [^ ]*libopenblas' "$TMP/trace")
    [ "$n" = 1 ] || fail "OpenBLAS initialized $n times"
}

a_missing_openblas_fails_the_pass_with_a_clear_message() {
    export CNN_OPENBLAS="$TMP/nowhere/libopenblas.so.0"
    run saliency
    expect_rc 1
    expect_err_contains "cnn-visualize: error:"
    expect_err_contains "cannot load OpenBLAS ($TMP/nowhere/libopenblas.so.0: cannot open shared object file"
    expect_err_contains "CNN_OPENBLAS"
    expect_out_empty
    # what needs no product through it still works
    run "$BIN/cnn-infer" -w "$W" "$PNG"
    expect_rc 0; expect_out_contains "rec0.png"
    run "$BIN/cnn-summary" models/lee-mnist.json
    expect_rc 0; expect_out_equals_file tests/models/lee-mnist.keras3.txt
    unset CNN_OPENBLAS
}

a_library_that_is_not_openblas_is_refused() {
    CNN_OPENBLAS=libz.so.1 run saliency
    expect_rc 1
    expect_err_contains "libz.so.1 is not OpenBLAS: it has no cblas_sgemm"
    expect_out_empty
}

the_openblas_named_explicitly_gives_the_same_answers() {
    run saliency
    expect_rc 0
    cp "$TMP/out" "$TMP/default"
    lib=$(pkg-config --variable=libdir openblas)
    CNN_OPENBLAS="${lib%/}/libopenblas.so.0" run saliency
    expect_rc 0; expect_out_equals_file "$TMP/default"
}

run_test binaries_do_not_link_openblas
run_test summary_never_loads_openblas
run_test a_dense_prediction_does_not_load_openblas
run_test a_backward_pass_loads_openblas_once
run_test a_missing_openblas_fails_the_pass_with_a_clear_message
run_test a_library_that_is_not_openblas_is_refused
run_test the_openblas_named_explicitly_gives_the_same_answers
finish
