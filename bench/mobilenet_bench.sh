#!/bin/bash
# bench/mobilenet_bench.sh BINARY: MobileNetV2 (224x224, random weights on both sides) in
# fakescope next to PyTorch (bench/torch_mobilenet.py) on the same machine and threads:
#  - inference images/s at batch 1 and 32; PyTorch's figure is its best of eager NCHW, eager
#    channels_last and the frozen TorchScript graph (batch norm folded, oneDNN fusions) in
#    both layouts, and the table names which one won;
#  - training images/s at batch 32 (forward in training mode, BCE on one logit, backward,
#    Adam step), PyTorch in channels_last and contiguous layouts (its best counts), and the
#    peak resident memory of each training process (ru_maxrss of a fresh process: weights,
#    activations, gradients, optimiser state, the program and, for PyTorch, the interpreter);
#  - GFLOP/s against the FMA peak measured in the same run (fakescope bench --peak, the widest
#    vectors the CPU has and AVX2 alone);
#  - fakescope's inference again with --no-share (every node its own buffer for the batch, as
#    before buffer sharing), in the same rounds, for what sharing gains.
# The two sides alternate (the order flips every round) and each figure is the median over
# the rounds, since the machine may be shared; the best round of each side is printed too,
# because on a shared machine PyTorch's OpenMP threads can collapse (a round at a few images
# per second) where a median of few rounds still lands, which flatters the ratio. PyTorch runs with glibc's malloc kept mapped
# (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_), as a long-running server would be tuned.
#
# Environment: BENCH_THREADS (default 2), BENCH_ROUNDS (inference rounds, default 5),
# BENCH_SECONDS per inference measurement (default 2), BENCH_TRAIN_ROUNDS (default 3),
# BENCH_TRAIN_STEPS (timed steps per training run, default 3), BENCH_OUT (raw JSON lines).
set -euo pipefail

BIN=${1:?usage: bench/mobilenet_bench.sh path/to/fakescope}
HERE=$(cd "$(dirname "$0")" && pwd)
T=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-2}
TROUNDS=${BENCH_TRAIN_ROUNDS:-3}
STEPS=${BENCH_TRAIN_STEPS:-3}
PY=/usr/bin/python3 # Debian's python3-torch lives there, not in other interpreters on PATH
RAW=${BENCH_OUT:-$(mktemp /tmp/fakescope-mobilenet-bench.XXXXXX)}
: >"$RAW"

have_torch=1
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    have_torch=0
    echo "mobilenet_bench: PyTorch/torchvision not importable by $PY (scripts/deps.sh --bench installs them); fakescope alone" >&2
fi

torch_py() {
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
        "$PY" "$HERE/torch_mobilenet.py" "$@"
}
ours_infer() { # batch
    "$BIN" bench --arch mobilenetv2 --batch "$1" --threads "$T" --seconds "$SECS" --json |
        sed 's/^{/{"impl":"fakescope","mode":"infer",/' >>"$RAW"
    "$BIN" bench --arch mobilenetv2 --batch "$1" --threads "$T" --seconds "$SECS" --json --no-share |
        sed 's/^{/{"impl":"fakescope-noshare","mode":"infer",/' >>"$RAW"
}
torch_infer() { # batch
    torch_py infer "$1" "$T" "$SECS" | sed 's/^{/{"impl": "pytorch", "mode": "infer", /' >>"$RAW"
}
ours_train() {
    "$BIN" train-bench --arch mobilenetv2 --batch 32 --threads "$T" --steps "$STEPS" --json |
        sed 's/^{/{"impl": "fakescope", "mode": "train", /' >>"$RAW"
}
torch_train() {
    for layout in channels_last contiguous; do
        torch_py train 32 "$T" "$STEPS" "$layout" | sed 's/^{/{"impl": "pytorch", "mode": "train", /' >>"$RAW"
    done
}

echo "mobilenet_bench: $ROUNDS inference rounds (${SECS}s each), $TROUNDS training rounds ($STEPS steps), $T threads; raw results in $RAW" >&2
for r in $(seq 1 "$ROUNDS"); do
    for t in 1 "$T"; do
        "$BIN" bench --peak --threads "$t" --seconds 0.3 --json | sed 's/^{/{"impl":"peak",/' >>"$RAW"
        FAKESCOPE_NO_AVX512=1 "$BIN" bench --peak --threads "$t" --seconds 0.3 --json |
            sed 's/^{/{"impl":"peak",/' >>"$RAW"
    done
    for b in 1 32; do
        if [ $((r % 2)) -eq 1 ] || [ $have_torch -eq 0 ]; then
            ours_infer "$b"
            [ $have_torch -eq 1 ] && torch_infer "$b"
        else
            torch_infer "$b"
            ours_infer "$b"
        fi
    done
    echo "mobilenet_bench: inference round $r of $ROUNDS done" >&2
done
for r in $(seq 1 "$TROUNDS"); do
    if [ $((r % 2)) -eq 1 ] || [ $have_torch -eq 0 ]; then
        ours_train
        [ $have_torch -eq 1 ] && torch_train
    else
        torch_train
        ours_train
    fi
    echo "mobilenet_bench: training round $r of $TROUNDS done" >&2
done

"$PY" - "$RAW" "$T" <<'PYEOF'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
T = int(sys.argv[2])
med = statistics.median
peak = collections.defaultdict(list)
for r in rows:
    if r["impl"] == "peak":
        peak[(r["isa"], r["threads"])].append(r["peak_gflops"])
peak = {k: med(v) for k, v in peak.items()}
for isa in sorted({k[0] for k in peak}, reverse=True):
    print(f"FMA peak ({isa} loop, median): " +
          ", ".join(f"{peak[(isa, t)]:.0f} GFLOP/s on {t} thread{'s' if t > 1 else ''}"
                    for t in sorted(t for i, t in peak if i == isa)))
print()
inf = collections.defaultdict(list)
gflops = collections.defaultdict(list)  # fakescope's own count: 2 x multiply-adds per second
layouts = collections.defaultdict(collections.Counter)
for r in rows:
    if r.get("mode") == "infer":
        inf[(r["impl"], r["batch"])].append(r["images_per_s"])
        if r["impl"] == "fakescope":
            gflops[r["batch"]].append(r["gflops"])
        if r["impl"] == "pytorch":
            layouts[r["batch"]][r["layout"]] += 1
for b in (1, 32):
    s, u = inf[("fakescope", b)], inf[("fakescope-noshare", b)]
    if s and u:
        print(f"fakescope buffer sharing, batch {b}: {med(s):.1f} images/s, {med(u):.1f} without "
              f"(--no-share), {100 * (med(s) / med(u) - 1):+.1f}%")
print()
print(f"MobileNetV2 224x224 inference, {T} threads (images/s: median of interleaved runs; best run):")
print()
print("| batch | fakescope | PyTorch (its best layout) | ratio | best fakescope | best PyTorch | ratio of bests | target | fakescope GFLOP/s | % of FMA peak |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
verdicts = []
widest = max((i for i, t in peak), default=None)
pk = peak.get((widest, T))
for b, need in ((1, 2.0), (32, 1.5)):
    ours_runs, theirs_runs = inf[("fakescope", b)], inf[("pytorch", b)]
    if not ours_runs:
        continue
    ours = med(ours_runs)
    gf = med(gflops[b])
    share = f"{100 * gf / pk:.0f}% ({widest}, {T} threads)" if pk else "-"
    lay = layouts[b].most_common(1)[0][0] if layouts[b] else "-"
    if theirs_runs:
        theirs = med(theirs_runs)
        ratio, rbest = ours / theirs, max(ours_runs) / max(theirs_runs)
        verdicts.append(f"  inference batch {b}: median {ratio:.2f}x, best {rbest:.2f}x (target {need}x): "
                        f"{'met' if min(ratio, rbest) >= need else 'NOT met'}")
        print(f"| {b} | {ours:.1f} | {theirs:.1f} ({lay}) | {ratio:.2f}x | {max(ours_runs):.1f} | "
              f"{max(theirs_runs):.1f} | {rbest:.2f}x | {need}x | {gf:.1f} | {share} |")
    else:
        print(f"| {b} | {ours:.1f} | - | - | {max(ours_runs):.1f} | - | - | {need}x | {gf:.1f} | {share} |")
print()
tr = collections.defaultdict(list)
rss = collections.defaultdict(list)
for r in rows:
    if r.get("mode") == "train":
        key = r["impl"] if r["impl"] == "fakescope" else "pytorch " + r["layout"]
        tr[key].append(r["images_per_s"])
        rss[key].append(r["max_rss_mb"])
print(f"MobileNetV2 224x224 training, batch 32, {T} threads (forward + BCE + backward + Adam):")
print()
print("| | images/s (median) | best run | peak resident memory (ru_maxrss, MB) | runs |")
print("| --- | ---: | ---: | ---: | ---: |")
for k in sorted(tr, key=lambda k: k != "fakescope"):
    print(f"| {k} | {med(tr[k]):.2f} | {max(tr[k]):.2f} | {med(rss[k]):.0f} | {len(tr[k])} |")
torch_keys = [k for k in tr if k.startswith("pytorch")]
if tr["fakescope"] and torch_keys:
    best = max(torch_keys, key=lambda k: med(tr[k]))
    ratio = med(tr["fakescope"]) / med(tr[best])
    rbest = max(tr["fakescope"]) / max(max(tr[k]) for k in torch_keys)
    verdicts.append(f"  training batch 32: median {ratio:.2f}x {best}, best {rbest:.2f}x (target 1x): "
                    f"{'met' if min(ratio, rbest) >= 1 else 'NOT met'}")
print()
print("Targets at", T, "threads (met only when both the median and the best-run ratio reach them):")
print("\n".join(verdicts) if verdicts else "  (no PyTorch figures)")
PYEOF
