#!/usr/bin/env bash
# Crash safety of cnn-train: SIGKILL at random moments, many times over.
#
# A tiny model on 100 images trains an epoch in a few milliseconds and writes
# its checkpoint (fsync'd) after every epoch, so much of a run is spent in
# checkpoint writes and random kills land in them too.  Runs are chained: each
# resumes from whatever checkpoint the previous, killed, run left.  After every
# kill the checkpoint (and the output, if any) must load cleanly; every chain
# must end with exactly the weights of an uninterrupted run (same seed, one
# thread); when it ends, no temporary file may remain (a killed write leaves
# one, and the next successful write of the same file removes it).
# CRASH_KILLS (default 60) sets the number of kills, CRASH_SEED the random seed.
. "$(dirname "$0")/lib.sh"
D=data/mnist
TINY=tests/train/tiny.json
KILLS=${CRASH_KILLS:-60}
SEED=${CRASH_SEED:-$$}
EPOCHS=40

tensor_bytes() {
    local n
    n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
    tail -c +$((8 + n + 1)) "$1"
}

# The first 100 training images and labels as plain IDX files.
make_set() {
    { printf '\x00\x00\x08\x03\x00\x00\x00\x64\x00\x00\x00\x1c\x00\x00\x00\x1c'
      gzip -dc $D-train-images-idx3-ubyte.gz | tail -c +17 | head -c $((100 * 784)); } >"$TMP/images"
    { printf '\x00\x00\x08\x01\x00\x00\x00\x64'
      gzip -dc $D-train-labels-idx1-ubyte.gz | tail -c +9 | head -c 100; } >"$TMP/labels"
}

train() { # train OUT [extra args...]
    local out=$1; shift
    "$BIN/cnn-train" $TINY --train-images "$TMP/images" --train-labels "$TMP/labels" \
        --epochs $EPOCHS --threads 1 -q -o "$out" "$@"
}

# The same in the background, $! being cnn-train itself (SIGKILL must reach it,
# not a subshell).
train_bg() {
    local out=$1; shift
    "$BIN/cnn-train" $TINY --train-images "$TMP/images" --train-labels "$TMP/labels" \
        --epochs $EPOCHS --threads 1 -q -o "$out" "$@" 2>"$TMP/train.err" &
}

# Loads a weights file or checkpoint the way the tools do and runs it.
loads_cleanly() {
    "$BIN/cnn-infer" -w "$1" --images "$TMP/images" --batch-size 100 --threads 1 -q \
        >"$TMP/infer.out" 2>"$TMP/infer.err" && [ "$(wc -l <"$TMP/infer.out")" = 100 ]
}

test_sigkill_at_random_moments_never_corrupts_and_resume_matches() {
    make_set
    train "$TMP/ref.safetensors" || { fail "uninterrupted run failed"; return; }
    tensor_bytes "$TMP/ref.safetensors" >"$TMP/ref.bytes"
    # The uninterrupted run's duration in ms bounds the random kill delays.
    local t0 t1 span
    t0=$(date +%s%N); train "$TMP/time.safetensors"; t1=$(date +%s%N)
    span=$(((t1 - t0) / 1000000 + 20))
    echo "  seed $SEED, run time ${span}ms, $KILLS kills" >&2

    RANDOM=$SEED
    local dir=$TMP/chain kills=0 in_write=0 chains=0 runs=0 out ckpt pid rc ms
    mkdir -p "$dir"
    out=$dir/w.safetensors; ckpt=$out.ckpt
    while [ $kills -lt "$KILLS" ]; do
        runs=$((runs + 1))
        [ $runs -gt $((KILLS * 5)) ] && { fail "only $kills kills landed in $runs runs"; break; }
        local resume=()
        [ -e "$ckpt" ] && resume=(--resume "$ckpt")
        train_bg "$out" "${resume[@]}"
        pid=$!
        ms=$((RANDOM % span))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -KILL $pid 2>/dev/null
        wait $pid 2>/dev/null
        rc=$?
        if [ $rc = 137 ]; then
            kills=$((kills + 1))
            ls "$dir" | grep -q '\.tmp\.' && in_write=$((in_write + 1))
            if [ -e "$ckpt" ] && ! loads_cleanly "$ckpt"; then
                fail "kill $kills (after ${ms}ms): checkpoint does not load: $(head -c 300 "$TMP/infer.err")"
                cp "$ckpt" "$TMP/bad.ckpt"; break
            fi
            if [ -e "$out" ] && ! loads_cleanly "$out"; then
                fail "kill $kills (after ${ms}ms): output does not load: $(head -c 300 "$TMP/infer.err")"
                break
            fi
        elif [ $rc = 0 ] || { [ $rc = 2 ] && grep -q 'the run already finished' "$TMP/train.err"; }; then
            # The chain is complete (or was, when a kill landed after the weights
            # were written: the resume then says the run finished, exit 2): same
            # weights as the uninterrupted run, no leftovers.
            chains=$((chains + 1))
            cmp -s "$TMP/ref.bytes" <(tensor_bytes "$out") ||
                { fail "chain $chains: final weights differ from the uninterrupted run"; break; }
            ls "$dir" | grep -q '\.tmp\.' &&
                { fail "chain $chains: temporaries left: $(ls "$dir" | tr '\n' ' ')"; break; }
            rm -f "$dir"/*
        else
            fail "run $runs exited $rc (not killed): $(head -c 300 "$TMP/train.err")"
            break
        fi
    done
    # Finish the last chain without kills.
    if [ $_cur_failed = 0 ]; then
        local resume=()
        [ -e "$ckpt" ] && resume=(--resume "$ckpt")
        train "$out" "${resume[@]}" 2>"$TMP/train.err" || grep -q 'the run already finished' "$TMP/train.err" ||
            fail "final resume failed: $(head -c 300 "$TMP/train.err")"
        chains=$((chains + 1))
        cmp -s "$TMP/ref.bytes" <(tensor_bytes "$out") || fail "last chain: final weights differ from the uninterrupted run"
        ls "$dir" | grep -q '\.tmp\.' && fail "temporaries left after the last chain: $(ls "$dir" | tr '\n' ' ')"
    fi
    echo "  $kills kills in $runs runs ($in_write during a write, leaving a temporary), $chains chains completed" >&2
    [ $in_write -ge 1 ] || echo "  note: no kill landed inside a write this time" >&2
}

run_test test_sigkill_at_random_moments_never_corrupts_and_resume_matches
finish
