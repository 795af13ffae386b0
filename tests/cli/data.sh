#!/usr/bin/env bash
# CLI tests for datasets (issue 12): cnn-data info/export/convert, cnn-train
# --train/--test on class folders, list files and CSV, JPEG against djpeg.
. "$(dirname "$0")/lib.sh"
D=data/mnist

# The embedded training digits exported as class folders with a list file in
# IDX order: training from the list gives the IDX run's weights, bit for bit.
test_list_file_training_is_bit_identical_to_idx() {
    run "$BIN/cnn-data" export -q "$D-train-images-idx3-ubyte.gz" "$TMP/tr" --list
    expect_rc 0
    run "$BIN/cnn-train" tests/train/tiny.json --train "$TMP/tr/list.tsv" --epochs 1 \
        --threads 1 --seed 3 -o "$TMP/a.safetensors"
    expect_rc 0
    expect_err_contains "$TMP/tr/list.tsv: 8000 images, 10 classes (0 801, 1 902, 2 793,"
    run "$BIN/cnn-train" tests/train/tiny.json --train-images "$D-train-images-idx3-ubyte.gz" \
        --train-labels "$D-train-labels-idx1-ubyte.gz" --epochs 1 --threads 1 --seed 3 \
        -o "$TMP/b.safetensors"
    expect_rc 0
    cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" || fail "weights differ"
    # and the same through the IDX files written back by cnn-data convert
    run "$BIN/cnn-data" convert "$TMP/tr/list.tsv" "$TMP/rt-images-idx3-ubyte"
    expect_rc 0
    cmp -s "$TMP/rt-images-idx3-ubyte" <(gzip -dc "$D-train-images-idx3-ubyte.gz") ||
        fail "images do not round-trip"
    cmp -s "$TMP/rt-labels-idx1-ubyte" <(gzip -dc "$D-train-labels-idx1-ubyte.gz") ||
        fail "labels do not round-trip"
}

test_class_folders_train_and_test() {
    run "$BIN/cnn-data" export -q "$D-test-images-idx3-ubyte.gz" "$TMP/te"
    expect_rc 0
    [ -f "$TMP/te/0/000000.png" ] || fail "no te/0/000000.png"
    run "$BIN/cnn-train" tests/train/tiny.json --train "$TMP/te" --test "$TMP/te" --epochs 1 \
        --threads 1 -o "$TMP/c.safetensors"
    expect_rc 0
    expect_err_contains "$TMP/te: 2000 images, 10 classes (0 200, 1 225, 2 198, 3 206, 4 196, 5 173, 6 203, 7 214, 8 189, 9 196)"
    expect_err_contains "test accuracy"
}

test_info_json_and_tsv() {
    run "$BIN/cnn-data" info --json "$D-test-images-idx3-ubyte.gz"
    expect_rc 0
    expect_out_contains '"images": 2000, "height": 28, "width": 28, "channels": 1, "labelled": true'
    expect_out_contains '{"name": "5", "index": 5, "images": 173}'
    run "$BIN/cnn-data" info "$D-test-images-idx3-ubyte.gz"
    expect_out_contains "$(printf 'class\t5\t5\t173')"
}

# Hand-made CSVs: 2x2 images, with and without the label column.
test_csv_with_and_without_labels() {
    printf 'label,pixel0,pixel1,pixel2,pixel3\n1,0,255,10,20\r\n0,1,2,3,4\n' > "$TMP/l.csv"
    run "$BIN/cnn-data" convert "$TMP/l.csv" "$TMP/l-images-idx3-ubyte"
    expect_rc 0
    [ "$(od -An -tu1 -v "$TMP/l-images-idx3-ubyte" | tr -s ' \n' ' ')" = \
      " 0 0 8 3 0 0 0 2 0 0 0 2 0 0 0 2 0 255 10 20 1 2 3 4 " ] || fail "CSV pixels"
    [ "$(od -An -tu1 -v "$TMP/l-labels-idx1-ubyte" | tr -s ' \n' ' ')" = \
      " 0 0 8 1 0 0 0 2 1 0 " ] || fail "CSV labels"
    printf 'pixel0,pixel1,pixel2,pixel3\n9,8,7,6\n' > "$TMP/u.csv"
    run "$BIN/cnn-data" info --json "$TMP/u.csv"
    expect_rc 0
    expect_out_contains '"images": 1, "height": 2, "width": 2, "channels": 1, "labelled": false}'
}

# libcnn's JPEG decoding is djpeg's, byte for byte: grayscale, colour to RGB,
# colour to gray (luma).
test_jpeg_matches_djpeg() {
    command -v djpeg >/dev/null || { fail "djpeg missing (libjpeg-turbo-progs)"; return; }
    mkdir -p "$TMP/j/g" "$TMP/j/c"
    cp tests/jpeg/gray28.jpg "$TMP/j/g/"
    cp tests/jpeg/rgb16x12.jpg "$TMP/j/c/"
    run "$BIN/cnn-data" convert "$TMP/j/g" "$TMP/g-images-idx3-ubyte"
    expect_rc 0
    cmp -s <(tail -c 784 "$TMP/g-images-idx3-ubyte") <(djpeg -pnm tests/jpeg/gray28.jpg | tail -c 784) ||
        fail "gray JPEG differs from djpeg"
    run "$BIN/cnn-data" convert --channels 3 "$TMP/j/c" "$TMP/c-images-idx3-ubyte"
    expect_rc 0
    cmp -s <(tail -c 576 "$TMP/c-images-idx3-ubyte") <(djpeg -pnm tests/jpeg/rgb16x12.jpg | tail -c 576) ||
        fail "colour JPEG differs from djpeg"
    run "$BIN/cnn-data" convert "$TMP/j/c" "$TMP/y-images-idx3-ubyte"
    expect_rc 0
    cmp -s <(tail -c 192 "$TMP/y-images-idx3-ubyte") <(djpeg -grayscale -pnm tests/jpeg/rgb16x12.jpg | tail -c 192) ||
        fail "colour JPEG to gray differs from djpeg -grayscale"
}

test_skip_bad_counts() {
    mkdir -p "$TMP/s/a"
    cp tests/bad-inputs/fixtures/digit28.png "$TMP/s/a/1.png"
    head -c 100 tests/bad-inputs/fixtures/digit28.png > "$TMP/s/a/2.png"
    echo x > "$TMP/s/a/x.txt"
    run "$BIN/cnn-data" info --skip-bad "$TMP/s"
    expect_rc 0
    expect_out_contains "$(printf 'images\t1')"
    expect_err_contains "cnn-data: warning: skipped $TMP/s/a/x.txt: not an image file name"
    expect_err_contains "cnn-data: warning: skipped $TMP/s/a/2.png: "
    expect_err_contains "cnn-data: warning: $TMP/s: skipped 2 unreadable files"
}

# Class names from folder names go into the weights and come out in TSV, JSON,
# and the evaluation table; cnn-infer FOLDER predicts every image, sorted.
test_class_names_round_trip() {
    mkdir -p "$TMP/cn/cat" "$TMP/cn/dog"
    local png=tests/bad-inputs/fixtures/digit28.png
    for i in 1 2 3; do cp $png "$TMP/cn/cat/$i.png"; cp $png "$TMP/cn/dog/$i.png"; done
    cat > "$TMP/two.json" <<'J'
{"name": "two", "input_shape": [28, 28, 1],
 "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}],
 "training": {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 2, "epochs": 1, "seed": 1}}
J
    run "$BIN/cnn-train" "$TMP/two.json" --train "$TMP/cn" -o "$TMP/cn.safetensors"
    expect_rc 0
    expect_err_contains "$TMP/cn: 6 images, 2 classes (cat 3, dog 3)"
    grep -qa '"cnn.class_names":"cat\\ndog"' "$TMP/cn.safetensors" || fail "no class names in the metadata"
    run "$BIN/cnn-infer" -w "$TMP/cn.safetensors" "$TMP/cn"
    expect_rc 0
    [ "$(cut -f1 "$TMP/out" | tr '\n' ' ')" = "$TMP/cn/cat/1.png $TMP/cn/cat/2.png $TMP/cn/cat/3.png $TMP/cn/dog/1.png $TMP/cn/dog/2.png $TMP/cn/dog/3.png " ] ||
        fail "sources: $(cut -f1 "$TMP/out" | tr '\n' ' ')"
    [ "$(cut -f2 "$TMP/out" | sort -u | grep -cvE '^(cat|dog)$')" = 0 ] || fail "classes not named: $(cat "$TMP/out")"
    run "$BIN/cnn-infer" -w "$TMP/cn.safetensors" --json "$TMP/cn/dog/1.png"
    grep -qE '"class": "(cat|dog)"' "$TMP/out" || fail "JSON class not named: $(cat "$TMP/out")"
    run "$BIN/cnn-infer" -w "$TMP/cn.safetensors" --eval "$TMP/cn"
    expect_rc 0
    expect_err_contains "accuracy 0.5000 (3 of 6)"
    grep -qE '^cat +' "$TMP/err" || fail "table without names: $(cat "$TMP/err")"
}

# The man page's examples, run in order as written.
test_man_page_examples_run() {
    local dir=$TMP/man
    mkdir -p "$dir" && ln -s "$PWD/data" "$dir/data" && ln -s "$PWD/models" "$dir/models"
    sed -n '/^\.SH EXAMPLES/,/^\.SH EXIT/p' man/cnn-data.1 | grep '^cnn-' >"$TMP/examples"
    [ "$(wc -l <"$TMP/examples")" -ge 7 ] || fail "expected 7 examples, found $(wc -l <"$TMP/examples")"
    while read -r line; do
        (cd "$dir" && PATH=$BIN:$PATH eval "$line --threads 1") >"$TMP/out" 2>"$TMP/err" ||
            fail "example failed: $line: $(tail -n 3 "$TMP/err")"
    done <"$TMP/examples"
    cmp -s <(gzip -dc "$dir/again-images-idx3-ubyte.gz") <(gzip -dc "$D-test-images-idx3-ubyte.gz") ||
        fail "convert did not give the images back"
    [ "$(wc -l <"$TMP/out")" = 214 ] || fail "digits/7 has 214 images, got $(wc -l <"$TMP/out") lines"
}

# Augmentation: the same seed gives the same weights; a run stopped after one
# epoch and resumed reaches the uninterrupted run's weights (the checkpoint
# keeps the generator the transforms draw from); another seed differs.
test_augmentation_is_seeded_and_resumable() {
    local aug=(--rotate 15 --flip --zoom 0.1 --shift 2 --threads 1 -q)
    local tr=(--train-images "$D-test-images-idx3-ubyte.gz" --train-labels "$D-test-labels-idx1-ubyte.gz")
    run "$BIN/cnn-train" tests/train/tiny.json "${tr[@]}" "${aug[@]}" --epochs 2 -o "$TMP/g1.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" tests/train/tiny.json "${tr[@]}" "${aug[@]}" --epochs 2 -o "$TMP/g2.safetensors"
    cmp -s "$TMP/g1.safetensors" "$TMP/g2.safetensors" || fail "same seed, different weights"
    run "$BIN/cnn-train" tests/train/tiny.json "${tr[@]}" "${aug[@]}" --epochs 1 -o "$TMP/g3.safetensors"
    run "$BIN/cnn-train" tests/train/tiny.json "${tr[@]}" "${aug[@]}" --epochs 2 \
        --resume "$TMP/g3.safetensors.ckpt" -o "$TMP/g3.safetensors"
    expect_rc 0
    cmp -s "$TMP/g1.safetensors" "$TMP/g3.safetensors" || fail "resumed run differs"
    run "$BIN/cnn-train" tests/train/tiny.json "${tr[@]}" "${aug[@]}" --epochs 2 --seed 99 -o "$TMP/g4.safetensors"
    cmp -s "$TMP/g1.safetensors" "$TMP/g4.safetensors" && fail "another seed, same weights"
    return 0
}

run_test test_augmentation_is_seeded_and_resumable
run_test test_man_page_examples_run
run_test test_class_names_round_trip
run_test test_list_file_training_is_bit_identical_to_idx
run_test test_class_folders_train_and_test
run_test test_info_json_and_tsv
run_test test_csv_with_and_without_labels
run_test test_jpeg_matches_djpeg
run_test test_skip_bad_counts
finish
