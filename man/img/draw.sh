#!/usr/bin/env bash
# Draws README.md's pictures with the tools themselves (`make pictures`):
# the lecture's model trained on the embedded digits, its training curves,
# its confusion matrix on the 2,000 held-out digits, its first layer's
# kernels, its second conv layer's filters, its ten classes, and a saliency
# map and Grad-CAM of real held-out digits.
#   BIN=bin bash man/img/draw.sh [DIR]    (DIR defaults to man/img)
# QUICK=1 trains one epoch and takes few ascent steps: the smoke pass the tests
# run (tests/cli/readme_pictures.sh), not pictures worth showing.
set -euo pipefail
: "${BIN:=bin}"
OUT=${1:-man/img}
D=data/mnist
EPOCHS=8 STEPS=()
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1 STEPS=(--steps 10); fi
mkdir -p "$OUT"
W=$(mktemp -d "${TMPDIR:-/tmp}/cnn-pictures.XXXXXX")
trap 'rm -rf "$W"' EXIT
say() { echo "pictures: $*" >&2; }

say "training models/lee-mnist.json for $EPOCHS epochs (curves: $OUT/lee-mnist-training.png)"
"$BIN/cnn-train" models/lee-mnist.json --threads 2 -q --epochs "$EPOCHS" \
    --train-images $D-train-images-idx3-ubyte.gz --train-labels $D-train-labels-idx1-ubyte.gz \
    --test-images $D-test-images-idx3-ubyte.gz --test-labels $D-test-labels-idx1-ubyte.gz \
    --plot "$OUT/lee-mnist-training.png" -o "$W/lee.safetensors"

say "confusion matrix: $OUT/lee-mnist-confusion.png"
"$BIN/cnn-infer" -w "$W/lee.safetensors" --threads 2 -q \
    --images $D-test-images-idx3-ubyte.gz --labels $D-test-labels-idx1-ubyte.gz \
    --confusion "$OUT/lee-mnist-confusion.png"

say "kernels, filters and classes"
"$BIN/cnn-visualize" -w "$W/lee.safetensors" --kernels --scale 12 -o "$OUT/lee-mnist-kernels.png"
"$BIN/cnn-visualize" -w "$W/lee.safetensors" --layer conv2d_1 --threads 2 -q "${STEPS[@]}" \
    -o "$OUT/lee-mnist-conv2d_1-filters.png"
"$BIN/cnn-visualize" -w "$W/lee.safetensors" --layer dense_1 --l1 0.05 --threads 2 -q \
    "${STEPS[@]}" -o "$OUT/lee-mnist-digit-classes.png"

# The first exported held-out digit, as the network sees it: which pixels drove
# its answer (saliency) and where the second conv layer found the evidence
# (Grad-CAM).
say "saliency and Grad-CAM of a held-out digit"
"$BIN/cnn-data" export -q --count 1 $D-test-images-idx3-ubyte.gz "$W/digits"
digit=$(find "$W/digits" -name '*.png' | head -n 1)
"$BIN/cnn-visualize" -w "$W/lee.safetensors" --saliency "$digit" --scale 5 -o "$OUT/lee-mnist-saliency.png"
"$BIN/cnn-visualize" -w "$W/lee.safetensors" --gradcam "$digit" --layer conv2d_1 --scale 5 \
    -o "$OUT/lee-mnist-gradcam.png"
say "wrote $OUT/lee-mnist-{training,confusion,kernels,conv2d_1-filters,digit-classes,saliency,gradcam}.png"
