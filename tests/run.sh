#!/usr/bin/env bash
# Runs every test program ($BUILD/tests/test_*), every CLI test script
# (tests/cli/*.sh), the module-cycle check (tests/modules.sh) and the
# function-length limit (tests/funclen.py: none over 150 lines), sums their
# closing "N passed, N failed" lines, and ends with the total.  Exit status 1
# if any test failed or any program crashed.
set -u
BIN=${BIN:-bin}; BUILD=${BUILD:-build}
export BIN BUILD
BIN=$(cd "$BIN" && pwd); export BIN
total_pass=0; total_fail=0; status=0
run_one() {
    local name=$1; shift
    local out rc t0=$SECONDS
    out=$("$@" 2>"$BUILD/tests/$name.stderr")
    rc=$?
    local took="$((SECONDS - t0)) s"
    local line
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no result line (exit $rc)"; sed 's/^/  /' "$BUILD/tests/$name.stderr" | tail -n 20
        total_fail=$((total_fail + 1)); status=1; return
    fi
    local p f
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
        status=1
        echo "$name: $line (exit $rc; $took)"; sed 's/^/  /' "$BUILD/tests/$name.stderr" | tail -n 40
        [ "$f" = 0 ] && total_fail=$((total_fail + 1))
    else
        echo "$name: $line ($took)"
    fi
}
mkdir -p "$BUILD/tests"
for t in "$BUILD"/tests/test_*; do
    case $t in *.o|*.d|*.stderr) continue ;; esac
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/cli/*.sh; do
    case $(basename "$s") in lib.sh) continue ;; esac
    run_one "cli-$(basename "$s" .sh)" bash "$s"
done
run_one modules bash tests/modules.sh
run_one funclen python3 tests/funclen.py --max 150
echo "$total_pass passed, $total_fail failed"
exit $status
