#!/bin/bash
# bench/run.sh BINARY: forward throughput of Meso4 and MesoInception4 in fakescope next to the
# same graphs in PyTorch (bench/torch_meso.py, best of default and channels_last layouts),
# at batch 1, 8, 32 and threads 1, 2, plus GFLOP/s against the FMA peak measured in the same
# run. Runs are interleaved (fakescope, PyTorch, next configuration, ...; the order flips each
# round) and each figure is the median over the rounds, since the machine may be shared.
#
# Environment: BENCH_ROUNDS (default 5), BENCH_SECONDS per measurement (default 1),
# BENCH_BATCHES (default "1 8 32"), BENCH_THREADS (default "1 2"), BENCH_OUT (a file for the
# raw JSON lines; default a temporary file).
set -euo pipefail

BIN=${1:?usage: bench/run.sh path/to/fakescope}
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-1}
BATCHES=${BENCH_BATCHES:-"1 8 32"}
THREADS=${BENCH_THREADS:-"1 2"}
ARCHS="meso4 mesoinception4"
PY=/usr/bin/python3 # Debian's python3-torch lives there, not in other interpreters on PATH
RAW=${BENCH_OUT:-$(mktemp /tmp/fakescope-bench.XXXXXX)}
: >"$RAW"

have_torch=1
if ! "$PY" -c "import torch" 2>/dev/null; then
    have_torch=0
    echo "bench: PyTorch is not importable by $PY (scripts/deps.sh --bench installs python3-torch); reporting fakescope alone" >&2
fi

torch_run() { # arch batch threads
    # glibc keeps freed tensors instead of returning them to the kernel, as a long-running
    # PyTorch server would be tuned.
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
        "$PY" "$HERE/torch_meso.py" "$1" "$2" "$3" "$SECS" |
        sed 's/^{/{"impl": "pytorch", /' >>"$RAW"
}
ours_run() {
    "$BIN" bench --arch "$1" --batch "$2" --threads "$3" --seconds "$SECS" --json |
        sed 's/^{/{"impl":"fakescope",/' >>"$RAW"
}

echo "bench: $ROUNDS interleaved rounds of ${SECS}s measurements; raw results in $RAW" >&2
for r in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
        "$BIN" bench --peak --threads "$t" --seconds 0.3 --json | sed 's/^{/{"impl":"peak",/' >>"$RAW"
    done
    for a in $ARCHS; do
        for b in $BATCHES; do
            for t in $THREADS; do
                if [ $((r % 2)) -eq 1 ] || [ $have_torch -eq 0 ]; then
                    ours_run "$a" "$b" "$t"
                    [ $have_torch -eq 1 ] && torch_run "$a" "$b" "$t"
                else
                    torch_run "$a" "$b" "$t"
                    ours_run "$a" "$b" "$t"
                fi
            done
        done
    done
    echo "bench: round $r of $ROUNDS done" >&2
done

"$PY" - "$RAW" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
peak = {}
isa = "?"
for r in rows:
    if r["impl"] == "peak":
        peak.setdefault(r["threads"], []).append(r["peak_gflops"])
        isa = r["isa"]
peak = {t: med(v) for t, v in peak.items()}
flop = {"meso4": 0.120, "mesoinception4": 0.114}
title = {"meso4": "Meso4", "mesoinception4": "MesoInception4"}
groups = {}
for r in rows:
    if r["impl"] in ("fakescope", "pytorch"):
        groups.setdefault((r["arch"], r["batch"], r["threads"], r["impl"]), []).append(r["images_per_s"])
n = max((len(v) for v in groups.values()), default=0)
print(f"FMA peak ({isa}, median of {len(rows) and n} runs): " +
      ", ".join(f"{peak[t]:.0f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t in sorted(peak)))
print()
print("| model | batch | threads | fakescope img/s | PyTorch img/s | ratio | fakescope GFLOP/s | % of FMA peak |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
keys = sorted({k[:3] for k in groups}, key=lambda k: (k[0] != "meso4", k[1], k[2]))
for a, b, t in keys:
    ours = med(groups[(a, b, t, "fakescope")])
    theirs = groups.get((a, b, t, "pytorch"))
    th = med(theirs) if theirs else None
    gf = ours * flop[a]
    pk = peak.get(t)
    print(f"| {title[a]} | {b} | {t} | {ours:.0f} | {th:.0f} | {ours / th:.2f}x | {gf:.1f} | {100 * gf / pk:.0f}% |"
          if th else f"| {title[a]} | {b} | {t} | {ours:.0f} | - | - | {gf:.1f} | {100 * gf / pk:.0f}% |")
print()
print("Targets at 2 threads: Meso4 >= 2x PyTorch at batch 1 and 32; MesoInception4 >= 3x at every batch.")
for a, b, t in keys:
    if t != 2 or (a, b, t, "pytorch") not in groups:
        continue
    need = 3.0 if a == "mesoinception4" else (2.0 if b in (1, 32) else None)
    if need is None:
        continue
    ratio = med(groups[(a, b, t, "fakescope")]) / med(groups[(a, b, t, "pytorch")])
    print(f"  {title[a]} batch {b}: {ratio:.2f}x (target {need:.0f}x) {'met' if ratio >= need else 'NOT met'}")
PYEOF
