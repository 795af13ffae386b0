#!/usr/bin/env bash
# `make pictures` (man/img/draw.sh, README.md's pictures) as a smoke pass:
# QUICK=1 (one epoch, few ascent steps) into a scratch folder.  Every picture
# must be there as a whole PNG; the training curves at their fixed size, the
# kernel view in colour, the heat maps in colour.
. "$(dirname "$0")/lib.sh"
: "${BUILD:=build}"
BUILD=$(cd "$BUILD" && pwd)

test_make_pictures_draws_every_readme_picture() {
    run env QUICK=1 BIN="$BIN" bash man/img/draw.sh "$TMP/img"
    expect_rc 0
    local f info
    for f in training confusion kernels conv2d_1-filters digit-classes saliency gradcam; do
        [ -s "$TMP/img/lee-mnist-$f.png" ] || { fail "lee-mnist-$f.png not drawn"; continue; }
        info=$("$BUILD/tests/test_plot" --info "$TMP/img/lee-mnist-$f.png") || fail "lee-mnist-$f.png is not a PNG"
        case $f in
            training) [ "$info" = "960 460 2" ] || fail "training curves: $info" ;;
            confusion|kernels|saliency|gradcam) [ "${info##* }" = 2 ] || fail "$f: not RGB ($info)" ;;
        esac
    done
    # nothing else is left in the folder (no temporaries)
    [ "$(ls "$TMP/img" | wc -l)" = 7 ] || fail "unexpected files: $(ls "$TMP/img")"
}

run_test test_make_pictures_draws_every_readme_picture
finish
