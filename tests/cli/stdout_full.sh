#!/usr/bin/env bash
# --help and --version of every tool on a standard output that cannot be
# written (/dev/full): exit 1 and say so on stderr, not 0 as if the text had
# been shown (issue 11 §6).  On /dev/null they exit 0.
. "$(dirname "$0")/lib.sh"

test_help_and_version_fail_on_full_stdout() {
    local tool flag
    for tool in cnn-train cnn-infer cnn-summary cnn-visualize cnn-import; do
        [ -x "$BIN/$tool" ] || { fail "$BIN/$tool is not built"; continue; }
        for flag in --help --version; do
            "$BIN/$tool" $flag >/dev/full 2>"$TMP/err"; rc=$?
            [ "$rc" = 1 ] || fail "$tool $flag >/dev/full: exit $rc, expected 1"
            if [ "$tool" != cnn-import ]; then
                grep -qF "$tool: error: writing to standard output: No space left on device" "$TMP/err" ||
                    fail "$tool $flag >/dev/full: stderr \"$(head -c 200 "$TMP/err")\""
            fi
            "$BIN/$tool" $flag >/dev/null 2>&1; rc=$?
            [ "$rc" = 0 ] || fail "$tool $flag >/dev/null: exit $rc, expected 0"
        done
    done
}

run_test test_help_and_version_fail_on_full_stdout
finish
