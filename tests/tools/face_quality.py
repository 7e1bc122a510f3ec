#!/usr/bin/python3
"""Face finders compared on the shared videos (docs/faces.md, "Learned detector: quality"):
for each detector, the share of sampled frames in which the main face is found and the boxes
that belong to no main person (candidate false boxes), per 100 frames. Those candidates are cut
out into a folder of crops named <detector>__<video>__<frame>__<x>_<y>_<w>_<h>.png so a person
can label them; a labelled list (tests/data/face_boxes_checked.csv: crop name, face|not_face)
turns candidates into confirmed false boxes.

usage: face_quality.py FAKESCOPE SHARED_DATA OUT_DIR [--frames 32] [--labels CSV]
                       [--detectors haar,blazeface-short,blazeface-full]
"""
import argparse
import csv
import glob
import json
import os
import subprocess

import cv2

DETECTORS = [("haar", ["--face-detector", "haar"]),
             ("blazeface-short", ["--face-model", "blazeface-short"]),
             ("blazeface-full", ["--face-model", "blazeface-full"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fakescope")
    ap.add_argument("shared")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--labels")
    ap.add_argument("--detectors", default=",".join(d[0] for d in DETECTORS),
                    help="comma-separated subset of " + ", ".join(d[0] for d in DETECTORS))
    a = ap.parse_args()
    videos = sorted(glob.glob(os.path.join(a.shared, "ffpp-c40/*/*/*.mp4")) +
                    glob.glob(os.path.join(a.shared, "dfdc/videos/*/*.mp4")))
    labels = {}
    if a.labels and os.path.exists(a.labels):
        for row in csv.reader(open(a.labels)):
            if row and not row[0].startswith("#"):
                labels[row[0]] = row[1]
    os.makedirs(a.out, exist_ok=True)
    print("%d videos, %d frames each" % (len(videos), a.frames))
    print("| detector | set | frames | main face found | other boxes / 100 frames | labelled not-face / 100 frames | ms / frame |")
    print("|---|---|---|---|---|---|---|")
    chosen = a.detectors.split(",")
    for name, args in [d for d in DETECTORS if d[0] in chosen]:
        per_set = {}
        for v in videos:
            sset = "dfdc" if "/dfdc/" in v else "ffpp-c40"
            out = subprocess.run([a.fakescope, "scan", "--json", "--frames", str(a.frames),
                                  "--models", "faceswap-meso4"] + args + [v],
                                 capture_output=True, text=True)
            if out.returncode not in (0, 1):
                raise SystemExit("scan of %s with %s failed: %s" % (v, name, out.stderr))
            r = json.loads(out.stdout.splitlines()[0])
            st = per_set.setdefault(sset, {"frames": 0, "found": 0, "other": 0, "notface": 0, "ms": 0.0})
            main = r.get("main_person")
            cap = None
            for fr in r.get("frames", []):
                st["frames"] += 1
                st["ms"] += fr.get("faces_ms", 0)
                if any(f["person"] == main for f in fr["faces"]):
                    st["found"] += 1
                for f in fr["faces"]:
                    if f["person"] == main:
                        continue
                    st["other"] += 1
                    b = f["box"]
                    crop = "%s__%s__%d__%d_%d_%d_%d.png" % (name, os.path.basename(v)[:-4], fr["index"],
                                                              b["x"], b["y"], b["w"], b["h"])
                    if labels.get(crop) == "not_face":
                        st["notface"] += 1
                    if cap is None:
                        cap = cv2.VideoCapture(v)
                    cap.set(cv2.CAP_PROP_POS_FRAMES, fr["index"])
                    ok, img = cap.read()
                    if ok:
                        x0, y0 = max(0, b["x"]), max(0, b["y"])
                        cv2.imwrite(os.path.join(a.out, crop),
                                    cv2.resize(img[y0:y0 + b["h"], x0:x0 + b["w"]], (96, 96)))
            if cap is not None:
                cap.release()
        for sset, st in sorted(per_set.items()):
            n = max(1, st["frames"])
            print("| %s | %s | %d | %.1f%% | %.2f | %s | %.1f |" % (
                name, sset, st["frames"], 100.0 * st["found"] / n, 100.0 * st["other"] / n,
                "%.2f" % (100.0 * st["notface"] / n) if labels else "not labelled", st["ms"] / n))


if __name__ == "__main__":
    main()
