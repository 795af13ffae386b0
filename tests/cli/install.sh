# `make install DESTDIR=...` and the example program of man/libcnn.3: the
# program is extracted from the man page, built with pkg-config against the
# staged install (shared and static), run on a real weights file (the lecture's
# model trained for one epoch on 500 embedded digits) and PNG digits, and its
# lines compared with cnn-infer's.  Also the export list of libcnn.so (nm -D):
# only cnn_ symbols, none of the internal modules', every one declared in a
# public header.
. tests/cli/lib.sh
: "${BUILD:=build}"
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(pwd)
STAGE=$TMP/stage
PREFIX=/opt/cnn-test   # never written: everything goes under DESTDIR
# The make that runs this test sets MAKEFLAGS/MAKELEVEL; the install is its own make.
unset MAKEFLAGS MAKELEVEL MFLAGS
# Under `make asan` the library is instrumented: programs linked to it must be too.
SAN=""
nm "$BUILD/libcnn.a" 2>/dev/null | grep -q ' U __asan_' && SAN="-fsanitize=address,undefined"

installed() {
    make -s -C "$ROOT" install DESTDIR="$STAGE" PREFIX=$PREFIX BUILD="$BUILD" BIN="$BIN" \
        >"$TMP/install.log" 2>&1
}

test_install_puts_every_file_in_place() {
    installed || { fail "make install: $(tail -n 20 "$TMP/install.log")"; return; }
    local d=$STAGE$PREFIX f
    for f in bin/cnn-train bin/cnn-infer bin/cnn-visualize bin/cnn-summary bin/cnn-import \
             lib/libcnn.a lib/libcnn.so.0.1.0 lib/pkgconfig/cnn.pc include/cnn/cnn.h \
             share/man/man1/cnn-train.1 share/man/man1/cnn-train-mpi.1 share/man/man3/libcnn.3 share/man/man5/cnn-model.5; do
        [ -f "$d/$f" ] || fail "missing $f"
    done
    [ "$(readlink "$d/lib/libcnn.so.0")" = libcnn.so.0.1.0 ] || fail "libcnn.so.0 link"
    [ "$(readlink "$d/lib/libcnn.so")" = libcnn.so.0 ] || fail "libcnn.so link"
    readelf -d "$d/lib/libcnn.so.0.1.0" | grep -q 'Library soname: \[libcnn.so.0\]' || fail "soname"
    # internal headers stay out
    for f in layer.h threads.h fileio.h safetensors.h model_internal.h; do
        [ ! -e "$d/include/cnn/$f" ] || fail "internal header $f installed"
    done
    # the version in the headers, the library and cnn.pc agree
    local v; v=$(sed -n 's/^#define CNN_VERSION "\([^"]*\)".*/\1/p' include/cnn/version.h)
    local pv; pv=$(PKG_CONFIG_PATH=$d/lib/pkgconfig pkg-config --modversion cnn)
    [ -n "$v" ] && [ "$pv" = "$v" ] || fail "cnn.pc version '$pv', headers '$v'"
    grep -qx "prefix=$PREFIX" "$d/lib/pkgconfig/cnn.pc" || fail "cnn.pc prefix: $(head -n 1 "$d/lib/pkgconfig/cnn.pc")"
}

test_uninstall_removes_what_install_put() {
    local s=$TMP/stage2
    make -s -C "$ROOT" install DESTDIR="$s" PREFIX=/usr BUILD="$BUILD" BIN="$BIN" >"$TMP/log" 2>&1 ||
        { fail "install: $(tail -n 5 "$TMP/log")"; return; }
    make -s -C "$ROOT" uninstall DESTDIR="$s" PREFIX=/usr BUILD="$BUILD" BIN="$BIN" >"$TMP/log" 2>&1 ||
        { fail "uninstall: $(tail -n 5 "$TMP/log")"; return; }
    local left; left=$(find "$s" -type f -o -type l)
    [ -z "$left" ] || fail "left after uninstall: $left"
}

# The example of man/libcnn.3, with roff's escapes undone.
extract_example() {
    sed -n '/^\.SH EXAMPLE/,/^\.SH /p' man/libcnn.3 | awk '/^\.EX/ { n++; on = (n == 1); next }
        /^\.EE/ { on = 0 } on' | sed -e 's/\\e/\\/g' -e 's/\\-/-/g' >"$1"
}

test_man_page_example_builds_shared_and_static_and_matches_cnn_infer() {
    [ -f "$STAGE$PREFIX/lib/pkgconfig/cnn.pc" ] || installed ||
        { fail "make install: $(tail -n 20 "$TMP/install.log")"; return; }
    local d=$TMP/ex pc=$STAGE$PREFIX/lib/pkgconfig
    mkdir -p "$d/digits"
    extract_example "$d/classify.c"
    grep -q 'cnn_predictor_open' "$d/classify.c" || { fail "no example in man/libcnn.3"; return; }
    # cnn.pc names PREFIX; a copy with prefix= set to the stage points the build
    # there (what a packager's relocated test does; the other paths derive from it).
    mkdir -p "$d/pc"
    sed "s|^prefix=.*|prefix=$STAGE$PREFIX|" "$pc/cnn.pc" >"$d/pc/cnn.pc"
    pc=$d/pc
    local cflags libs slibs
    cflags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags cnn) &&
        libs=$(PKG_CONFIG_PATH=$pc pkg-config --libs cnn) &&
        slibs=$(PKG_CONFIG_PATH=$pc pkg-config --static --libs cnn) ||
        { fail "pkg-config cnn failed"; return; }
    case $cflags in *"$STAGE"*) ;; *) fail "cflags do not point into the stage: $cflags" ;; esac
    cc -std=c11 -Wall -Wextra -Werror $SAN $cflags "$d/classify.c" $libs -o "$d/classify-shared" 2>"$TMP/err" ||
        { fail "shared build: $(cat "$TMP/err")"; return; }
    # static: libcnn.a only (the system's libraries may stay shared)
    local static_libs=${slibs/-lcnn/-l:libcnn.a}
    cc -std=c11 -Wall -Wextra -Werror $SAN $cflags "$d/classify.c" $static_libs -o "$d/classify-static" \
        2>"$TMP/err" || { fail "static build: $(cat "$TMP/err")"; return; }
    readelf -d "$d/classify-shared" | grep -q 'NEEDED.*libcnn.so.0' || fail "shared build does not need libcnn.so.0"
    ! readelf -d "$d/classify-static" | grep -q 'NEEDED.*libcnn' || fail "static build needs libcnn.so"

    # A real network and real digits.
    "$BUILD/tests/test_infer" --write-subset data/mnist-train-images-idx3-ubyte.gz \
        data/mnist-train-labels-idx1-ubyte.gz 500 "$d" || { fail "could not write the subset"; return; }
    "$BIN/cnn-train" models/lee-mnist.json --train-images "$d/sub-images.idx" \
        --train-labels "$d/sub-labels.idx" --epochs 1 -q --threads 2 \
        -o "$d/lee.safetensors" >/dev/null 2>"$TMP/err" || { fail "cnn-train: $(cat "$TMP/err")"; return; }
    "$BUILD/tests/test_infer" --write-digits data/mnist-test-images-idx3-ubyte.gz 4 "$d/digits" ||
        { fail "could not write the digits"; return; }
    local pngs=("$d"/digits/digit-{0,1,2,3}.png)
    "$BIN/cnn-infer" -w "$d/lee.safetensors" "${pngs[@]}" >"$TMP/want" || { fail "cnn-infer"; return; }
    [ "$(wc -l <"$TMP/want")" = 4 ] || { fail "cnn-infer printed $(wc -l <"$TMP/want") lines"; return; }
    LD_LIBRARY_PATH=$STAGE$PREFIX/lib "$d/classify-shared" "$d/lee.safetensors" "${pngs[@]}" \
        >"$TMP/shared" 2>"$TMP/err" || fail "shared run: $(cat "$TMP/err")"
    cmp -s "$TMP/want" "$TMP/shared" || fail "shared differs from cnn-infer: $(diff "$TMP/want" "$TMP/shared")"
    # the shared build really runs the staged library
    LD_LIBRARY_PATH=$STAGE$PREFIX/lib LD_DEBUG=libs "$d/classify-shared" "$d/lee.safetensors" \
        "${pngs[0]}" 2>&1 >/dev/null | grep -q "$STAGE$PREFIX/lib/libcnn.so.0" || fail "did not load the staged libcnn.so.0"
    "$d/classify-static" "$d/lee.safetensors" "${pngs[@]}" >"$TMP/static" 2>"$TMP/err" ||
        fail "static run: $(cat "$TMP/err")"
    cmp -s "$TMP/want" "$TMP/static" || fail "static differs from cnn-infer: $(diff "$TMP/want" "$TMP/static")"
    # errors come back through cnn_error: a missing file names itself, exit 1
    "$d/classify-static" "$d/lee.safetensors" "$d/no-such.png" >/dev/null 2>"$TMP/err"
    [ $? = 1 ] && grep -q "no-such.png" "$TMP/err" || fail "missing PNG: $(cat "$TMP/err")"
}

# Only the public API leaves libcnn.so: every exported symbol starts with cnn_
# and is declared in include/cnn/; the internal modules' are hidden.
test_shared_library_exports_only_the_public_api() {
    local so=$BUILD/libcnn.so.0.1.0
    [ -f "$so" ] || { fail "no $so"; return; }
    nm -D --defined-only "$so" | awk '{ print $3 }' | sort >"$TMP/exports"
    [ -s "$TMP/exports" ] || { fail "no exports"; return; }
    local s bad=""
    while read -r s; do
        # AddressSanitizer's one-definition-rule markers of our globals
        s=${s#__odr_asan.}
        case $s in cnn_*) ;; *) bad="$bad $s"; continue ;; esac
        grep -qw "$s" include/cnn/*.h || bad="$bad $s"
    done <"$TMP/exports"
    [ -z "$bad" ] || fail "exported but not public:$bad"
    for s in cnn_st_load cnn_parallel_for cnn_layer_kind cnn_atomic_open cnn_read_file; do
        ! grep -qx "$s" "$TMP/exports" || fail "internal $s exported"
        nm "$BUILD/libcnn.a" 2>/dev/null | grep -q " T $s\$" || fail "$s missing from libcnn.a (test stale?)"
    done
    for s in cnn_version cnn_predictor_open cnn_net_forward cnn_model_load; do
        grep -qx "$s" "$TMP/exports" || fail "public $s not exported"
    done
}

test_version_matches_the_headers() {
    local d=$TMP/ver
    mkdir -p "$d"
    cat >"$d/v.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "cnn.h"
int main(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CNN_VERSION_MAJOR, CNN_VERSION_MINOR, CNN_VERSION_PATCH);
    printf("%s %s\n", cnn_version(), want);
    return strcmp(cnn_version(), want) != 0 || strcmp(CNN_VERSION, want) != 0;
}
C
    cc -std=c11 $SAN -I"$ROOT/include/cnn" "$d/v.c" "$BUILD/libcnn.so.0.1.0" -Wl,-rpath,"$BUILD" -o "$d/v" 2>"$TMP/err" ||
        { fail "build: $(cat "$TMP/err")"; return; }
    "$d/v" >"$TMP/out" || fail "cnn_version and the macros disagree: $(cat "$TMP/out")"
    # the tools print the same
    "$BIN/cnn-infer" --version | grep -qF "$(cut -d' ' -f1 "$TMP/out")" || fail "cnn-infer --version"
}

run_test test_install_puts_every_file_in_place
run_test test_uninstall_removes_what_install_put
run_test test_man_page_example_builds_shared_and_static_and_matches_cnn_infer
run_test test_shared_library_exports_only_the_public_api
run_test test_version_matches_the_headers
finish
