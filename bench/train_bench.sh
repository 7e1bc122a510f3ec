#!/bin/sh
# Training throughput of fakescope's C training layers next to PyTorch on the same machine,
# architecture, batch (32) and thread count (2): random 256x256 inputs, full steps (forward,
# sigmoid-BCE, backward, Adam). The two are run interleaved ROUNDS times so both see the same
# machine load, and the medians are compared.
#   FAKESCOPE=build/fakescope ROUNDS=3 STEPS=5 bench/train_bench.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
FAKESCOPE=${FAKESCOPE:-$here/../build/fakescope}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-5}
BATCH=${BATCH:-32}
THREADS=${THREADS:-2}
PY=${PYTHON:-/usr/bin/python3}
[ -x "$FAKESCOPE" ] || { echo "train_bench: build fakescope first ($FAKESCOPE)" >&2; exit 1; }
have_torch=1
"$PY" -c 'import torch' 2>/dev/null || { have_torch=0; echo "train_bench: no PyTorch ($PY): C figures only" >&2; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ips() { sed 's/.*"images_per_s": \([0-9.]*\).*/\1/'; }

echo "training throughput, images/s (batch $BATCH, $THREADS threads, $STEPS steps, median of $ROUNDS interleaved rounds)"
printf '%-16s %12s %12s %8s\n' arch fakescope pytorch ratio
for arch in meso4 mesoinception4; do
    c_runs=""; t_runs=""
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
        c=$("$FAKESCOPE" train-bench --arch "$arch" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS" --json | ips)
        c_runs="$c_runs $c"
        if [ "$have_torch" = 1 ]; then
            t=$("$PY" "$here/train_bench_torch.py" --arch "$arch" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS" | ips)
            t_runs="$t_runs $t"
        fi
        i=$((i + 1))
    done
    cm=$(echo $c_runs | tr ' ' '\n' | median)
    if [ "$have_torch" = 1 ]; then
        tm=$(echo $t_runs | tr ' ' '\n' | median)
        ratio=$(awk -v a="$cm" -v b="$tm" 'BEGIN {printf "%.2f", a / b}')
    else
        tm="-"; ratio="-"
    fi
    printf '%-16s %12s %12s %8s\n' "$arch" "$cm" "$tm" "$ratio"
    echo "  runs: fakescope$c_runs; pytorch${t_runs:- -}"
done
