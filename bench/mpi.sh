#!/usr/bin/env bash
# Data-parallel training (issue 14): images/s of the lecture model (batch 64,
# one epoch of the 8,000 embedded digits) as 1 rank x 1 thread, 1 rank x 2
# threads and 2 ranks x 1 thread (cnn-train-mpi under mpirun), the fraction of
# the 2-rank run's training time its ranks spend blocked in MPI
# (CNN_MPI_TIMING), and the gain of overlapping: per-layer MPI_Iallreduce
# during backward against a blocking MPI_Allreduce per layer (no overlap)
# (CNN_MPI_NO_OVERLAP).  Median of 3 runs, interleaved.  BENCH_SMOKE=1: one
# run on 1,000 images; its figures mean nothing.
set -u
BIN=${BIN:-bin}
D=data/mnist
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$BIN/cnn-train-mpi" ]; then
    echo "data-parallel training: not measured (make deps-mpi mpi)"
    exit 0
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnn-bench-mpi.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
MPIRUN="mpirun --allow-run-as-root --oversubscribe --bind-to none"
runs=3 n=8000
[ -z "${BENCH_SMOKE:-}" ] || [ "$BENCH_SMOKE" = 0 ] || { runs=1; n=1000; }
h=$(printf '%08x' $n)
{ printf '\x00\x00\x08\x03'; printf "\\x${h:0:2}\\x${h:2:2}\\x${h:4:2}\\x${h:6:2}"
  printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'
  zcat $D-train-images-idx3-ubyte.gz | tail -c +17 | head -c $((n * 784)); } >"$TMP/images"
{ printf '\x00\x00\x08\x01'; printf "\\x${h:0:2}\\x${h:2:2}\\x${h:4:2}\\x${h:6:2}"
  zcat $D-train-labels-idx1-ubyte.gz | tail -c +9 | head -c $n; } >"$TMP/labels"

# one NAME RANKS THREADS [VAR=VALUE]: one run; appends "img/s comm_fraction" to $TMP/NAME
one() {
    local name=$1 ranks=$2 threads=$3 env=${4:-CNN_MPI_DUMMY=1}
    env CNN_MPI_TIMING=1 "$env" $MPIRUN -n "$ranks" "$BIN/cnn-train-mpi" models/lee-mnist.json \
        --train-images "$TMP/images" --train-labels "$TMP/labels" --epochs 1 --batch-size 64 \
        --threads "$threads" -o "$TMP/w.st" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    # The epoch line gives images/s and seconds; each rank its seconds in MPI.
    awk '/^epoch 1\/1/ { for (i = 1; i <= NF; i++) if ($i == "img/s") ips = $(i - 1) }
         /in communication/ { for (i = 1; i <= NF; i++) if ($i == "s") { c += $(i - 1); k++ } }
         END { t = ips > 0 ? '$n' / ips : 0; printf "%s %s\n", ips, (k && t > 0) ? c / k / t : 0 }' \
        "$TMP/err" >>"$TMP/$name"
}
for r in $(seq $runs); do
    one r1t1 1 1; one r1t2 1 2; one r2t1 2 1; one r2t1_no_overlap 2 1 CNN_MPI_NO_OVERLAP=1
done
med() { awk -v c="$2" '{ print $c }' "$TMP/$1" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "data-parallel training, lecture model, batch 64, $n images, median of $runs (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
for c in "r1t1:1 rank  x 1 thread " "r1t2:1 rank  x 2 threads" "r2t1:2 ranks x 1 thread "; do
    k=${c%%:*}
    printf '  %s %8.0f images/s   %4.1f %% of training time in MPI\n' "${c#*:}" "$(med "$k" 1)" \
        "$(awk -v f="$(med "$k" 2)" 'BEGIN { print 100 * f }')"
done
a=$(med r2t1 1) b=$(med r2t1_no_overlap 1)
printf '  overlap: 2 ranks %.0f images/s with Iallreduce during backward, %.0f with a blocking Allreduce per layer: %+.1f %%\n' \
    "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print (b > 0 ? 100 * (a / b - 1) : 0) }')"
