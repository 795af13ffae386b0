#!/usr/bin/env bash
# No work sized by the input before it is checked (issue 11 §3).  Each input
# here would cost minutes or gigabytes if the rule were broken; the bounds are
# generous (peak RSS from /usr/bin/time, ten times what the checked code needs
# and well under what the unchecked code took), never tight wall-clock limits.
. "$(dirname "$0")/lib.sh"
D=data/mnist
FX=tests/bad-inputs/fixtures
TINY=tests/train/tiny.json
MB=1024 # KB per MB, for the bounds

# peak CMD...: runs it like `run`, with its peak RSS in KB in $rss.
peak() {
    /usr/bin/time -f '%M' -o "$TMP/rss" "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?
    rss=$(tail -n 1 "$TMP/rss")
    # /usr/bin/time appends "Command exited with non-zero status N" above the figure
    sed -i '/^Command exited with non-zero status/d' "$TMP/err"
}
expect_rss_below() {
    [ "$rss" -lt $(($1 * MB)) ] || fail "peak RSS ${rss} KB, expected under $1 MB"
}

"$BIN/cnn-train" $TINY --train-images $D-test-images-idx3-ubyte.gz \
    --train-labels $D-test-labels-idx1-ubyte.gz --epochs 1 --threads 1 -q -o "$TMP/w.st" ||
    { echo "could not train the weights"; echo "0 passed, 1 failed"; exit 1; }
W=$TMP/w.st

# 200,000 metadata pairs and one duplicate: sorted, not compared pairwise (56 s before).
safetensors_metadata_duplicates_in_n_log_n() {
    {
        awk 'BEGIN { printf "{\"__metadata__\": {"; for (i = 0; i < 200000; i++) printf "\"k%d\": \"v\", ", i; printf "\"k7\": \"v\"}}" }' >"$TMP/hdr"
        local n; n=$(wc -c <"$TMP/hdr")
        printf "$(printf '\\x%02x' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))\0\0\0\0"
        cat "$TMP/hdr"
    } >"$TMP/meta.st"
    /usr/bin/time -f '%U' -o "$TMP/cpu" "$BIN/cnn-infer" -w "$TMP/meta.st" "$FX/digit28.png" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    expect_rc 1
    expect_err_contains "__metadata__ names \"k7\" twice"
    local cpu; cpu=$(tail -n 1 "$TMP/cpu")
    awk -v c="$cpu" 'BEGIN { exit !(c < 10) }' || fail "took $cpu s of CPU, expected well under 10"
}

# 150 MB of zero bytes as file names: a line is at most PATH_MAX (450 MB and exit 0 before).
stdin_names_have_a_line_limit() {
    peak "$BIN/cnn-infer" -w "$W" - < <(head -c 150M /dev/zero)
    expect_rc 1
    expect_err_contains "<stdin>: line 1 is longer than 4096 bytes (PATH_MAX)"
    expect_rss_below 100
}

# A gzip IDX whose header says 30000x100x100 (300 MB of zeros): refused from
# the header, before decompressing (1 GB and 7 s for such a file before).
idx_header_checked_before_the_data() {
    { printf '\0\0\x08\x03\0\0\x75\x30\0\0\0\x64\0\0\0\x64'; head -c 300000000 /dev/zero; } |
        gzip -1 >"$TMP/big.gz"
    peak "$BIN/cnn-infer" -w "$W" --images "$TMP/big.gz"
    expect_rc 1
    expect_err_contains "images are 100x100x1 but the model takes 28x28x1"
    expect_rss_below 100
    peak "$BIN/cnn-train" $TINY --train-images "$TMP/big.gz" --train-labels $D-test-labels-idx1-ubyte.gz -o "$TMP/x.st"
    expect_rc 1
    expect_rss_below 100
    rm -f "$TMP/big.gz"
}

# PNGs of 65 KB and 130 KB (8192x8192, the second 16-bit interlaced): the IHDR is
# compared with the model before decoding (267 MB and 400 MB before).
png_size_checked_before_decoding() {
    local f
    for f in zeros-8192.png zeros-8192-16bit-adam7.png; do
        peak "$BIN/cnn-infer" -w "$W" "$FX/$f"
        expect_rc 1
        expect_err_contains "the image is 8192x8192 but the model takes 28x28"
        expect_rss_below 80
        peak "$BIN/cnn-visualize" -w "$W" --layer conv2d --feature-maps "$FX/$f" -o "$TMP/fm.png"
        expect_rc 1
        expect_rss_below 80
    done
}

# /dev/zero as weights: its first 8 bytes make it invalid (8 GB read before).
weights_stream_refused_after_its_header() {
    peak "$BIN/cnn-infer" -w /dev/zero "$FX/digit28.png"
    expect_rc 1
    expect_err_contains "/dev/zero: not a safetensors file"
    expect_rss_below 50
    # A stream longer than the limit: read to the limit plus one byte, not twice it.
    { printf '\x10\0\0\0\0\0\0\0{"a":1}         '; head -c 100M /dev/zero; } >"$TMP/long"
    peak "$BIN/cnn-infer" -w /dev/stdin --max-file-size 30000000 "$FX/digit28.png" <"$TMP/long"
    rm -f "$TMP/long"
    expect_rc 1
    expect_err_contains "larger than the limit of 30000000 bytes"
    expect_rss_below 60
}

# --batch-size 65536 on a set of 50 images: the batch is the set's size (a model
# with 512 filters needed 90 GB for 65536 images: "out of memory" before).
batch_is_never_larger_than_the_set() {
    { printf '\0\0\x08\x03\0\0\0\x32\0\0\0\x1c\0\0\0\x1c'; gzip -dc $D-test-images-idx3-ubyte.gz | tail -c +17 | head -c 39200; } >"$TMP/img50"
    { printf '\0\0\x08\x01\0\0\0\x32'; gzip -dc $D-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 50; } >"$TMP/lab50"
    sed 's/"filters": 4/"filters": 512/' $TINY >"$TMP/wide.json"
    run "$BIN/cnn-train" "$TMP/wide.json" --train-images "$TMP/img50" --train-labels "$TMP/lab50" \
        --epochs 1 --threads 1 -q -o "$TMP/wide.st"
    expect_rc 0
    peak "$BIN/cnn-infer" -w "$TMP/wide.st" --images "$TMP/img50" --labels "$TMP/lab50" --batch-size 65536 -q
    expect_rc 0
    expect_rss_below 400
}

run_test safetensors_metadata_duplicates_in_n_log_n
run_test stdin_names_have_a_line_limit
run_test idx_header_checked_before_the_data
run_test png_size_checked_before_decoding
run_test weights_stream_refused_after_its_header
run_test batch_is_never_larger_than_the_set
finish
