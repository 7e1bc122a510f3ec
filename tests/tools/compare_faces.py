#!/usr/bin/python3
"""Compares two sets of `faces --json` lines (fakescope's and the reference's, same files in the
same order): every face scored clear of the threshold on either side must have a partner on the
other side with box IoU >= --iou and every keypoint within --kp of the box side. Prints the
worst figures; exit 1 on a mismatch or when fewer than --min-faces faces were compared.

usage: compare_faces.py OURS.jsonl REF.jsonl [--iou 0.95] [--kp 0.01] [--min-faces N] [--margin 0.05]
"""
import argparse
import json
import sys


def iou(a, b):
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("ref")
    ap.add_argument("--iou", type=float, default=0.95)
    ap.add_argument("--kp", type=float, default=0.01)
    ap.add_argument("--min-faces", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--margin", type=float, default=0.05)
    a = ap.parse_args()
    ours = [json.loads(l) for l in open(a.ours) if l.strip()]
    ref = [json.loads(l) for l in open(a.ref) if l.strip()]
    if len(ours) != len(ref):
        sys.exit("FAIL: %d results against %d" % (len(ours), len(ref)))
    clear = a.threshold + a.margin
    compared, worst_iou, worst_kp, bad = 0, 1.0, 0.0, []
    for o, r in zip(ours, ref):
        if "error" in o or "error" in r:
            bad.append("%s: error %s / %s" % (o.get("file"), o.get("error"), r.get("error")))
            continue
        for side, mine, other in (("reference", r["faces"], o["faces"]), ("ours", o["faces"], r["faces"])):
            for f in mine:
                if f["score"] < clear:
                    continue
                best = max(other, key=lambda g: iou(f, g), default=None)
                j = iou(f, best) if best else 0.0
                if j < a.iou:
                    bad.append("%s: %s face at %.0f,%.0f (score %.3f) has no partner (best IoU %.3f)"
                               % (o["file"], side, f["x"], f["y"], f["score"], j))
                    continue
                sidelen = max(f["w"], f["h"])
                kp = max((abs(p[0] - q[0]) ** 2 + abs(p[1] - q[1]) ** 2) ** 0.5 / sidelen
                         for p, q in zip(f["keypoints"], best["keypoints"]))
                if kp > a.kp:
                    bad.append("%s: keypoints differ by %.2f%% of the box side" % (o["file"], 100 * kp))
                if side == "reference":
                    compared += 1
                    worst_iou, worst_kp = min(worst_iou, j), max(worst_kp, kp)
    print("compared %d faces in %d pictures: worst IoU %.4f, worst keypoint error %.3f%% of the box side"
          % (compared, len(ours), worst_iou, 100 * worst_kp))
    for b in bad:
        print("FAIL:", b)
    if bad or compared < a.min_faces:
        if compared < a.min_faces:
            print("FAIL: only %d faces compared, %d expected" % (compared, a.min_faces))
        sys.exit(1)


if __name__ == "__main__":
    main()
