#!/usr/bin/env bash
# CLI tests for the one vocabulary every cnn-* tool shares (issue 10 §4):
# -w/--weights and -m/--model, the old spellings with their deprecation notes,
# -V/-q/-h everywhere, - for the standard streams, -0, and cnn-summary on
# weights files and several models.
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
D=$ROOT/data/mnist

# A tiny model trained one epoch on the first 200 test digits.
W=$TMP/w.safetensors
M=$TMP/tiny.json
cp tests/train/tiny.json "$M"
{ printf '\x00\x00\x08\x03\x00\x00\x00\xc8\x00\x00\x00\x1c\x00\x00\x00\x1c'
  zcat $D-test-images-idx3-ubyte.gz | tail -c +17 | head -c $((200 * 784)); } >"$TMP/i.idx"
{ printf '\x00\x00\x08\x01\x00\x00\x00\xc8'
  zcat $D-test-labels-idx1-ubyte.gz | tail -c +9 | head -c 200; } >"$TMP/l.idx"
"$BIN/cnn-train" "$M" --train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" --epochs 1 \
    --threads 1 -q -o "$W" >/dev/null 2>"$TMP/train.err" || echo "cnn-train failed: $(cat "$TMP/train.err")" >&2

expect_err_empty() { [ ! -s "$TMP/err" ] || fail "stderr not empty: $(head -c 300 "$TMP/err")"; }
expect_err_first() { [ "$(head -n 1 "$TMP/err")" = "$1" ] || fail "stderr's first line is \"$(head -n 1 "$TMP/err")\", expected \"$1\""; }
same_file() { cmp -s "$1" "$2" || fail "$2 differs from $1"; }

# ---- cnn-visualize: -w/--weights FILE, --kernels, -m/--model ---------------

test_visualize_weights_long_flag_is_the_weights_file() {
    run "$BIN/cnn-visualize" -w "$W" --kernels -o "$TMP/k-ref.png"
    expect_rc 0; expect_err_empty
    run "$BIN/cnn-visualize" --weights "$W" --kernels -o "$TMP/k1.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/k1.png"
    run "$BIN/cnn-visualize" --weights="$W" --kernels -o "$TMP/k2.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/k2.png"
    # A --weights FILE that does not exist is the weights file, reported missing.
    run "$BIN/cnn-visualize" --weights "$TMP/none.safetensors" --kernels -o "$TMP/k3.png"
    expect_rc 1
    expect_err_contains "none.safetensors"
    [ -e "$TMP/k3.png" ] && fail "a PNG was written for missing weights"
}

test_visualize_old_spellings_work_with_one_note() {
    local note_file="cnn-visualize: note: --weights-file is deprecated; use -w/--weights FILE"
    local note_kern="cnn-visualize: note: --weights as the kernel view is deprecated; use --kernels (--weights FILE names the weights file)"
    run "$BIN/cnn-visualize" -w "$W" --kernels -o "$TMP/k-ref.png"
    run "$BIN/cnn-visualize" --weights-file "$W" --kernels -o "$TMP/o1.png"
    expect_rc 0; expect_err_first "$note_file"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "more than one line on stderr: $(cat "$TMP/err")"
    same_file "$TMP/k-ref.png" "$TMP/o1.png"
    # bare --weights followed by an option
    run "$BIN/cnn-visualize" -w "$W" --weights -o "$TMP/o2.png"
    expect_rc 0; expect_err_first "$note_kern"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "more than one line on stderr: $(cat "$TMP/err")"
    same_file "$TMP/k-ref.png" "$TMP/o2.png"
    # bare --weights as the last word
    run "$BIN/cnn-visualize" -w "$W" -o "$TMP/o3.png" --weights
    expect_rc 0; expect_err_first "$note_kern"
    same_file "$TMP/k-ref.png" "$TMP/o3.png"
    # bare --weights followed by the old MODEL.json operand (a file, not safetensors)
    run "$BIN/cnn-visualize" -w "$W" --weights "$M" -o "$TMP/o4.png"
    expect_rc 0; expect_err_first "$note_kern"
    same_file "$TMP/k-ref.png" "$TMP/o4.png"
    # both old spellings at once: two notes; -q silences them
    run "$BIN/cnn-visualize" --weights-file "$W" --weights -o "$TMP/o5.png"
    expect_rc 0
    [ "$(wc -l <"$TMP/err")" = 2 ] || fail "expected two notes: $(cat "$TMP/err")"
    run "$BIN/cnn-visualize" -q --weights-file "$W" --weights -o "$TMP/o6.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/k-ref.png" "$TMP/o6.png"
    # a value that happens to be "--weights" is not the flag: --layer's value here
    run "$BIN/cnn-visualize" -w "$W" --layer --weights --kernels -o "$TMP/o7.png"
    expect_rc 1
    expect_err_first 'cnn-visualize: error: the model has no layer "--weights" (its layers: conv2d, max_pooling2d, flatten, dropout, dense)'
}

test_visualize_model_flag() {
    run "$BIN/cnn-visualize" -w "$W" "$M" --kernels -o "$TMP/m-ref.png"
    expect_rc 0
    run "$BIN/cnn-visualize" -w "$W" -m "$M" --kernels -o "$TMP/m1.png"
    expect_rc 0; expect_err_empty
    same_file "$TMP/m-ref.png" "$TMP/m1.png"
    run "$BIN/cnn-visualize" -w "$W" --model "$M" --kernels -o "$TMP/m2.png"
    expect_rc 0
    same_file "$TMP/m-ref.png" "$TMP/m2.png"
    run "$BIN/cnn-visualize" -w "$W" -m "$M" "$M" --kernels -o "$TMP/m3.png"
    expect_rc 2
    expect_err_first "cnn-visualize: the model is given twice: -m $M and \"$M\""
    # a model that is not the weights' architecture
    sed 's/"filters": 4/"filters": 3/' "$M" >"$TMP/other.json"
    run "$BIN/cnn-visualize" -w "$W" -m "$TMP/other.json" --kernels -o "$TMP/m4.png"
    expect_rc 1
    [ -e "$TMP/m4.png" ] && fail "a PNG was written for a mismatched model"
}

test_visualize_help_names_the_new_flags() {
    run "$BIN/cnn-visualize" --help
    expect_rc 0
    expect_out_contains "-w, --weights FILE"
    expect_out_contains "-m, --model FILE"
    expect_out_contains "--kernels"
    expect_out_contains "--threads N          threads for the math (default: all cores"
    grep -q -- '--weights-file FILE  ' "$TMP/out" && fail "--help still lists --weights-file as a flag"
}

# ---- cnn-train: -m/--model ---------------------------------------------------

test_train_model_flag() {
    local args=(--train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" --epochs 1 --threads 1 -q)
    run "$BIN/cnn-train" "$M" "${args[@]}" -o "$TMP/t0.st"
    expect_rc 0
    run "$BIN/cnn-train" -m "$M" "${args[@]}" -o "$TMP/t1.st"
    expect_rc 0; expect_err_empty
    same_file "$TMP/t0.st" "$TMP/t1.st"
    run "$BIN/cnn-train" --model "$M" "${args[@]}" -o "$TMP/t2.st"
    expect_rc 0
    same_file "$TMP/t0.st" "$TMP/t2.st"
    run "$BIN/cnn-train" -m "$M" "$M" "${args[@]}" -o "$TMP/t3.st"
    expect_rc 2
    expect_err_first "cnn-train: the model is given twice: -m $M and \"$M\""
    [ -e "$TMP/t3.st" ] && fail "weights written on misuse"
}

# ---- cnn-summary: weights files, several inputs, -, -V/-q/-m/-w --------------

# The table of tiny.json (conv 5x5 stride 2 on 28x28 -> 12x12x4, 5*5*4+4 = 104;
# dense 144 -> 10, 1440+10 = 1450), as the Keras 3 layout at 76 columns.
tiny_summary_first_lines() {
    printf '%s\n' 'Model: "tiny"' \
        '┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓'
}

test_summary_reads_weights_files_and_stdin() {
    run "$BIN/cnn-summary" "$M"
    expect_rc 0
    cp "$TMP/out" "$TMP/s-json.txt"
    grep -qF '│ conv2d (Conv2D)                 │ (None, 12, 12, 4)      │           104 │' "$TMP/s-json.txt" ||
        fail "tiny.json's conv2d row is not 104 parameters: $(cat "$TMP/s-json.txt")"
    grep -qF ' Total params: 1,554 (6.07 KB)' "$TMP/s-json.txt" || fail "total is not 104 + 1450"
    # the weights file carries the same model: the same table
    run "$BIN/cnn-summary" "$W"
    expect_rc 0; expect_err_empty
    expect_out_equals_file "$TMP/s-json.txt"
    run "$BIN/cnn-summary" -w "$W"
    expect_rc 0; expect_out_equals_file "$TMP/s-json.txt"
    run "$BIN/cnn-summary" --model "$M"
    expect_rc 0; expect_out_equals_file "$TMP/s-json.txt"
    # the checkpoint too (a weights file with more tensors)
    run "$BIN/cnn-summary" "$W.ckpt"
    expect_rc 0; expect_out_equals_file "$TMP/s-json.txt"
    # - is standard input, for both kinds
    "$BIN/cnn-summary" - <"$M" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/s-json.txt"
    cat "$W" | "$BIN/cnn-summary" - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/s-json.txt"
    head -n 2 "$TMP/s-json.txt" >"$TMP/first"
    tiny_summary_first_lines | cmp -s - "$TMP/first" || fail "the table does not start as Keras 3's: $(cat "$TMP/first")"
}

test_summary_of_several_files_is_like_ls() {
    run "$BIN/cnn-summary" "$M"; cp "$TMP/out" "$TMP/a.txt"
    run "$BIN/cnn-summary" models/lenet5.json; cp "$TMP/out" "$TMP/b.txt"
    { echo "$M:"; cat "$TMP/a.txt"; echo; echo "models/lenet5.json:"; cat "$TMP/b.txt"
      echo; echo "$W:"; cat "$TMP/a.txt"; } >"$TMP/expect"
    run "$BIN/cnn-summary" "$M" models/lenet5.json -w "$W"
    expect_rc 0; expect_err_empty
    expect_out_equals_file "$TMP/expect"
    # a file that fails is said on stderr; the others are still summarized; status 1
    { echo "$M:"; cat "$TMP/a.txt"; echo; echo "$W:"; cat "$TMP/a.txt"; } >"$TMP/expect2"
    run "$BIN/cnn-summary" "$M" "$TMP/none.json" "$W"
    expect_rc 1
    expect_out_equals_file "$TMP/expect2"
    expect_err_first "cnn-summary: error: $TMP/none.json: cannot open: No such file or directory"
    # --json: one object per line, each with its file first
    run "$BIN/cnn-summary" --json "$M"; cp "$TMP/out" "$TMP/j.txt"
    run "$BIN/cnn-summary" --json "$M" "$W"
    expect_rc 0
    [ "$(wc -l <"$TMP/out")" = 2 ] || fail "--json with two files: not two lines"
    { sed "s|^{|{\"file\":\"$M\",|" "$TMP/j.txt"; sed "s|^{|{\"file\":\"$W\",|" "$TMP/j.txt"; } >"$TMP/expect3"
    expect_out_equals_file "$TMP/expect3"
    # an ordinary single file keeps no header
    run "$BIN/cnn-summary" "$M"
    grep -q ':$' "$TMP/out" && fail "a single summary has a NAME: line"
    # - twice is misuse
    run "$BIN/cnn-summary" - "$M" -
    expect_rc 2
    expect_err_first "cnn-summary: - (standard input) can be given only once"
}

test_summary_bad_inputs() {
    # a weights file without a model description: 8-byte length 0x3f = 63, a
    # header of 63 bytes, 4 bytes of data
    local h='{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    h=$(printf '%-63s' "$h")
    { printf '\x3f\x00\x00\x00\x00\x00\x00\x00'; printf '%s' "$h"; printf '\x00\x00\x80\x3f'; } >"$TMP/nomodel.st"
    run "$BIN/cnn-summary" "$TMP/nomodel.st"
    expect_rc 1; expect_out_empty
    expect_err_first "cnn-summary: error: $TMP/nomodel.st: the weights file holds no model description (metadata \"cnn.model\"); summarize the model JSON instead"
    # neither JSON nor safetensors (an IDX file)
    run "$BIN/cnn-summary" "$TMP/i.idx"
    expect_rc 1; expect_out_empty
    expect_err_first "cnn-summary: error: $TMP/i.idx: neither a model description (JSON) nor a weights file (safetensors)"
    "$BIN/cnn-summary" - <"$TMP/i.idx" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 1; expect_out_empty
    expect_err_first "cnn-summary: error: <stdin>: neither a model description (JSON) nor a weights file (safetensors)"
    # a truncated weights file: its reader's message (header length 0x3f = 63 > 20 - 8)
    head -c 20 "$TMP/nomodel.st" >"$TMP/short.st"
    run "$BIN/cnn-summary" "$TMP/short.st"
    expect_rc 1
    expect_err_first "cnn-summary: error: $TMP/short.st: header length 63 exceeds file size 20 (after the 8-byte length field)"
}

test_summary_version_quiet_help() {
    local v; v=$(sed -n 's/^#define CNN_VERSION "\([^"]*\)".*/\1/p' include/cnn/version.h)
    run "$BIN/cnn-summary" -V
    expect_rc 0; [ "$(cat "$TMP/out")" = "cnn-summary $v" ] || fail "-V printed $(cat "$TMP/out")"
    run "$BIN/cnn-summary" -q "$M"
    expect_rc 0; expect_err_empty
    run "$BIN/cnn-summary" -h
    expect_rc 0; expect_out_contains "-V, --version"; expect_out_contains "-q, --quiet"
}

# Every tool: -h/--help and -V/--version on stdout, exit 0; -q accepted.
test_every_tool_has_help_version_quiet() {
    local v; v=$(sed -n 's/^#define CNN_VERSION "\([^"]*\)".*/\1/p' include/cnn/version.h)
    for t in cnn-summary cnn-train cnn-infer cnn-visualize cnn-data cnn-import; do
        [ -x "$BIN/$t" ] || continue
        for f in -h --help; do
            run "$BIN/$t" $f
            expect_rc 0; expect_out_contains "usage: $t"
            expect_out_contains "-q, --quiet"; expect_out_contains "-V, --version"
        done
        for f in -V --version; do
            run "$BIN/$t" $f
            expect_rc 0; [ "$(cat "$TMP/out")" = "$t $v" ] || fail "$t $f printed $(cat "$TMP/out")"
        done
        run "$BIN/$t" -q -V
        expect_rc 0
    done
}

# --threads: the same range (1 to 64, the library's CNN_MAX_THREADS) and the same
# default (all cores, said in --help) in every tool that computes.
test_threads_flag_is_the_same_everywhere() {
    for t in cnn-train cnn-infer cnn-visualize cnn-data; do
        run "$BIN/$t" --threads 65
        expect_rc 2
        expect_err_first "$t: --threads: expected an integer from 1 to 64, got \"65\""
        run "$BIN/$t" --help
        grep -q -- '--threads N.*default: all cores' "$TMP/out" || fail "$t --help does not say --threads defaults to all cores"
    done
}

# ---- cnn-train: the held-out set's one name, the * explained -----------------

test_train_names_the_held_out_set_once() {
    local args=(--train-images "$TMP/i.idx" --train-labels "$TMP/l.idx" --epochs 2 --threads 1)
    run "$BIN/cnn-train" "$M" "${args[@]}" --val-split 0.2 -o "$TMP/v.st"
    expect_rc 0
    # 0.2 of 200 images: 40 held out
    [ "$(grep -c '^epoch [12]/2  train loss [0-9.]* acc [0-9.]*  val loss ' "$TMP/err")" = 2 ] ||
        fail "--val-split epoch lines do not say val: $(cat "$TMP/err")"
    grep -q '^val accuracy [0-9.]* ([0-9]* of 40), loss ' "$TMP/err" || fail "no closing val line: $(cat "$TMP/err")"
    grep -q 'test' "$TMP/err" && fail "--val-split output says test: $(cat "$TMP/err")"
    run "$BIN/cnn-train" "$M" "${args[@]}" --test-images "$TMP/i.idx" --test-labels "$TMP/l.idx" -o "$TMP/t.st"
    expect_rc 0
    [ "$(grep -c '^epoch [12]/2  train loss [0-9.]* acc [0-9.]*  test loss ' "$TMP/err")" = 2 ] ||
        fail "--test epoch lines do not say test: $(cat "$TMP/err")"
    grep -q '^test accuracy [0-9.]* ([0-9]* of 200), loss ' "$TMP/err" || fail "no closing test line: $(cat "$TMP/err")"
    grep -qw 'val' "$TMP/err" && fail "--test output says val: $(cat "$TMP/err")"
    # epoch 1 is always the lowest so far: its line ends the figures with *, and
    # the legend follows it, once
    sed -n 1p "$TMP/err" | grep -q 'test loss [0-9.]* acc [0-9.]* \*  lr' || fail "epoch 1 has no *: $(sed -n 1p "$TMP/err")"
    [ "$(sed -n 2p "$TMP/err")" = "  (*: the lowest test loss so far; with --patience, the last * marks the weights kept)" ] ||
        fail "no legend after the first *: $(sed -n 2p "$TMP/err")"
    [ "$(grep -c '^  (\*:' "$TMP/err")" = 1 ] || fail "the legend is not printed once"
    # -q: none of it
    run "$BIN/cnn-train" "$M" "${args[@]}" --test-images "$TMP/i.idx" --test-labels "$TMP/l.idx" -q -o "$TMP/t2.st"
    expect_rc 0; expect_err_empty
    run "$BIN/cnn-train" --help
    expect_out_contains "a * marks the lowest held-out loss so far"
}

# ---- README: the table of shared flags says what the tools' --help says ------

test_readme_flag_table_matches_the_tools() {
    local all="summary train infer visualize data import" n=0 row flags tools t f
    while IFS= read -r row; do
        flags=$(printf '%s' "$row" | cut -d'|' -f2 | grep -oE -- '--[a-z0-9-]+')
        tools=$(printf '%s' "$row" | cut -d'|' -f4 | tr ',' ' ')
        case $tools in
            *"all but "*) local ex=${tools#*all but }; ex=$(echo $ex); tools=$(echo " $all " | sed "s/ $ex / /") ;;
            *all*) tools=$all ;;
        esac
        [ -n "$flags" ] || continue
        for t in $tools; do
            "$BIN/cnn-$t" --help >"$TMP/help" 2>&1
            for f in $flags; do
                n=$((n + 1))
                grep -qE -- "(^| |,)$f([ =,]|$)" "$TMP/help" || fail "README says cnn-$t takes $f; its --help does not list it"
            done
        done
    done < <(sed -n '/^## Flags every tool shares/,/^## /p' README.md | grep '^| `')
    [ $n -ge 30 ] || fail "only $n flag/tool pairs found in README's table"
}

# -o - into - : an imported model piped straight into cnn-summary.
test_import_to_stdout_into_summary_stdin() {
    [ -x "$BIN/cnn-import" ] || return 0
    "$BIN/cnn-import" tests/import/lee-mnist/model.h5 -q -o "$TMP/imp.st" || { fail "cnn-import failed"; return; }
    run "$BIN/cnn-summary" "$TMP/imp.st"; cp "$TMP/out" "$TMP/imp.txt"
    grep -q '^Model: "lee_mnist"$' "$TMP/imp.txt" || fail "the imported model's summary: $(head -n 2 "$TMP/imp.txt")"
    "$BIN/cnn-import" tests/import/lee-mnist/model.h5 -q -o - | "$BIN/cnn-summary" - >"$TMP/out" 2>"$TMP/err"
    expect_out_equals_file "$TMP/imp.txt"
}

# ---- cnn-infer -0 -------------------------------------------------------------

test_infer_null_separated_names() {
    local FX=$ROOT/tests/bad-inputs/fixtures
    mkdir -p "$TMP/p"
    cp "$FX/digit28.png" "$TMP/p/a.png"
    cp "$FX/digit28.png" "$TMP/p/b
c.png"
    run "$BIN/cnn-infer" -w "$W" "$TMP/p/a.png"
    expect_rc 0
    local cls prob; cls=$(cut -f2 "$TMP/out"); prob=$(cut -f3 "$TMP/out")
    printf '%s\t%s\t%s\n' "$TMP/p/a.png" "$cls" "$prob" "$TMP/p/b\\nc.png" "$cls" "$prob" >"$TMP/expect"
    (cd "$TMP/p" && find "$TMP/p" -name '*.png' -print0 | sort -z) | "$BIN/cnn-infer" -w "$W" -0 - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_err_empty
    expect_out_equals_file "$TMP/expect"
    printf '%s\0%s\0' "$TMP/p/a.png" "$TMP/p/b
c.png" | "$BIN/cnn-infer" -w "$W" --null - >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect_rc 0; expect_out_equals_file "$TMP/expect"
    # -0 without -
    run "$BIN/cnn-infer" -w "$W" -0 "$TMP/p/a.png"
    expect_rc 2
    expect_err_first "cnn-infer: -0 goes with - (file names from stdin)"
}

run_test test_summary_reads_weights_files_and_stdin
run_test test_summary_of_several_files_is_like_ls
run_test test_summary_bad_inputs
run_test test_summary_version_quiet_help
run_test test_every_tool_has_help_version_quiet
run_test test_threads_flag_is_the_same_everywhere
run_test test_train_names_the_held_out_set_once
run_test test_readme_flag_table_matches_the_tools
run_test test_import_to_stdout_into_summary_stdin
run_test test_infer_null_separated_names
run_test test_train_model_flag
run_test test_visualize_weights_long_flag_is_the_weights_file
run_test test_visualize_old_spellings_work_with_one_note
run_test test_visualize_model_flag
run_test test_visualize_help_names_the_new_flags
finish
