#!/usr/bin/env bash
# Output files (issue 11 §2): symlinks written through, permission bits kept,
# "-o -" as standard output, --resume CKPT rewriting CKPT allowed.  The refusals
# (outputs that are inputs, directories, FIFOs, devices) are cases 250-273 of
# tests/bad-inputs/.
. "$(dirname "$0")/lib.sh"
D=data/mnist
TINY=tests/train/tiny.json
TRAIN=(--train-images $D-test-images-idx3-ubyte.gz --train-labels $D-test-labels-idx1-ubyte.gz
       --epochs 1 --threads 1 -q)

train_to() { run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "$@"; }

symlink_output_is_written_through() {
    mkdir -p "$TMP/s/real"
    ln -s real/w.st "$TMP/s/link.st"
    train_to -o "$TMP/s/link.st"
    expect_rc 0
    [ -L "$TMP/s/link.st" ] || fail "the symlink was replaced"
    [ -f "$TMP/s/real/w.st" ] || fail "the link's target was not written"
    run "$BIN/cnn-infer" -w "$TMP/s/link.st" --images $D-test-images-idx3-ubyte.gz -q
    expect_rc 0
    [ -z "$(ls "$TMP/s" | grep tmp)$(ls "$TMP/s/real" | grep tmp)" ] || fail "temporaries left"
}

existing_output_keeps_permission_bits() {
    mkdir -p "$TMP/p"
    echo old >"$TMP/p/w.st"; chmod 0600 "$TMP/p/w.st"
    echo old >"$TMP/p/log.csv"; chmod 0640 "$TMP/p/log.csv"
    train_to -o "$TMP/p/w.st" --log "$TMP/p/log.csv"
    expect_rc 0
    [ "$(stat -c %a "$TMP/p/w.st")" = 600 ] || fail "w.st is $(stat -c %a "$TMP/p/w.st"), expected 600"
    [ "$(stat -c %a "$TMP/p/log.csv")" = 640 ] || fail "log.csv is $(stat -c %a "$TMP/p/log.csv"), expected 640"
    grep -q old "$TMP/p/w.st" && fail "w.st was not rewritten"
    # A new file gets 0666 under the umask.
    (umask 027; "$BIN/cnn-train" $TINY "${TRAIN[@]}" -o "$TMP/p/new.st") || fail "training failed"
    [ "$(stat -c %a "$TMP/p/new.st")" = 640 ] || fail "new.st is $(stat -c %a "$TMP/p/new.st"), expected 640"
}

train_output_dash_is_stdout() {
    mkdir -p "$TMP/d"
    (cd "$TMP/d" && "$BIN/cnn-train" "$OLDPWD/$TINY" --train-images "$OLDPWD/$D-test-images-idx3-ubyte.gz" \
        --train-labels "$OLDPWD/$D-test-labels-idx1-ubyte.gz" --epochs 1 --threads 1 -q -o - >"$TMP/d.st" 2>"$TMP/err")
    [ $? = 0 ] || fail "cnn-train -o - failed: $(cat "$TMP/err")"
    [ -z "$(ls "$TMP/d")" ] || fail "-o - left files in the working folder: $(ls "$TMP/d")"
    run "$BIN/cnn-infer" -w "$TMP/d.st" --images $D-test-images-idx3-ubyte.gz -q
    expect_rc 0
}

visualize_output_dash_is_stdout() {
    train_to -o "$TMP/v.st"
    "$BIN/cnn-visualize" -w "$TMP/v.st" --kernels -o - >"$TMP/v.png" 2>"$TMP/err" || fail "$(cat "$TMP/err")"
    [ "$(head -c 8 "$TMP/v.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "stdout is not a PNG"
}

# -o - when standard output is a terminal: refused, nothing written to it
# (script(1) gives the tool a terminal).
dash_output_to_a_terminal_is_refused() {
    train_to -o "$TMP/t.st"
    script -qec "\"$BIN/cnn-visualize\" -w \"$TMP/t.st\" --kernels -o -" /dev/null >"$TMP/tty" 2>&1
    [ $? = 2 ] || fail "expected exit status 2 on a terminal"
    grep -q "standard output is a terminal" "$TMP/tty" || fail "no message: $(head -c 200 "$TMP/tty")"
    grep -q PNG "$TMP/tty" && fail "PNG bytes went to the terminal"
}

resume_may_rewrite_its_checkpoint() {
    train_to -o "$TMP/r.st"
    cp "$TMP/r.st.ckpt" "$TMP/c.ckpt"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --resume "$TMP/c.ckpt" --checkpoint "$TMP/c.ckpt" \
        --epochs 2 -o "$TMP/r2.st"
    expect_rc 0
}

run_test symlink_output_is_written_through
run_test existing_output_keeps_permission_bits
run_test train_output_dash_is_stdout
run_test visualize_output_dash_is_stdout
run_test dash_output_to_a_terminal_is_refused
run_test resume_may_rewrite_its_checkpoint
finish
