#!/usr/bin/env bash
# The bad-input table: runs every tests/bad-inputs/*.case (format in
# tests/bad-inputs/README.md) and counts each as one test.  A case passes when
# the tool exits with the expected status, the first line of stderr is the
# expected message, stdout holds the expected number of lines (none by
# default), the case's folder holds exactly the files it held before the run,
# byte for byte (no output, no temporary, previous files intact), and the tool
# neither crashed (status >= 128 other than an expected one) nor hung
# (timeout $CASE_TIMEOUT seconds, 30 by default).
#
# BIN: the binaries under test; PREP_BIN: those that train the prepared
# weights (default BIN; tests/valgrind.sh points BIN at valgrind wrappers and
# PREP_BIN at the real ones).  CASES: a glob of case names to run (default *).
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
PREP_BIN=$(cd "${PREP_BIN:-$BIN}" && pwd)
CASE_TIMEOUT=${CASE_TIMEOUT:-30}
FX=$ROOT/tests/bad-inputs/fixtures
D=$ROOT/data/mnist

# The prepared weights: $W of tests/train/tiny.json, $W_OTHER of the same
# model with 3 filters instead of 4 (another model); each with its .ckpt.
prepare() {
    mkdir -p "$TMP/prep"
    sed 's/"filters": 4/"filters": 3/' tests/train/tiny.json >"$TMP/prep/other.json"
    W=$TMP/prep/tiny.safetensors
    W_OTHER=$TMP/prep/other.safetensors
    local m o
    for m in tiny other; do
        [ $m = tiny ] && o=$W || o=$W_OTHER
        [ $m = tiny ] && m=tests/train/tiny.json || m=$TMP/prep/other.json
        "$PREP_BIN/cnn-train" "$m" --train-images $D-test-images-idx3-ubyte.gz \
            --train-labels $D-test-labels-idx1-ubyte.gz --epochs 1 --threads 1 -q -o "$o" \
            >/dev/null 2>"$TMP/prep/err" || return 1
    done
}
if ! prepare; then
    echo "could not train the prepared weights: $(cat "$TMP/prep/err")" >&2
    echo "0 passed, 1 failed"; exit 1
fi

# Every file under a folder with its checksum, sorted.
listing() { (cd "$1" && find . -mindepth 1 | sort | while IFS= read -r f; do
    if [ -f "$f" ]; then printf '%s %s\n' "$(cksum <"$f")" "$f"; else printf 'dir %s\n' "$f"; fi
done); }

# run_case FILE: sources the case in a subshell and checks it.
run_case() {
    local file=$1 name
    name=$(basename "$file" .case)
    local T=$TMP/case/$name
    rm -rf "$T"; mkdir -p "$T"
    (
        set -u
        unset -f setup 2>/dev/null
        run=(); status=; message=; message_part=; stdout_lines=0; stdin=/dev/null
        # shellcheck disable=SC1090
        . "$file" || { echo "  $name: the case file does not source"; exit 1; }
        [ ${#run[@]} -gt 0 ] || { echo "  $name: no run=(...)"; exit 1; }
        [ -n "$status" ] || { echo "  $name: no status="; exit 1; }
        [ -n "$message$message_part" ] || { echo "  $name: no message= or message_part="; exit 1; }
        if declare -F setup >/dev/null; then
            (cd "$T" && setup) || { echo "  $name: setup failed"; exit 1; }
        fi
        listing "$T" >"$TMP/before"
        (cd "$T" && timeout -k 5 "$CASE_TIMEOUT" "${run[@]}") <"$stdin" >"$TMP/out" 2>"$TMP/err"
        local rc=$? bad=0
        if [ $rc = 124 ] || [ $rc = 137 ]; then
            echo "  $name: hung (killed after ${CASE_TIMEOUT}s)"; bad=1
        elif [ $rc -ge 128 ] && [ "$rc" != "$status" ]; then
            echo "  $name: crashed (exit status $rc, signal $((rc - 128)))"; bad=1
        elif [ "$rc" != "$status" ]; then
            echo "  $name: exit status $rc, expected $status"; bad=1
        fi
        local first
        first=$(head -n 1 "$TMP/err")
        if [ -n "$message" ] && [ "$first" != "$message" ]; then
            echo "  $name: stderr's first line:"; echo "    got:      $first"
            echo "    expected: $message"; bad=1
        fi
        if [ -n "$message_part" ] && [[ $first != *"$message_part"* ]]; then
            echo "  $name: stderr's first line lacks \"$message_part\": $first"; bad=1
        fi
        local lines
        lines=$(wc -l <"$TMP/out")
        if [ "$lines" != "$stdout_lines" ]; then
            echo "  $name: $lines lines on stdout, expected $stdout_lines: $(head -c 200 "$TMP/out")"; bad=1
        fi
        if ! cmp -s "$TMP/before" <(listing "$T"); then
            echo "  $name: files in the case folder changed:"
            diff "$TMP/before" <(listing "$T") | sed 's/^/    /' | head -n 10; bad=1
        fi
        [ $bad = 0 ] || { echo "    stderr: $(head -c 300 "$TMP/err")"; exit 1; }
    ) >&2
}

n=0
declare -A tools=()
for f in tests/bad-inputs/${CASES:-*}.case; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    t=$(grep -o 'BIN/cnn-[a-z]*' "$f" | head -n 1)
    [ -z "$t" ] || tools[${t#BIN/}]=1
    case_ok() { run_case "$f"; }
    if case_ok; then _passed=$((_passed + 1)); else _failed=$((_failed + 1)); echo "FAIL $(basename "$f")" >&2; fi
done
# The table itself: at least 40 cases, every tool in it (when all are run).
if [ -z "${CASES:-}" ]; then
    table_covers_every_tool() {
        [ $n -ge 40 ] || fail "only $n cases in tests/bad-inputs"
        local t
        for t in cnn-summary cnn-train cnn-infer cnn-visualize; do
            [ -n "${tools[$t]:-}" ] || fail "no case runs $t"
        done
    }
    run_test table_covers_every_tool
fi
finish
