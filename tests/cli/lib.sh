# Shared helpers for the CLI tests (sourced by tests/cli/*.sh).  Each test is a
# shell function run with `run_test NAME`; expect_* helpers mark the running
# test failed and print why.  `finish` prints the closing "N passed, N failed".
set -u
: "${BIN:=bin}"
BIN=$(cd "$BIN" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnn-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
_passed=0; _failed=0; _cur_failed=0

fail() { echo "  $*" >&2; _cur_failed=1; }

run_test() {
    _cur_failed=0
    "$1"
    if [ $_cur_failed = 0 ]; then _passed=$((_passed + 1)); else _failed=$((_failed + 1)); echo "FAIL $1" >&2; fi
}

# run CMD...: runs it, keeping stdout in $TMP/out, stderr in $TMP/err, status in $rc.
run() { "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }

expect_rc() { [ "$rc" = "$1" ] || fail "expected exit status $1, got $rc; stderr: $(head -c 400 "$TMP/err")"; }
expect_err_contains() { grep -qF -- "$1" "$TMP/err" || fail "stderr lacks \"$1\"; stderr: $(head -c 400 "$TMP/err")"; }
expect_out_contains() { grep -qF -- "$1" "$TMP/out" || fail "stdout lacks \"$1\"; stdout: $(head -c 400 "$TMP/out")"; }
expect_out_empty() { [ ! -s "$TMP/out" ] || fail "stdout not empty: $(head -c 200 "$TMP/out")"; }
expect_out_equals_file() { cmp -s "$1" "$TMP/out" || fail "stdout differs from $1: $(diff "$1" "$TMP/out" | head -n 20)"; }

# A library loaded at first use (lib/dynload.h), in the dynamic loader's
# trace (LD_DEBUG=files in file $2): library $1 (a name prefix, "libcairo")
# loaded by dlopen and initialized once.
expect_dlopened_once() {
    grep "file=[^ ]*$1" "$2" | grep -q 'dynamically loaded by' ||
        fail "$1 was not loaded with dlopen: $(grep "file=[^ ]*$1" "$2" | head -n 2)"
    [ "$(grep -c "calling init: [^ ]*$1" "$2")" = 1 ] || fail "$1 initialized other than once"
}
# The path of the library whose soname is $1 when this run can hide it (root,
# unshare: as in CI), else nothing.
hideable_lib() {
    [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null && ldconfig -p | awk -v s="$1" '$1 == s { print $NF; exit }'
}
# run, with /dev/null mounted over the library at path $1 in a private mount
# namespace: the program then cannot load it.
run_without() {
    local lib=$1; shift
    run unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$lib" "$@"
}
finish() { echo "$_passed passed, $_failed failed"; [ $_failed = 0 ]; }
