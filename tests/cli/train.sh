#!/usr/bin/env bash
# CLI tests for cnn-train: the man page's examples, resume equals an
# uninterrupted run, atomic checkpoints, logs, and bad input.
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
D=$ROOT/data/mnist
TRAIN=(--train-images $D-train-images-idx3-ubyte.gz --train-labels $D-train-labels-idx1-ubyte.gz)
TEST=(--test-images $D-test-images-idx3-ubyte.gz --test-labels $D-test-labels-idx1-ubyte.gz)
TINY=tests/train/tiny.json

# The tensor bytes of a safetensors file (everything after the JSON header).
tensor_bytes() {
    local n
    n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
    tail -c +$((8 + n + 1)) "$1"
}

test_man_examples_run() {
    local dir=$TMP/man
    mkdir -p "$dir" && ln -s "$ROOT/data" "$dir/data" && ln -s "$ROOT/models" "$dir/models"
    # Commands of the EXAMPLES section, except the Fashion-MNIST one (minutes long).
    sed -n '/^\.SH EXAMPLES/,/^\.SH FILES/p' man/cnn-train.1 | grep '^cnn-train ' | grep -v '\$F' >"$TMP/examples"
    [ "$(wc -l <"$TMP/examples")" -ge 3 ] || fail "expected at least 3 examples, found $(wc -l <"$TMP/examples")"
    while read -r line; do
        (cd "$dir" && PATH=$BIN:$PATH eval "$line --threads 1 -q") >"$TMP/out" 2>"$TMP/err" ||
            fail "example failed: $line: $(tail -n 3 "$TMP/err")"
    done <"$TMP/examples"
    [ -s "$dir/history.csv" ] || fail "history.csv not written"
    head -n 1 "$dir/history.csv" | grep -q '^epoch,train_loss,train_accuracy,val_loss,val_accuracy' ||
        fail "history.csv header: $(head -n 1 "$dir/history.csv")"
}

test_trains_tiny_model_above_chance() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --json -o "$TMP/tiny.safetensors"
    expect_rc 0
    # 10 classes: chance is 0.1; two epochs of this tiny net reach far beyond it.
    local acc
    acc=$(grep -o '"val_accuracy": [0-9.]*' "$TMP/out" | cut -d' ' -f2)
    [ -n "$acc" ] || fail "no val_accuracy in --json output: $(cat "$TMP/out")"
    awk -v a="$acc" 'BEGIN { exit !(a > 0.8) }' || fail "val accuracy $acc not above 0.8"
    [ -s "$TMP/tiny.safetensors" ] && [ -s "$TMP/tiny.safetensors.ckpt" ] || fail "weights or checkpoint missing"
    ls "$TMP" | grep -q '\.tmp\.' && fail "temporary files left behind: $(ls "$TMP")"
}

test_weights_file_is_self_describing_safetensors() {
    [ -s "$TMP/tiny.safetensors" ] || run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q -o "$TMP/tiny.safetensors"
    local n
    n=$(od -An -t u8 -N8 "$TMP/tiny.safetensors" | tr -d ' ')
    head -c $((8 + n)) "$TMP/tiny.safetensors" | tail -c "$n" >"$TMP/header"
    grep -q '"conv2d.kernel":{"dtype":"F32","shape":\[4,1,5,5\]' "$TMP/header" || fail "conv2d.kernel entry: $(head -c 300 "$TMP/header")"
    grep -q '"dense.kernel":{"dtype":"F32","shape":\[10,144\]' "$TMP/header" || fail "dense.kernel entry (10 units x 4*6*6 inputs)"
    grep -q '"cnn.model":' "$TMP/header" || fail "no cnn.model metadata"
    # 4*1*5*5 + 4 + 144*10 + 10 floats of tensor data
    local bytes
    bytes=$(tensor_bytes "$TMP/tiny.safetensors" | wc -c)
    [ "$bytes" = $(((100 + 4 + 1440 + 10) * 4)) ] || fail "tensor data is $bytes bytes"
}

test_resume_after_epoch_equals_uninterrupted() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 2 -o "$TMP/full.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 -o "$TMP/part.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 2 --resume "$TMP/part.safetensors.ckpt" -o "$TMP/resumed.safetensors"
    expect_rc 0
    cmp -s <(tensor_bytes "$TMP/full.safetensors") <(tensor_bytes "$TMP/resumed.safetensors") ||
        fail "resumed weights differ from the uninterrupted run"
    # And the run really trained: the weights differ from the one-epoch ones.
    cmp -s <(tensor_bytes "$TMP/full.safetensors") <(tensor_bytes "$TMP/part.safetensors") &&
        fail "two epochs gave the same weights as one"
}

# --resume - (issue 10): the checkpoint from standard input, through a pipe or
# redirected from the file, continues the run to the weights --resume FILE
# reached above; its checkpoints go to OUTPUT.ckpt as they would then.  A
# stream that is no checkpoint is named <stdin>, with nothing written, and
# standard input is read once.
test_resume_from_stdin_equals_resume_from_file() {
    local ck=$TMP/part.safetensors.ckpt ref=$TMP/resumed.safetensors
    [ -s "$ref" ] && [ -s "$ck" ] || { fail "no --resume FILE run to compare with"; return; }
    cat "$ck" | "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 2 --resume - \
        -o "$TMP/rs1.safetensors" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0
    cmp -s <(tensor_bytes "$ref") <(tensor_bytes "$TMP/rs1.safetensors") ||
        fail "--resume - (a pipe) reached other weights than --resume FILE"
    cmp -s <(tensor_bytes "$ref.ckpt") <(tensor_bytes "$TMP/rs1.safetensors.ckpt") ||
        fail "--resume - (a pipe): the checkpoint at OUTPUT.ckpt differs from --resume FILE's"
    # --resume - alone (the run's model and data from the checkpoint), redirected
    run "$BIN/cnn-train" --resume - --epochs 2 --threads 1 -q -o "$TMP/rs2.safetensors" <"$ck"
    expect_rc 0
    cmp -s <(tensor_bytes "$ref") <(tensor_bytes "$TMP/rs2.safetensors") ||
        fail "--resume - alone reached other weights than --resume FILE"
    # not a checkpoint; a setting that cannot change
    run "$BIN/cnn-train" --resume - --epochs 2 -q -o "$TMP/rs3.safetensors" <$TINY
    expect_rc 1; expect_err_contains "cnn-train: error: <stdin>: "
    run "$BIN/cnn-train" --resume - --epochs 2 --rotate 5 -q -o "$TMP/rs3.safetensors" <"$ck"
    expect_rc 2; expect_err_contains "cnn-train: error: <stdin>: the run used --rotate 0"
    ls "$TMP" | grep -q '^rs3' && fail "files written after an error: $(ls "$TMP" | grep '^rs3')"
    # standard input is read once
    run "$BIN/cnn-train" --resume - --train-images - --train-labels $D-train-labels-idx1-ubyte.gz \
        -o "$TMP/rs3.safetensors" <"$ck"
    expect_rc 2; expect_out_empty
    [ "$(head -n 1 "$TMP/err")" = "cnn-train: --resume - and --train-images - would both read standard input; give one of them a file" ] ||
        fail "stderr: $(head -n 1 "$TMP/err")"
    run "$BIN/cnn-train" - --resume - -o "$TMP/rs3.safetensors" <"$ck"
    expect_rc 2; expect_err_contains "--resume - and MODEL - would both read standard input"
}

test_sigint_mid_epoch_checkpoints_and_resumes_identically() {
    # The lecture's model takes a few seconds per epoch: the signal lands mid-run.
    "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --threads 1 -q --epochs 2 -o "$TMP/int.safetensors" 2>"$TMP/err" &
    local pid=$!
    sleep 1.5
    kill -INT $pid
    wait $pid
    rc=$?
    if [ "$rc" = 0 ]; then
        echo "  (run finished before SIGINT; nothing to check)" >&2
    else
        expect_rc 130
        expect_err_contains "checkpoint written to"
        [ -e "$TMP/int.safetensors" ] && fail "interrupted run wrote final weights"
        run "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --threads 1 -q --epochs 2 --resume "$TMP/int.safetensors.ckpt" -o "$TMP/int.safetensors"
        expect_rc 0
        run "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --threads 1 -q --epochs 2 -o "$TMP/lee-full.safetensors"
        expect_rc 0
        cmp -s <(tensor_bytes "$TMP/lee-full.safetensors") <(tensor_bytes "$TMP/int.safetensors") ||
            fail "weights after SIGINT + resume differ from the uninterrupted run"
    fi
}

test_unwritable_checkpoint_keeps_old_file_and_fails() {
    echo "previous checkpoint" >"$TMP/old.ckpt"
    # 4 KiB file-size limit: the checkpoint write fails with EFBIG.
    (ulimit -f 4; "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --threads 1 -q --epochs 1 --checkpoint "$TMP/old.ckpt" -o "$TMP/never.safetensors") >"$TMP/out" 2>"$TMP/err"
    rc=$?
    expect_rc 1
    expect_err_contains "old.ckpt"
    expect_err_contains "the previous file, if any, is unchanged"
    [ "$(cat "$TMP/old.ckpt")" = "previous checkpoint" ] || fail "old checkpoint was changed"
    [ -e "$TMP/never.safetensors" ] && fail "weights written after a failed checkpoint"
    ls "$TMP" | grep -q 'old.ckpt.tmp' && fail "temporary file left behind"
}

test_output_in_missing_folder_fails_before_training() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 -o "$TMP/no/such/dir/w.safetensors"
    expect_rc 1
    expect_err_contains "no/such/dir"
}

test_log_in_missing_folder_fails_before_training() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 1 -q --epochs 1 --log "$TMP/no/such/h.csv" -o "$TMP/nolog.safetensors"
    expect_rc 1
    expect_err_contains "no/such/h.csv: cannot create a file in folder"
    [ -e "$TMP/nolog.safetensors" ] && fail "trained although the log cannot be written"
}

test_limit_flags_raise_and_lower_limits() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --max-file-size 1000 -o "$TMP/lim.safetensors"
    expect_rc 1
    # 8000 images of 28x28 bytes = 6,272,000 bytes of data.
    expect_err_contains "= 6272000 data bytes, more than the limit of 1000 bytes"
    run "$BIN/cnn-train" models/lee-mnist.json "${TRAIN[@]}" --max-params 137659 -o "$TMP/lim.safetensors"
    expect_rc 1
    expect_err_contains "exceeds the limit of 137659 parameters"
    run "$BIN/cnn-summary" --max-params 137660 models/lee-mnist.json
    expect_rc 0
}

test_jsonl_log() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --val-split 0.1 --threads 1 -q --epochs 2 --log "$TMP/h.jsonl" -o "$TMP/l.safetensors"
    expect_rc 0
    [ "$(wc -l <"$TMP/h.jsonl")" = 2 ] || fail "expected 2 JSON lines, got $(wc -l <"$TMP/h.jsonl")"
    grep -q '^{"epoch": 2, "train_loss": [0-9.]*, "train_accuracy": [0-9.]*, "val_loss": [0-9.]*, "val_accuracy": [0-9.]*' "$TMP/h.jsonl" ||
        fail "JSON line: $(tail -n 1 "$TMP/h.jsonl")"
}

test_bad_inputs() {
    run "$BIN/cnn-train" $TINY --train-images $D-train-images-idx3-ubyte.gz --train-labels $D-test-labels-idx1-ubyte.gz -o "$TMP/x"
    expect_rc 1; expect_err_contains "2000 labels for 8000 images"
    run "$BIN/cnn-train" models/cifar-cnn.json "${TRAIN[@]}" -o "$TMP/x"
    expect_rc 1; expect_err_contains "images are 28x28 with one channel but the model takes 32x32x3"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --batch-size 0 -o "$TMP/x"
    expect_rc 2; expect_err_contains "--batch-size: expected an integer from 1"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --learning-rate -0.1 -o "$TMP/x"
    expect_rc 2; expect_err_contains "--learning-rate: expected a number >= 1e-12"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --threads 65 -o "$TMP/x"
    expect_rc 2; expect_err_contains "--threads: expected an integer from 1 to 64"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --frobnicate -o "$TMP/x"
    expect_rc 2
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}"
    expect_rc 2; expect_err_contains "-o WEIGHTS.safetensors is required"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --resume $D-train-labels-idx1-ubyte.gz -o "$TMP/x"
    expect_rc 1; expect_err_contains "mnist-train-labels-idx1-ubyte.gz"
    [ -e "$TMP/x" ] && fail "output written despite errors"
}

test_label_out_of_range() {
    # 3-class model on 10-class labels.
    sed 's/"units": 10/"units": 3/' $TINY >"$TMP/three.json"
    run "$BIN/cnn-train" "$TMP/three.json" "${TRAIN[@]}" -o "$TMP/x"
    expect_rc 1; expect_err_contains "out of range: the model has 3 classes (0 to 2)"
}

# An f32 IDX image file of 10 28x28 images, the first one all FLT_MAX (finite:
# a NaN or infinity in the file is refused at load; sums of FLT_MAX overflow to
# infinity in the first layer), the others blank, and 10 labels.
write_nan_set() {
    { printf '\x00\x00\x0d\x03\x00\x00\x00\x0a\x00\x00\x00\x1c\x00\x00\x00\x1c'
      for _ in $(seq 784); do printf '\x7f\x7f\xff\xff'; done
      head -c $((9 * 28 * 28 * 4)) /dev/zero; } >"$TMP/nan-images.idx"
    { printf '\x00\x00\x08\x01\x00\x00\x00\x0a'; head -c 10 /dev/zero; } >"$TMP/nan-labels.idx"
}

test_diverging_loss_is_reported() {
    write_nan_set
    # No relu or pooling to swallow the NaN: it reaches the logits and the loss.
    echo '{"input_shape": [28, 28, 1], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}' >"$TMP/linear.json"
    run "$BIN/cnn-train" "$TMP/linear.json" --train-images "$TMP/nan-images.idx" --train-labels "$TMP/nan-labels.idx" --threads 1 -q --epochs 1 -o "$TMP/nan.safetensors"
    expect_rc 1
    expect_err_contains "the loss became"
    expect_err_contains "at epoch 1, batch"
    [ -e "$TMP/nan.safetensors" ] && fail "weights written after the loss diverged"
}

test_help_and_version() {
    run "$BIN/cnn-train" --help; expect_rc 0; expect_out_contains "--resume FILE"
    run "$BIN/cnn-train" --version; expect_rc 0; expect_out_contains "cnn-train 0.1.0"
}

run_test test_man_examples_run
run_test test_trains_tiny_model_above_chance
run_test test_weights_file_is_self_describing_safetensors
run_test test_resume_after_epoch_equals_uninterrupted
run_test test_resume_from_stdin_equals_resume_from_file
run_test test_sigint_mid_epoch_checkpoints_and_resumes_identically
run_test test_unwritable_checkpoint_keeps_old_file_and_fails
run_test test_output_in_missing_folder_fails_before_training
run_test test_log_in_missing_folder_fails_before_training
run_test test_limit_flags_raise_and_lower_limits
run_test test_jsonl_log
run_test test_bad_inputs
run_test test_label_out_of_range
run_test test_diverging_loss_is_reported
test_check_finite_names_the_layer() {
    write_nan_set
    run "$BIN/cnn-train" $TINY --train-images "$TMP/nan-images.idx" --train-labels "$TMP/nan-labels.idx" --check-finite --threads 1 -q --epochs 1 -o "$TMP/nan2.safetensors"
    expect_rc 1
    expect_err_contains "conv2d"
    expect_err_contains "infinity"
    [ -e "$TMP/nan2.safetensors" ] && fail "weights written after a NaN"
}

# --resume CKPT alone (issue 10): the checkpoint records the model, the data,
# the test set, the outputs and the settings; run from another folder it
# continues the run to the same weights as one that was never stopped, still
# evaluating on the test set and writing the log.
test_resume_alone_continues_the_run() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 2 -o "$TMP/ra-full.safetensors"
    expect_rc 0
    mkdir -p "$TMP/ra" && (cd "$TMP/ra" && "$BIN/cnn-train" "$ROOT/$TINY" "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q \
        --epochs 1 --log h.csv -o part.safetensors) >"$TMP/out" 2>"$TMP/err" || fail "first part: $(cat "$TMP/err")"
    (cd / && "$BIN/cnn-train" --resume "$TMP/ra/part.safetensors.ckpt" --epochs 2 --threads 1 --json) \
        >"$TMP/out" 2>"$TMP/err"
    rc=$?
    expect_rc 0
    expect_out_contains '"val_images": 2000'
    expect_err_contains "test accuracy"
    cmp -s <(tensor_bytes "$TMP/ra-full.safetensors") <(tensor_bytes "$TMP/ra/part.safetensors") ||
        fail "weights of --resume alone differ from the uninterrupted run"
    [ "$(wc -l <"$TMP/ra/h.csv")" = 3 ] || fail "the log has $(wc -l <"$TMP/ra/h.csv") lines, expected a header and 2 rows"
}

# A set given by one path (--train) and the augmentation settings are recorded
# in the checkpoint: --resume alone continues with them to the weights of an
# uninterrupted run; another --rotate on resume is refused (exit 2).
test_resume_keeps_set_path_and_augmentation() {
    local aug=(--rotate 10 --flip --zoom 0.1)
    run "$BIN/cnn-train" $TINY --train $D-train-images-idx3-ubyte.gz "${aug[@]}" --threads 1 -q \
        --epochs 2 -o "$TMP/ag-full.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" $TINY --train $D-train-images-idx3-ubyte.gz "${aug[@]}" --threads 1 -q \
        --epochs 1 -o "$TMP/ag.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" --resume "$TMP/ag.safetensors.ckpt" --epochs 2 --rotate 5 --threads 1 -q
    expect_rc 2
    expect_err_contains "--rotate 10 --zoom 0.1 --flip"
    (cd / && "$BIN/cnn-train" --resume "$TMP/ag.safetensors.ckpt" --epochs 2 --threads 1 -q) \
        >"$TMP/out" 2>"$TMP/err" || fail "resume: $(cat "$TMP/err")"
    cmp -s <(tensor_bytes "$TMP/ag-full.safetensors") <(tensor_bytes "$TMP/ag.safetensors") ||
        fail "resumed weights differ from the uninterrupted augmented run"
    # without the augmentation the run is another one
    run "$BIN/cnn-train" $TINY --train $D-train-images-idx3-ubyte.gz --threads 1 -q --epochs 2 \
        -o "$TMP/plain.safetensors"
    cmp -s <(tensor_bytes "$TMP/ag-full.safetensors") <(tensor_bytes "$TMP/plain.safetensors") &&
        fail "the augmentation changed nothing"
}

# Issue 11 §5: models/fashion-bn.json (Keras' BatchNormalization momentum 0.99)
# tested at chance after one epoch on the embedded digits, because the moving
# statistics had not caught up with the data.  They are now recomputed from
# 4096 training images after every epoch: >= 90 % held out, measured by
# cnn-infer on the written weights; --bn-images 0 (Keras' behaviour) shows
# the problem, so the test can fail.
test_batchnorm_model_is_not_at_chance_after_one_epoch() {
    local b acc
    for b in 4096 0; do
        run "$BIN/cnn-train" models/fashion-bn.json "${TRAIN[@]}" --epochs 1 --bn-images $b -q \
            -o "$TMP/bn$b.safetensors"
        expect_rc 0
        run "$BIN/cnn-infer" -w "$TMP/bn$b.safetensors" "${TEST[@]/--test-/--}" --json -q
        expect_rc 0
        acc=$(grep -o '"accuracy": [0-9.]*' "$TMP/out" | head -1 | awk '{print $2}')
        if [ $b = 0 ]; then
            awk -v a="$acc" 'BEGIN { exit !(a < 0.5) }' || fail "--bn-images 0: held-out accuracy $acc, expected the problem (< 0.5)"
        else
            awk -v a="$acc" 'BEGIN { exit !(a >= 0.90) }' || fail "held-out accuracy $acc < 0.90"
        fi
    done
}

# Settings that may change on resume: --epochs (above), --patience, -o and the
# data paths (given, they override the recorded ones).
test_resume_overrides_outputs_and_patience() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 1 --patience 1 -o "$TMP/ro.safetensors"
    expect_rc 0
    run "$BIN/cnn-train" --resume "$TMP/ro.safetensors.ckpt" --epochs 2 --patience 5 --threads 1 -q \
        -o "$TMP/ro2.safetensors"
    expect_rc 0
    [ -s "$TMP/ro2.safetensors" ] || fail "the output named on resume was not written"
    # A missing recorded file is named.
    run "$BIN/cnn-train" --resume "$TMP/ro.safetensors.ckpt" --epochs 2 --threads 1 -q \
        --train-images "$TMP/none.gz" --train-labels "$D-train-labels-idx1-ubyte.gz" -o "$TMP/ro3.safetensors"
    expect_rc 1
    expect_err_contains "$TMP/none.gz"
}

# A run killed between its last checkpoint and its weights: the resume writes
# the weights, with the figures of the last epoch (not zeros), and trains no
# more; once they exist, a resume is refused (exit 2).
test_resume_of_finished_run_writes_missing_output() {
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --epochs 1 -o "$TMP/fin.safetensors"
    expect_rc 0
    mv "$TMP/fin.safetensors" "$TMP/fin-ref.safetensors"
    run "$BIN/cnn-train" --resume "$TMP/fin.safetensors.ckpt" --threads 1 -q
    expect_rc 0
    cmp -s <(tensor_bytes "$TMP/fin-ref.safetensors") <(tensor_bytes "$TMP/fin.safetensors") ||
        fail "the weights written on resume are not the run's"
    local a b
    a=$(grep -ao '"cnn.metrics":"[^"]*\(\\"[^"]*\)*"' "$TMP/fin-ref.safetensors" | head -n 1)
    b=$(grep -ao '"cnn.metrics":"[^"]*\(\\"[^"]*\)*"' "$TMP/fin.safetensors" | head -n 1)
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "metrics differ: \"$a\" vs \"$b\""
    run "$BIN/cnn-train" --resume "$TMP/fin.safetensors.ckpt" --threads 1 -q
    expect_rc 2
    expect_err_contains "the run already finished (1 of 1 epochs done)"
}

# The --test-images file is read again at every evaluation (issue 13), not kept
# in memory; a pipe, which cannot be read twice, is read once into memory.  The
# figures and weights are the same either way.
test_test_images_streamed_or_from_a_pipe_give_the_same_figures() {
    local strip='s/, "images_per_second": [0-9.]*, "elapsed_seconds": [0-9.]*//'
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" "${TEST[@]}" --threads 1 -q --json --epochs 2 -o "$TMP/file.st"
    expect_rc 0
    sed "$strip" "$TMP/out" >"$TMP/file.json"
    run "$BIN/cnn-train" $TINY "${TRAIN[@]}" --test-images <(gzip -dc $D-test-images-idx3-ubyte.gz) \
        --test-labels $D-test-labels-idx1-ubyte.gz --threads 1 -q --json --epochs 2 -o "$TMP/pipe.st"
    expect_rc 0
    sed "$strip" "$TMP/out" >"$TMP/pipe.json"
    grep -q '"val_accuracy"' "$TMP/file.json" || fail "no val_accuracy: $(cat "$TMP/file.json")"
    cmp -s "$TMP/file.json" "$TMP/pipe.json" || fail "figures differ: $(cat "$TMP/file.json" "$TMP/pipe.json")"
    cmp -s "$TMP/file.st" "$TMP/pipe.st" || fail "weights differ"
}

run_test test_check_finite_names_the_layer
run_test test_help_and_version
run_test test_resume_alone_continues_the_run
run_test test_resume_keeps_set_path_and_augmentation
run_test test_batchnorm_model_is_not_at_chance_after_one_epoch
run_test test_resume_overrides_outputs_and_patience
run_test test_resume_of_finished_run_writes_missing_output
run_test test_test_images_streamed_or_from_a_pipe_give_the_same_figures
finish
