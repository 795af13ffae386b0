#!/usr/bin/env bash
# Names are never printed raw (issue 11 §4): a file name or a value holding a
# newline, a tab or an ANSI escape reaches stdout (TSV, summaries) and stderr
# (messages) escaped by the one text escaper: \n \t \xHH (other control
# characters and bytes that are not UTF-8), \u0080-\u009f (C1 controls), and
# in TSV fields \\ for a backslash (messages leave it as it is).  So
# every record and every message stays one line, and nothing reaches the
# terminal as a control sequence.  Class names are checked when they load.
. "$(dirname "$0")/lib.sh"
D=data/mnist
FX=tests/bad-inputs/fixtures
"$BIN/cnn-train" tests/train/tiny.json --train-images $D-test-images-idx3-ubyte.gz \
    --train-labels $D-test-labels-idx1-ubyte.gz --epochs 1 --threads 1 -q -o "$TMP/w.st" ||
    { echo "could not train the weights"; echo "0 passed, 1 failed"; exit 1; }
W=$TMP/w.st

ESC=$(printf '\033')
NL='
'
# A name with a newline, an ANSI colour sequence, a tab and a backslash, and
# what the escaper makes of it (computed here by hand, not by the tools).
BAD="x${NL}y${ESC}[31mred${ESC}[0m	t\\b"
BAD_ESC='x\ny\x1b[31mred\x1b[0m\tt\\b'
MSG_ESC='x\ny\x1b[31mred\x1b[0m\tt\b' # messages leave a backslash as it is

# no_raw_controls FILE: no byte below 0x20 but the tabs between TSV fields and
# the newlines ending lines, no DEL.
no_raw_controls() {
    LC_ALL=C grep -q "[$(printf '\001-\010\013-\037\177')]" "$1" && fail "$1 holds a raw control character: $(od -c "$1" | head -n 5)"
    return 0
}
expect_err_lines() { [ "$(wc -l <"$TMP/err")" = "$1" ] || fail "expected $1 stderr line(s), got: $(cat -v "$TMP/err" | head -n 5)"; }
expect_err_first() { [ "$(head -n 1 "$TMP/err")" = "$1" ] || fail "stderr's first line is \"$(head -n 1 "$TMP/err" | cat -v)\", expected \"$1\""; }

test_infer_tsv_escapes_the_source() {
    mkdir -p "$TMP/p"
    cp "$FX/digit28.png" "$TMP/p/plain.png"
    cp "$FX/digit28.png" "$TMP/p/$BAD.png"
    run "$BIN/cnn-infer" -w "$W" "$TMP/p/plain.png"
    expect_rc 0
    local rest; rest=$(cut -f2- "$TMP/out")
    printf '%s\t%s\n' "$TMP/p/$BAD_ESC.png" "$rest" >"$TMP/expect"
    run "$BIN/cnn-infer" -w "$W" "$TMP/p/$BAD.png"
    expect_rc 0; expect_out_equals_file "$TMP/expect"
    no_raw_controls "$TMP/out"
    # the same name through -0 on stdin
    printf '%s\0' "$TMP/p/$BAD.png" | "$BIN/cnn-infer" -w "$W" -0 - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/expect"
    # a byte that is not UTF-8 and a C1 control (U+009B, a one-byte CSI)
    cp "$FX/digit28.png" "$TMP/p/$(printf 'a\xffb\xc2\x9bc').png"
    run "$BIN/cnn-infer" -w "$W" "$TMP/p/$(printf 'a\xffb\xc2\x9bc').png"
    expect_rc 0
    printf '%s\t%s\n' "$TMP/p/a\\xffb\\u009bc.png" "$rest" >"$TMP/expect"
    expect_out_equals_file "$TMP/expect"
}

test_infer_messages_escape_the_name() {
    run "$BIN/cnn-infer" -w "$W" "$TMP/missing-$BAD.png"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    expect_err_first "cnn-infer: error: $TMP/missing-$MSG_ESC.png: cannot open: No such file or directory"
    # a damaged image: its decoder's message, one line
    printf 'not a png' >"$TMP/p/$BAD.bad.png"
    run "$BIN/cnn-infer" -w "$W" "$TMP/p/$BAD.bad.png"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    case "$(head -n 1 "$TMP/err")" in
        "cnn-infer: error: $TMP/p/$MSG_ESC.bad.png: "*) ;;
        *) fail "message: $(cat -v "$TMP/err")" ;;
    esac
    # weights that do not exist
    run "$BIN/cnn-infer" -w "$TMP/$BAD.st" "$FX/digit28.png"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    expect_err_first "cnn-infer: error: $TMP/$MSG_ESC.st: cannot open: No such file or directory"
    # misuse: a flag's value
    run "$BIN/cnn-infer" -w "$W" --top "1${NL}${ESC}[2J" "$FX/digit28.png"
    expect_rc 2; no_raw_controls "$TMP/err"
    expect_err_first 'cnn-infer: --top: expected an integer from 1 to 1000000, got "1\n\x1b[2J"'
    run "$BIN/cnn-infer" -w "$W" "--$BAD" "$FX/digit28.png"
    expect_rc 2; no_raw_controls "$TMP/err"
    expect_err_first "cnn-infer: unknown option '--$MSG_ESC'"
}

test_other_tools_escape_names() {
    run "$BIN/cnn-summary" "$TMP/$BAD.json"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    expect_err_first "cnn-summary: error: $TMP/$MSG_ESC.json: cannot open: No such file or directory"
    # several files: the "FILE:" line before each table
    cp tests/train/tiny.json "$TMP/$BAD.json"
    run "$BIN/cnn-summary" tests/train/tiny.json "$TMP/$BAD.json"
    expect_rc 0; no_raw_controls "$TMP/out"
    grep -qxF "$TMP/$BAD_ESC.json:" "$TMP/out" || fail "no escaped FILE: line: $(grep ':$' "$TMP/out" | cat -v)"
    run "$BIN/cnn-visualize" -w "$TMP/$BAD.st" --kernels -o "$TMP/k.png"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    expect_err_first "cnn-visualize: error: $TMP/$MSG_ESC.st: cannot open: No such file or directory"
    run "$BIN/cnn-train" tests/train/tiny.json --train-images "$TMP/$BAD.gz" \
        --train-labels $D-test-labels-idx1-ubyte.gz --epochs 1 -q -o "$TMP/o.st"
    expect_rc 1; no_raw_controls "$TMP/err"
    expect_err_contains "$TMP/$MSG_ESC.gz"
    run "$BIN/cnn-data" info "$TMP/$BAD"
    expect_rc 1; expect_err_lines 1; no_raw_controls "$TMP/err"
    expect_err_contains "$TMP/$MSG_ESC"
    run "$BIN/cnn-import" "$TMP/$BAD.h5" -o "$TMP/o.st"
    expect_rc 1; no_raw_controls "$TMP/err"
    expect_err_contains "$TMP/$MSG_ESC.h5"
}

test_class_names_with_control_characters_are_refused() {
    { printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n'; printf 'ni\033[31mne\n'; } >"$TMP/names.txt"
    run "$BIN/cnn-infer" -w "$W" --class-names "$TMP/names.txt" "$FX/digit28.png"
    expect_rc 1; expect_out_empty; no_raw_controls "$TMP/err"
    expect_err_first "cnn-infer: error: $TMP/names.txt: line 10: a class name cannot contain a control character (byte 0x1b)"
    # a tab keeps its own message
    { printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n'; printf 'ni\tne\n'; } >"$TMP/names.txt"
    run "$BIN/cnn-infer" -w "$W" --class-names "$TMP/names.txt" "$FX/digit28.png"
    expect_rc 1
    expect_err_first "cnn-infer: error: $TMP/names.txt: line 10: a class name cannot contain a tab"
    # Windows line ends are fine
    printf 'zero\r\none\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix\r\nseven\r\neight\r\nnine\r\n' >"$TMP/names.txt"
    run "$BIN/cnn-infer" -w "$W" --class-names "$TMP/names.txt" "$FX/digit28.png"
    expect_rc 0; no_raw_controls "$TMP/out"
    # names stored in a weights file's metadata: rewritten by python, checked on load
    python3 - "$W" "$TMP/wn.st" <<'EOF' || fail "could not write the weights with class names"
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['__metadata__']['cnn.class_names'] = '\n'.join(['c%d' % i for i in range(9)] + ['n\x1b[2Jine'])
t = json.dumps(h, separators=(',', ':')).encode()
t += b' ' * ((8 - len(t) % 8) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(t)) + t + b[8 + n:])
EOF
    run "$BIN/cnn-infer" -w "$TMP/wn.st" "$FX/digit28.png"
    expect_rc 1; no_raw_controls "$TMP/err"
    expect_err_first "cnn-infer: error: $TMP/wn.st: metadata cnn.class_names: the name of class 9 holds a control character (byte 0x1b)"
}

run_test test_infer_tsv_escapes_the_source
run_test test_infer_messages_escape_the_name
run_test test_other_tools_escape_names
run_test test_class_names_with_control_characters_are_refused
finish
