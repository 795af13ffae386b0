#!/usr/bin/env bash
# File names that are not UTF-8 (issue 11 §6): --json lines stay valid JSON,
# each invalid byte written as \ufffd; valid UTF-8 names pass through as they are.
. "$(dirname "$0")/lib.sh"
D=data/mnist
FX=tests/bad-inputs/fixtures
"$BIN/cnn-train" tests/train/tiny.json --train-images $D-test-images-idx3-ubyte.gz \
    --train-labels $D-test-labels-idx1-ubyte.gz --epochs 1 --threads 1 -q -o "$TMP/w.st" ||
    { echo "could not train the weights"; echo "0 passed, 1 failed"; exit 1; }

non_utf8_name_is_escaped_in_json() {
    mkdir -p "$TMP/n"
    cp "$FX/digit28.png" "$TMP/n/$(printf 'a\xffb\xc3.png')"
    cp "$FX/digit28.png" "$TMP/n/$(printf 'caf\xc3\xa9.png')"
    run "$BIN/cnn-infer" -w "$TMP/w.st" --json "$TMP/n/$(printf 'a\xffb\xc3.png')" "$TMP/n/$(printf 'caf\xc3\xa9.png')"
    expect_rc 0
    expect_out_contains "{\"source\": \"$TMP/n/a\\ufffdb\\ufffd.png\", \"class\": "
    expect_out_contains "{\"source\": \"$TMP/n/$(printf 'caf\xc3\xa9.png')\", \"class\": "
    LC_ALL=C grep -q "$(printf '\xff')" "$TMP/out" && fail "a raw 0xff byte reached the JSON output"
    # the same through names on stdin
    printf '%s\n' "$TMP/n/$(printf 'a\xffb\xc3.png')" >"$TMP/names"
    run "$BIN/cnn-infer" -w "$TMP/w.st" --json - <"$TMP/names"
    expect_rc 0
    expect_out_contains "\"source\": \"$TMP/n/a\\ufffdb\\ufffd.png\""
}

run_test non_utf8_name_is_escaped_in_json
finish
