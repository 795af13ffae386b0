#!/usr/bin/env bash
# Weights on standard input (-w -) in every tool that takes -w, standard input
# read at most once per command, and cnn-summary reading only the header of a
# weights file (issue 10 §4, issue 11 §3).
. "$(dirname "$0")/lib.sh"
D=data/mnist
FX=tests/bad-inputs/fixtures

# A tiny model trained one epoch on the first 200 test digits.
W=$TMP/w.safetensors
{ printf '\x00\x00\x08\x03\x00\x00\x00\xc8\x00\x00\x00\x1c\x00\x00\x00\x1c'
  zcat $D-test-images-idx3-ubyte.gz | tail -c +17 | head -c $((200 * 784)); } >"$TMP/i.idx"
{ printf '\x00\x00\x08\x01\x00\x00\x00\xc8'
  zcat $D-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 200; } >"$TMP/l.idx"
"$BIN/cnn-train" tests/train/tiny.json --train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" \
    --epochs 1 --threads 1 -q -o "$W" >/dev/null 2>"$TMP/train.err" ||
    { echo "cnn-train failed: $(cat "$TMP/train.err")"; echo "0 passed, 1 failed"; exit 1; }
WSIZE=$(stat -c %s "$W")

expect_err_empty() { [ ! -s "$TMP/err" ] || fail "stderr not empty: $(head -c 300 "$TMP/err")"; }
expect_err_first() { [ "$(head -n 1 "$TMP/err")" = "$1" ] || fail "stderr's first line is \"$(head -n 1 "$TMP/err")\", expected \"$1\""; }
# piped CMD...: runs CMD with the weights piped into its stdin (a pipe, not a file).
piped() { cat "$W" | "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }

# ---- -w - ----------------------------------------------------------------------

test_infer_weights_from_stdin_give_the_same_bytes() {
    run "$BIN/cnn-infer" -w "$W" --top 3 --probs "$FX/digit28.png"
    expect_rc 0; cp "$TMP/out" "$TMP/ref.tsv"
    [ -s "$TMP/ref.tsv" ] || fail "no prediction from the weights file"
    piped "$BIN/cnn-infer" -w - --top 3 --probs "$FX/digit28.png"
    expect_rc 0; expect_err_empty; expect_out_equals_file "$TMP/ref.tsv"
    # stdin redirected from the file (a regular file, not a pipe); the long flag
    run "$BIN/cnn-infer" --weights - --top 3 --probs "$FX/digit28.png" <"$W"
    expect_rc 0; expect_err_empty; expect_out_equals_file "$TMP/ref.tsv"
    # an IDX evaluation: predictions and the JSON evaluation line
    run "$BIN/cnn-infer" -w "$W" --images "$TMP/i.idx" --labels "$TMP/l.idx" --predictions --json -q
    expect_rc 0; cp "$TMP/out" "$TMP/ref.json"
    [ "$(wc -l <"$TMP/ref.json")" = 201 ] || fail "expected 200 predictions and 1 evaluation line"
    piped "$BIN/cnn-infer" -w - --images "$TMP/i.idx" --labels "$TMP/l.idx" --predictions --json -q
    expect_rc 0; expect_out_equals_file "$TMP/ref.json"
    # with a model file that must agree
    piped "$BIN/cnn-infer" -w - -m tests/train/tiny.json --top 3 --probs "$FX/digit28.png"
    expect_rc 0; expect_out_equals_file "$TMP/ref.tsv"
}

test_visualize_weights_from_stdin_give_the_same_png() {
    run "$BIN/cnn-visualize" -w "$W" --kernels -o "$TMP/k-ref.png"
    expect_rc 0
    piped "$BIN/cnn-visualize" -w - --kernels -o "$TMP/k1.png"
    expect_rc 0; expect_err_empty
    cmp -s "$TMP/k-ref.png" "$TMP/k1.png" || fail "-w - drew another kernel picture"
    # --weights - is the weights file on stdin, not the old bare --weights
    piped "$BIN/cnn-visualize" --weights - --kernels -o "$TMP/k2.png"
    expect_rc 0; expect_err_empty
    cmp -s "$TMP/k-ref.png" "$TMP/k2.png" || fail "--weights - drew another kernel picture"
    run "$BIN/cnn-visualize" -w "$W" --layer conv2d --feature-maps "$FX/digit28.png" -o "$TMP/f-ref.png"
    expect_rc 0
    piped "$BIN/cnn-visualize" -w - --layer conv2d --feature-maps "$FX/digit28.png" -o "$TMP/f1.png"
    expect_rc 0
    cmp -s "$TMP/f-ref.png" "$TMP/f1.png" || fail "-w - drew other feature maps"
}

test_summary_weights_from_stdin() {
    run "$BIN/cnn-summary" "$W"
    expect_rc 0; cp "$TMP/out" "$TMP/s-ref.txt"
    grep -q '^Model: "tiny"$' "$TMP/s-ref.txt" || fail "summary of the weights: $(head -n 1 "$TMP/s-ref.txt")"
    piped "$BIN/cnn-summary" -w -
    expect_rc 0; expect_err_empty; expect_out_equals_file "$TMP/s-ref.txt"
    run "$BIN/cnn-summary" --weights - <"$W"
    expect_rc 0; expect_out_equals_file "$TMP/s-ref.txt"
    # through a FIFO (opened once: the kind is told from the bytes read on)
    run "$BIN/cnn-summary" <(cat "$W")
    expect_rc 0; expect_out_equals_file "$TMP/s-ref.txt"
    # stdin given twice, in any spelling
    piped "$BIN/cnn-summary" -w - -
    expect_rc 2; expect_err_first "cnn-summary: - (standard input) can be given only once"
    piped "$BIN/cnn-summary" -m - -w -
    expect_rc 2; expect_err_first "cnn-summary: - (standard input) can be given only once"
}

test_stdin_is_read_once() {
    piped "$BIN/cnn-infer" -w - -
    expect_rc 2; expect_out_empty
    expect_err_first "cnn-infer: -w - and - (file names) would both read standard input; give one of them a file"
    piped "$BIN/cnn-infer" -w - --png-stdin
    expect_rc 2; expect_out_empty
    expect_err_first "cnn-infer: -w - and --png-stdin would both read standard input; give one of them a file"
    piped "$BIN/cnn-infer" -w - -0 -
    expect_rc 2
}

test_stdin_weights_have_the_file_limit() {
    # --max-file-size is the same limit as for a file: exactly the size passes,
    # one byte less is refused, naming standard input.
    piped "$BIN/cnn-infer" -w - --max-file-size "$WSIZE" "$FX/digit28.png"
    expect_rc 0
    piped "$BIN/cnn-infer" -w - --max-file-size $((WSIZE - 1)) "$FX/digit28.png"
    expect_rc 1; expect_out_empty
    expect_err_first "cnn-infer: error: <stdin>: larger than the limit of $((WSIZE - 1)) bytes"
    run "$BIN/cnn-infer" -w "$W" --max-file-size $((WSIZE - 1)) "$FX/digit28.png"
    expect_rc 1
    expect_err_first "cnn-infer: error: $W: $WSIZE bytes is larger than the limit of $((WSIZE - 1)) bytes"
    piped "$BIN/cnn-visualize" -w - --max-file-size $((WSIZE - 1)) --kernels -o "$TMP/k.png"
    expect_rc 1
    expect_err_first "cnn-visualize: error: <stdin>: larger than the limit of $((WSIZE - 1)) bytes"
    [ -e "$TMP/k.png" ] && fail "a PNG was written"
    # An endless stream that is not a weights file is refused after its first
    # bytes (reading it to the limit would take 4 GiB).
    run "$BIN/cnn-infer" -w - "$FX/digit28.png" </dev/zero
    expect_rc 1
    expect_err_first "cnn-infer: error: <stdin>: not a safetensors file: the header does not start with '{'"
    cat /dev/zero | "$BIN/cnn-summary" -w - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 1
    expect_err_first "cnn-summary: error: <stdin>: neither a model description (JSON) nor a weights file (safetensors)"
}

# ---- cnn-summary reads only the header -----------------------------------------

# big_weights OUT SIZE: the weights of $W plus a tensor "pad.data" (F32) that
# fills the file up to SIZE bytes, the file made sparse with truncate, so a
# valid weights file of SIZE bytes costs a few KB of disk.
big_weights() {
    python3 - "$W" "$1" "$2" <<'EOF' || fail "could not write the big weights file"
import json, struct, sys
src, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
hdr, data = json.loads(b[8:8 + n]), b[8 + n:]
count = 0
for _ in range(20):  # the header's length moves where the data starts: to a fixed point
    hdr['pad.data'] = {'dtype': 'F32', 'shape': [count],
                       'data_offsets': [len(data), len(data) + 4 * count]}
    text = json.dumps(hdr, separators=(',', ':')).encode()
    new = (size - 8 - len(text) - len(data)) // 4
    if new == count:
        break
    count = new
text += b' ' * (size - 8 - len(text) - len(data) - 4 * count)  # 0 to 3 spaces
assert 8 + len(text) + len(data) + 4 * count == size
with open(out, 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + data)
    f.truncate(size)
EOF
}

test_summary_reads_only_the_header() {
    run "$BIN/cnn-summary" "$W"
    cp "$TMP/out" "$TMP/s-ref.txt"
    run "$BIN/cnn-summary" --json "$W"
    cp "$TMP/out" "$TMP/s-ref.json"
    # 6 GiB: more than the 4 GiB weights limit and than this machine may hold.
    # Reading it whole would be refused (or cost 6 GiB); the header is enough.
    local size=$((6 * 1024 * 1024 * 1024 + 8))
    big_weights "$TMP/big.st" $size
    [ "$(stat -c %s "$TMP/big.st")" = $size ] || fail "the big file is not $size bytes"
    run "$BIN/cnn-summary" "$TMP/big.st"
    expect_rc 0; expect_err_empty; expect_out_equals_file "$TMP/s-ref.txt"
    run "$BIN/cnn-summary" --json --max-file-size 4096 "$TMP/big.st"
    expect_rc 0; expect_out_equals_file "$TMP/s-ref.json"
    # A tool that needs the values still applies the limit (and so shows that
    # the file is as big as it claims).
    run "$BIN/cnn-infer" -w "$TMP/big.st" "$FX/digit28.png"
    expect_rc 1
    expect_err_first "cnn-infer: error: $TMP/big.st: $size bytes is larger than the limit of 4294967296 bytes"
    # Streamed, the data is read to its end (not kept), so the limit bounds it.
    big_weights "$TMP/mid.st" 3000000
    head -c 3000000 "$TMP/mid.st" | "$BIN/cnn-summary" -w - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/s-ref.txt"
    head -c 3000000 "$TMP/mid.st" | "$BIN/cnn-summary" --max-file-size 2999999 - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 1
    expect_err_first "cnn-summary: error: <stdin>: larger than the limit of 2999999 bytes"
}

test_summary_header_checks_still_apply() {
    # The header is checked against the file's size as before: a file cut
    # short, one with bytes after the last tensor, and a header longer than the
    # file give the messages the full reader gives.
    head -c $((WSIZE - 4)) "$W" >"$TMP/cut.st"
    run "$BIN/cnn-infer" -w "$TMP/cut.st" "$FX/digit28.png"
    local want; want=$(head -n 1 "$TMP/err" | sed 's/^cnn-infer: /cnn-summary: /')
    case "$want" in *"$TMP/cut.st: "*) ;; *) fail "cnn-infer's message: $want" ;; esac
    run "$BIN/cnn-summary" "$TMP/cut.st"
    expect_rc 1; expect_out_empty; expect_err_first "$want"
    cat "$W" >"$TMP/long.st"; printf 'XXXX' >>"$TMP/long.st"
    run "$BIN/cnn-infer" -w "$TMP/long.st" "$FX/digit28.png"
    want=$(head -n 1 "$TMP/err" | sed 's/^cnn-infer: /cnn-summary: /')
    run "$BIN/cnn-summary" "$TMP/long.st"
    expect_rc 1; expect_err_first "$want"
    expect_err_contains "the data buffer has"
    # the same through a pipe
    cat "$TMP/long.st" | "$BIN/cnn-summary" - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 1; expect_err_first "${want/$TMP\/long.st/<stdin>}"
    # a header length beyond the end
    { printf '\xf0\x00\x00\x00\x00\x00\x00\x00{"a":'; } >"$TMP/hdr.st"
    run "$BIN/cnn-summary" "$TMP/hdr.st"
    expect_rc 1
    expect_err_first "cnn-summary: error: $TMP/hdr.st: header length 240 exceeds file size 13 (after the 8-byte length field)"
    cat "$TMP/hdr.st" | "$BIN/cnn-summary" - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 1
    expect_err_first "cnn-summary: error: <stdin>: header length 240 exceeds file size 13 (after the 8-byte length field)"
}

run_test test_infer_weights_from_stdin_give_the_same_bytes
run_test test_visualize_weights_from_stdin_give_the_same_png
run_test test_summary_weights_from_stdin
run_test test_stdin_is_read_once
run_test test_stdin_weights_have_the_file_limit
run_test test_summary_reads_only_the_header
run_test test_summary_header_checks_still_apply
finish
