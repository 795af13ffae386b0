#!/usr/bin/env bash
# cnn-train-mpi (issue 14): N ranks train the same model as one process.
# Runs when Open MPI is installed and bin/cnn-train-mpi is built (`make test`
# builds it then); otherwise says so and counts nothing.  Weights are compared
# float by float with od and awk: the largest absolute difference of the
# tensors' data, which both files hold in the same order (written by the same
# code from the same model).
. "$(dirname "$0")/lib.sh"
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$BIN/cnn-train-mpi" ]; then
    echo "mpi: Open MPI or $BIN/cnn-train-mpi missing (make deps-mpi mpi); skipped" >&2
    finish; exit
fi
# Open MPI's own allocations are not ours to judge under LeakSanitizer.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# (mpirun's default of killing the ranks 1 s after its SIGTERM is kept: a
# rank blocked in a collective whose peer died waits for that kill, and 60 s
# made this file take eight minutes.)
MPIRUN="mpirun --allow-run-as-root --oversubscribe --bind-to none"
# A hang guard only (a run that deadlocks fails instead of stalling CI), far
# above any run's time; no test here measures speed.
GUARD="timeout -k 5 300"

D=data/mnist
ALL=(--train-images $D-train-images-idx3-ubyte.gz --train-labels $D-train-labels-idx1-ubyte.gz
     --test-images $D-test-images-idx3-ubyte.gz --test-labels $D-test-labels-idx1-ubyte.gz)

# The first 64 training images and labels, as IDX files: one batch of 64.
idx_head() { # SRC DST HEADER_BYTES RECORD_BYTES MAGIC_AND_DIMS_HEX
    { printf "$5"; zcat "$1" | tail -c +$(($3 + 1)) | head -c $((64 * $4)); } >"$2"
}
idx_head $D-train-images-idx3-ubyte.gz "$TMP/i64" 16 784 '\x00\x00\x08\x03\x00\x00\x00\x40\x00\x00\x00\x1c\x00\x00\x00\x1c'
idx_head $D-train-labels-idx1-ubyte.gz "$TMP/l64" 8 1 '\x00\x00\x08\x01\x00\x00\x00\x40'
ONE=(--train-images "$TMP/i64" --train-labels "$TMP/l64")

# floats FILE: the tensor data of a safetensors file, one float per line.
floats() {
    local n; n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    od -An -v -t f4 -j $((8 + n)) "$1" | tr -s ' ' '\n' | sed '/^$/d'
}
# maxdiff A B: the largest |a - b| over the two files' tensor data.
maxdiff() {
    floats "$1" >"$TMP/fa"; floats "$2" >"$TMP/fb"
    [ "$(wc -l <"$TMP/fa")" = "$(wc -l <"$TMP/fb")" ] || { echo "size-mismatch"; return; }
    paste "$TMP/fa" "$TMP/fb" | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d}
                                     END {printf "%.3g\n", m + 0}'
}
# expect_close A B TOL WHAT
expect_close() {
    local d; d=$(maxdiff "$1" "$2")
    awk -v d="$d" -v t="$3" 'BEGIN {exit !(d != "size-mismatch" && d <= t)}' ||
        fail "$4: weights differ by $d (tolerance $3)"
    echo "  $4: max |difference| $d" >&2
}

# ---- one step: batch 64, one process vs 2 and 3 ranks ----------------------
one_step() { # MODEL OPTIMIZER
    local m=$1 opt=$2 tag; tag=$(basename "$1" .json)-$2
    run $GUARD "$BIN/cnn-train" "$m" "${ONE[@]}" --epochs 1 --batch-size 64 --optimizer "$opt" \
        --threads 1 -q -o "$TMP/$tag-1.st"
    expect_rc 0
    for n in 2 3; do
        run $GUARD $MPIRUN -n $n "$BIN/cnn-train-mpi" "$m" "${ONE[@]}" --epochs 1 --batch-size 64 \
            --optimizer "$opt" --threads 1 -q -o "$TMP/$tag-$n.st"
        expect_rc 0
        expect_close "$TMP/$tag-1.st" "$TMP/$tag-$n.st" "${3:-1e-6}" "one step, $tag, $n ranks"
    done
}
one_step_lecture_model_sgd_matches_one_process() { one_step models/lee-mnist.json sgd; }
one_step_lecture_model_adam_matches_one_process() { one_step models/lee-mnist.json adam; }
one_step_batchnorm_dropout_sgd_matches_one_process() { one_step models/fashion-bn.json sgd; }
# Adam's first update is lr * g / (|g| + eps) per weight: for a gradient near
# eps (1e-7) a rounding difference dg in the summed gradient moves the weight
# by up to lr * dg / eps = 1e4 dg.  Gradients of at most ~0.1, summed in
# float32 in another order, differ by ~1e-9 at most, hence 1e-5 for this model,
# some of whose dense.kernel gradients sit near eps (seen: 1.1e-6 to 2.4e-6,
# with OpenBLAS's kernel and its ranks' row counts).  A wrong gradient still
# fails: it moves weights by ~lr = 1e-3.
one_step_batchnorm_dropout_adam_matches_one_process() { one_step models/fashion-bn.json adam 1e-5; }

# relative_l2 A B: |a - b| / |a| over the two files' tensor data (2-norms).
relative_l2() {
    floats "$1" >"$TMP/fa"; floats "$2" >"$TMP/fb"
    [ "$(wc -l <"$TMP/fa")" = "$(wc -l <"$TMP/fb")" ] || { echo "size-mismatch"; return; }
    paste "$TMP/fa" "$TMP/fb" | awk '{d = $1 - $2; s += d * d; r += $1 * $1}
                                     END {printf "%.3g\n", (r > 0 ? sqrt(s / r) : 0)}'
}
# held_out FILE: the number of correct test images in cnn-train's closing line.
held_out() { sed -n 's/^test accuracy [0-9.]* (\([0-9]*\) of 2000).*/\1/p' "$1"; }

# ---- whole run: 1 epoch of the lecture model on the embedded digits ---------
# 8000 images, 125 steps of Adam.  Summing a batch's gradient in another order
# (two slices, three slices) changes it by ~1e-8 relative; a hundred steps of
# training amplify such roundings (a ReLU or max-pool choice flips, Adam
# divides by sqrt(v) + 1e-7) to ~2e-2 in the weights' relative 2-norm.  One
# process with --threads 2 instead of 1 lands at the same distance (1.7e-2,
# measured): it is the summation order, not the ranks.  A real change of the
# optimization is far larger: batch 32 instead of 64 gives 0.26, another seed
# 1.4.  Hence 0.05 for the weights, and 10 of the 2000 test images (0.5
# points) for the accuracy; observed 2 ranks 0.017 and +1 image, 3 ranks
# 1.4e-4 and 0 images.
whole_run_matches_one_process() {
    run $GUARD "$BIN/cnn-train" models/lee-mnist.json "${ALL[@]}" --epochs 1 --threads 1 \
        -o "$TMP/run-1.st"
    expect_rc 0
    local ref; ref=$(held_out "$TMP/err")
    [ -n "$ref" ] || { fail "no held-out accuracy: $(tail -n 2 "$TMP/err")"; return; }
    for n in 2 3; do
        run $GUARD $MPIRUN -n $n "$BIN/cnn-train-mpi" models/lee-mnist.json "${ALL[@]}" \
            --epochs 1 --threads 1 -o "$TMP/run-$n.st"
        expect_rc 0
        local got d; got=$(held_out "$TMP/err")
        [ -n "$got" ] && [ $((got - ref)) -le 10 ] && [ $((ref - got)) -le 10 ] ||
            fail "$n ranks: $got of 2000 test images right, one process $ref (tolerance 10)"
        d=$(relative_l2 "$TMP/run-1.st" "$TMP/run-$n.st")
        awk -v d="$d" 'BEGIN {exit !(d ~ /^[0-9.e+-]+$/ && d + 0 <= 0.05)}' ||
            fail "$n ranks: weights differ by $d relative (tolerance 0.05)"
        echo "  whole run, $n ranks: $got of 2000 (one process $ref), weights $d relative" >&2
    done
}

# ---- resume: a 2-rank run killed mid-epoch goes on with 3, 2 or 1 ----------
# meta FILE KEY: a value of a safetensors file's metadata (a checkpoint's).
meta() {
    local n; n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" | grep -o "\"$2\":\"[^\"]*\"" | cut -d'"' -f4
}
# tensors FILE: the tensor data of a safetensors file, as bytes.
tensors() { local n; n=$(od -An -t u8 -N 8 "$1" | tr -d ' '); tail -c +$((8 + n + 1)) "$1"; }
# The lecture model on the first 1000 digits, 3 epochs of 16 steps, SGD with
# momentum (a state the checkpoint carries).  SGD at this rate does not
# amplify roundings as Adam does (see the whole run): 1, 2 and 3 ranks end
# 6e-9 apart (relative 2-norm), while one step more or less moves the weights
# by ~2e-4 (3 epochs against 2: 3.6e-3).  Hence 1e-6 across rank counts.
RES=(models/lee-mnist.json --train-images "$TMP/i1000" --train-labels "$TMP/l1000" --epochs 3
     --optimizer sgd --momentum 0.9 --threads 1 -q)
resume_sets() {
    [ -e "$TMP/i1000" ] && return
    { printf '\x00\x00\x08\x03\x00\x00\x03\xe8\x00\x00\x00\x1c\x00\x00\x00\x1c'
      zcat $D-train-images-idx3-ubyte.gz | tail -c +17 | head -c $((1000 * 784)); } >"$TMP/i1000"
    { printf '\x00\x00\x08\x01\x00\x00\x03\xe8'
      zcat $D-train-labels-idx1-ubyte.gz | tail -c +9 | head -c 1000; } >"$TMP/l1000"
}
# Starts a 2-rank run, waits for its first checkpoint (epoch 1 done), then
# SIGKILLs one rank before the run ends; the job must end non-zero with no
# output and a valid checkpoint of epoch 1 or 2.  The kill races the training:
# an epoch takes ~60 ms on two cores (with this stop's kernels), so the ranks
# are looked up while epoch 1 runs, both share one core (taskset: the same
# sums, twice the time), and the kill may land in epoch 2 or 3.
killed_2_rank_run() {
    local dir=$TMP/killed; rm -rf "$dir"; mkdir -p "$dir"
    local one_core=""; command -v taskset >/dev/null && one_core="taskset -c 0"
    $GUARD $one_core $MPIRUN -n 2 "$BIN/cnn-train-mpi" "${RES[@]}" -o "$dir/w.st" 2>"$dir/err" &
    local guard=$! job="" ranks="" i
    for i in $(seq 1 3000); do
        [ -e "$dir/w.st.ckpt" ] && break
        kill -0 $guard 2>/dev/null || break
        if [ -z "$ranks" ]; then
            job=$(pgrep -P $guard | head -n 1)
            [ -n "$job" ] && ranks=$(pgrep -P "$job" -f cnn-train-mpi)
            [ "$(echo $ranks | wc -w)" = 2 ] || ranks=""
        fi
        sleep 0.01
    done
    [ -e "$dir/w.st.ckpt" ] || { fail "no checkpoint appeared: $(cat "$dir/err")"; wait $guard; return 1; }
    if [ -z "$ranks" ]; then
        job=$(pgrep -P $guard | head -n 1)
        [ -n "$job" ] && ranks=$(pgrep -P "$job" -f cnn-train-mpi)
    fi
    set -- $ranks
    [ $# = 2 ] || { fail "expected 2 ranks under mpirun, found: $ranks"; wait $guard; return 1; }
    kill -KILL "$2"
    wait $guard; local rc=$?
    [ $rc != 0 ] && [ $rc != 124 ] || { fail "mpirun exit status $rc"; return 1; }
    [ ! -e "$dir/w.st" ] || { fail "the killed run wrote its output"; return 1; }
    case $(meta "$dir/w.st.ckpt" cnn.epoch) in
    1 | 2) echo "  killed: checkpoint of epoch $(meta "$dir/w.st.ckpt" cnn.epoch) left" >&2 ;;
    *) fail "the kill did not land before the last epoch (checkpoint of epoch $(meta "$dir/w.st.ckpt" cnn.epoch))"; return 1 ;;
    esac
    return 0
}
# resume_from_killed_run WHAT REF_OUT CMD...: an uninterrupted run with CMD
# gives REF_OUT; CMD --resume (a copy of) the killed run's checkpoint gives the
# same weights: byte for byte with 2 ranks (the same sums in the same order),
# within 1e-6 relative otherwise (the epochs before the kill were summed by 2
# ranks).
resume_from_killed_run() {
    local what=$1 tol=$2; shift 2
    cp "$TMP/killed/w.st.ckpt" "$TMP/$what.ckpt"
    run "$@" "${RES[@]}" -o "$TMP/$what-ref.st" --checkpoint "$TMP/$what-ref.ckpt"
    expect_rc 0
    # (--threads is not a setting a checkpoint keeps: one thread, as the others.)
    run "$@" --resume "$TMP/$what.ckpt" --checkpoint "$TMP/$what.ckpt" --threads 1 \
        -o "$TMP/$what-resumed.st"
    expect_rc 0
    [ "$(meta "$TMP/$what.ckpt" cnn.epoch)" = 3 ] || fail "$what: the resumed run did not finish"
    if [ "$tol" = bytes ]; then
        if cmp -s <(tensors "$TMP/$what-ref.st") <(tensors "$TMP/$what-resumed.st"); then
            echo "  resume with $what: weights identical to the uninterrupted run's" >&2
        else
            fail "$what: resumed weights differ from the uninterrupted run's"
        fi
    else
        local d; d=$(relative_l2 "$TMP/$what-ref.st" "$TMP/$what-resumed.st")
        awk -v d="$d" -v t="$tol" 'BEGIN {exit !(d ~ /^[0-9.e+-]+$/ && d + 0 <= t)}' ||
            fail "$what: weights differ by $d relative (tolerance $tol)"
        echo "  resume with $what: weights $d relative from the uninterrupted run's" >&2
    fi
}
run_killed_mid_epoch_resumes_with_other_rank_counts() {
    resume_sets
    killed_2_rank_run || return
    resume_from_killed_run 2-ranks bytes $GUARD $MPIRUN -n 2 "$BIN/cnn-train-mpi"
    resume_from_killed_run 3-ranks 1e-6 $GUARD $MPIRUN -n 3 "$BIN/cnn-train-mpi"
    resume_from_killed_run cnn-train 1e-6 $GUARD "$BIN/cnn-train"
}

# ---- SIGINT/SIGTERM: the batch ends on every rank, the checkpoint is written -
# Open MPI 4.1's mpirun, signalled, sends its ranks SIGCONT at once, SIGTERM
# odls_base_sigkill_timeout seconds later (default 1) and SIGKILL as much
# later again: the ranks finish the batch and write the checkpoint in that
# second.  mpirun itself then exits 1 whatever its ranks return (the status
# orterun's clean_abort sets when it is told to abort); SIGTERM to the ranks
# themselves, as a batch scheduler sends it, ends mpirun with their 130.
# interrupted_run HOW: the resume test's 2-rank run, made SIG_EPOCHS epochs long
# so that it outlasts mpirun's one-second delay on a fast quiet machine (three
# epochs finished before the signal came, in CI), signalled once its epoch 1 is
# checkpointed; one "interrupted" message, a checkpoint of an unfinished run, no
# output.  Leaves the checkpoint in $TMP/sig-HOW/w.st.ckpt.
SIG_EPOCHS=30
interrupted_run() {
    local how=$1 dir=$TMP/sig-$1 i job; rm -rf "$dir"; mkdir -p "$dir"
    # (setsid: mpirun and its ranks in a process group of their own, mpirun its leader.)
    $GUARD setsid $MPIRUN -n 2 "$BIN/cnn-train-mpi" "${RES[@]}" --epochs $SIG_EPOCHS -o "$dir/w.st" \
        2>"$dir/err" &
    local guard=$!
    for i in $(seq 1 3000); do
        [ -e "$dir/w.st.ckpt" ] && break
        kill -0 $guard 2>/dev/null || break
        sleep 0.01
    done
    job=$(pgrep -P $guard | head -n 1)
    case $how in
    term-mpirun) kill -TERM "$job" ;;
    int-group) kill -INT -- -"$job" ;; # Ctrl-C: the terminal's whole process group
    term-ranks) kill -TERM $(pgrep -P "$job" -f cnn-train-mpi) ;;
    esac
    wait $guard; rc=$?
    cp "$dir/err" "$TMP/err"
    expect_err_contains "cnn-train-mpi: interrupted; checkpoint written to $dir/w.st.ckpt"
    [ "$(grep -c 'cnn-train-mpi' "$dir/err")" = 1 ] || fail "$how: not one message: $(cat "$dir/err")"
    [ ! -e "$dir/w.st" ] || fail "$how: an output was written"
    local b e; b=$(meta "$dir/w.st.ckpt" cnn.batch); e=$(meta "$dir/w.st.ckpt" cnn.epoch)
    [ -n "$e" ] && [ "$e" -lt $SIG_EPOCHS ] || fail "$how: the checkpoint is of a finished run (epoch '$e')"
    echo "  $how: mpirun exit $rc; checkpoint at epoch $e, batch $b" >&2
}
sigterm_to_mpirun_checkpoints_the_batch_and_resumes_exactly() {
    resume_sets
    interrupted_run term-mpirun
    [ "$rc" = 1 ] || fail "mpirun exit status $rc (Open MPI 4.1 gives 1)"
    # Resumed with 2 ranks: the uninterrupted 2-rank run's weights, byte for byte.
    run $GUARD $MPIRUN -n 2 "$BIN/cnn-train-mpi" "${RES[@]}" --epochs $SIG_EPOCHS \
        -o "$TMP/sig-ref.st"
    run $GUARD $MPIRUN -n 2 "$BIN/cnn-train-mpi" --resume "$TMP/sig-term-mpirun/w.st.ckpt" \
        --threads 1 -q -o "$TMP/sig-resumed.st"
    expect_rc 0
    cmp -s <(tensors "$TMP/sig-ref.st") <(tensors "$TMP/sig-resumed.st") ||
        fail "resumed weights differ from the uninterrupted run's"
}
ctrl_c_checkpoints_the_batch() {
    resume_sets
    interrupted_run int-group
    [ "$rc" = 1 ] || fail "mpirun exit status $rc (Open MPI 4.1 gives 1)"
}
sigterm_to_the_ranks_exits_130() {
    resume_sets
    interrupted_run term-ranks
    [ "$rc" = 130 ] || fail "mpirun exit status $rc, expected the ranks' 130"
}

# ---- man/cnn-train-mpi.1 ------------------------------------------------------
# Its scaling table is bench/mpi_model.py's output (parameters and FLOPs from
# cnn-summary), and the commands of its EXAMPLES run as written (mpirun with
# this file's options) in a folder holding data/ and tests/train/.
man_page_table_is_the_models_output() {
    python3 bench/mpi_model.py --bin "$BIN" >"$TMP/table" || { fail "mpi_model.py failed"; return; }
    sed -n '/^\.TS/,/^\.TE/p' man/cnn-train-mpi.1 | sed '1,2d;$d' >"$TMP/page-table"
    cmp -s "$TMP/table" "$TMP/page-table" ||
        fail "the table differs: $(diff "$TMP/table" "$TMP/page-table" | head -n 6)"
    [ "$(wc -l <"$TMP/table")" = 19 ] || fail "expected 18 rows and a header"
}
man_page_examples_run() {
    local dir=$TMP/examples n=0 line
    mkdir -p "$dir/tests" && ln -s "$PWD/data" "$dir/data" && ln -s "$PWD/tests/train" "$dir/tests/train"
    while IFS= read -r line; do
        line=$(printf '%s\n' "$line" | sed 's/\\-/-/g; s/\\e/\\/g')
        line=${line/#mpirun /$MPIRUN }
        line=${line//cnn-train-mpi /$BIN/cnn-train-mpi }
        (cd "$dir" && eval "$GUARD $line") >"$TMP/out" 2>"$TMP/err" ||
            fail "example failed: $line: $(tail -n 3 "$TMP/err")"
        n=$((n + 1))
    done < <(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' man/cnn-train-mpi.1 | sed -n '/^\.EX/,/^\.EE/p' |
             grep -v '^\.E[XE]')
    [ "$n" -ge 1 ] || fail "no example found"
    [ -s "$dir/w.safetensors" ] || fail "the example wrote no weights"
}

# ---- errors: every rank stops, one message, no output ----------------------
TINY=tests/train/tiny.json
missing_file_on_one_rank_stops_all_with_one_message() {
    run $GUARD $MPIRUN -n 1 "$BIN/cnn-train-mpi" $TINY "${ALL[@]}" --threads 1 -q -o "$TMP/e1.st" : \
        -n 1 "$BIN/cnn-train-mpi" $TINY --train-images "$TMP/absent.gz" \
        --train-labels $D-train-labels-idx1-ubyte.gz --test-images $D-test-images-idx3-ubyte.gz \
        --test-labels $D-test-labels-idx1-ubyte.gz --threads 1 -q -o "$TMP/e1.st"
    [ "$rc" != 0 ] || fail "exit status 0"
    expect_err_contains "cnn-train-mpi: error: rank 1 of 2: $TMP/absent.gz: cannot open"
    [ "$(grep -c 'cnn-train-mpi: error' "$TMP/err")" = 1 ] || fail "not one message: $(cat "$TMP/err")"
    [ ! -e "$TMP/e1.st" ] && [ ! -e "$TMP/e1.st.ckpt" ] || fail "an output was written"
}
rank_exiting_early_ends_the_job() {
    run $GUARD $MPIRUN -n 1 "$BIN/cnn-train-mpi" $TINY "${ALL[@]}" --threads 1 -q -o "$TMP/e2.st" : \
        -n 1 false
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "exit status $rc"
    [ ! -e "$TMP/e2.st" ] || fail "an output was written"
}
ranks_with_different_settings_are_refused() {
    run $GUARD $MPIRUN -n 1 "$BIN/cnn-train-mpi" $TINY "${ALL[@]}" --threads 1 -q -o "$TMP/e3.st" : \
        -n 1 "$BIN/cnn-train-mpi" $TINY "${ALL[@]}" --epochs 3 --threads 1 -q -o "$TMP/e3.st"
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "exit status $rc"
    expect_err_contains "rank 0 of 2: the ranks were started with different data or settings"
    [ "$(grep -c 'cnn-train-mpi: error' "$TMP/err")" = 1 ] || fail "not one message: $(cat "$TMP/err")"
}
misuse_is_reported_once() {
    run $GUARD $MPIRUN -n 2 "$BIN/cnn-train-mpi" $TINY --epochs 0
    [ "$(grep -c 'cnn-train-mpi:' "$TMP/err")" = 1 ] || fail "not one message: $(cat "$TMP/err")"
}
run_test missing_file_on_one_rank_stops_all_with_one_message
run_test rank_exiting_early_ends_the_job
run_test ranks_with_different_settings_are_refused
run_test misuse_is_reported_once

run_test one_step_lecture_model_sgd_matches_one_process
run_test one_step_lecture_model_adam_matches_one_process
run_test one_step_batchnorm_dropout_sgd_matches_one_process
run_test one_step_batchnorm_dropout_adam_matches_one_process
run_test whole_run_matches_one_process
run_test run_killed_mid_epoch_resumes_with_other_rank_counts
run_test sigterm_to_mpirun_checkpoints_the_batch_and_resumes_exactly
run_test ctrl_c_checkpoints_the_batch
run_test sigterm_to_the_ranks_exits_130
run_test man_page_table_is_the_models_output
run_test man_page_examples_run
finish
