#!/usr/bin/env python3
"""Compares `fakescope faces` with OpenCV's own cv2.CascadeClassifier on the shared data.

OpenCV is used here only, as the reference; fakescope never loads it. For every image both run
with the same cascade and parameters (fakescope at full resolution: --max-side 0); boxes are
paired greedily by IoU (>= 0.5, one to one). Per data set it reports OpenCV's boxes, how many of
them fakescope matched, fakescope's extra boxes, and how many pairs are identical (same box and
neighbour count). Video frames are sampled with cv2.VideoCapture and written as PNG to a
temporary folder, so both sides read the same pixels.

  face_opencv_compare.py --fakescope build/fakescope --data ../shared/data [--quick] [--check]

--check exits 1 unless, in every data set, matched >= 95% of OpenCV's boxes and extra <= 5%.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2

CASCADE_DIR = "/usr/share/opencv4/haarcascades"


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = (x1 - x0) * (y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match(ref, ours, thr=0.5):
    pairs = sorted(((iou(r[:4], o[:4]), i, j) for i, r in enumerate(ref)
                    for j, o in enumerate(ours)), reverse=True)
    used_r, used_o, matched, identical = set(), set(), 0, 0
    for v, i, j in pairs:
        if v < thr:
            break
        if i in used_r or j in used_o:
            continue
        used_r.add(i)
        used_o.add(j)
        matched += 1
        identical += tuple(ref[i]) == tuple(ours[j])
    return matched, len(ours) - len(used_o), identical


def sample_video(path, n, out_dir, tag):
    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    want = sorted({int(i * total / n) for i in range(n)}) if n > 0 else []
    files, idx = [], 0
    while want:
        ok, frame = cap.read()
        if not ok:
            break
        if idx == want[0]:
            want.pop(0)
            f = os.path.join(out_dir, "%s_%05d.png" % (tag, idx))
            cv2.imwrite(f, frame)
            files.append(f)
        idx += 1
    cap.release()
    return files


def datasets(data, quick, frames_per_video, tmp):
    """(name, [image files]) per data set."""
    sets = []
    mesonet = sorted(glob.glob(os.path.join(data, "mesonet/test_images/*/*.jpg")))
    frames = sorted(glob.glob(os.path.join(data, "dfdc/frames/*/*.jpg")))
    dvids = sorted(glob.glob(os.path.join(data, "dfdc/videos/*/*.mp4")))
    fvids = sorted(glob.glob(os.path.join(data, "ffpp-c40/*/*/*.mp4")))
    if quick:
        frames, dvids, fvids = frames[-1:], dvids[:1], fvids[:2]
    sets.append(("mesonet/test_images", mesonet))
    sets.append(("dfdc/frames", frames))
    for name, vids in (("dfdc/videos", dvids), ("ffpp-c40", fvids)):
        files = []
        for k, v in enumerate(vids):
            tag = "%s_%d_%s" % (name.split("/")[0], k, os.path.splitext(os.path.basename(v))[0])
            files += sample_video(v, frames_per_video, tmp, tag)
        sets.append((name, files))
    return [(n, f) for n, f in sets if f]


def run_fakescope(binary, files, a):
    cmd = [binary, "faces", "--json", "--max-side", "0", "--cascade", a.cascade,
           "--scale", str(a.scale), "--neighbors", str(a.neighbors)]
    if a.min_size:
        cmd += ["--min-size", str(a.min_size)]
    out = subprocess.run(cmd + files, capture_output=True, text=True)
    res = {}
    for line in out.stdout.splitlines():
        o = json.loads(line)
        if "error" in o:
            raise SystemExit("fakescope failed on %s: %s" % (o["file"], o["error"]))
        res[o["file"]] = ([(f["x"], f["y"], f["w"], f["h"], f["neighbors"]) for f in o["faces"]],
                          o["ms"])
    if out.returncode != 0 or len(res) != len(files):
        raise SystemExit("fakescope faces exited %d: %s" % (out.returncode, out.stderr.strip()))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fakescope", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cascade", default="haarcascade_frontalface_default.xml")
    ap.add_argument("--scale", type=float, default=1.1)
    ap.add_argument("--neighbors", type=int, default=3)
    ap.add_argument("--min-size", type=int, default=0)
    ap.add_argument("--frames-per-video", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="a handful of frames (CI)")
    ap.add_argument("--sets", help="comma-separated prefixes of the data sets to run")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    if not os.path.isabs(a.cascade) and not os.path.exists(a.cascade):
        for d in (CASCADE_DIR, "/usr/share/opencv4/lbpcascades"):
            if os.path.exists(os.path.join(d, a.cascade)):
                a.cascade = os.path.join(d, a.cascade)
    cascade = cv2.CascadeClassifier(a.cascade)
    if cascade.empty():
        raise SystemExit("OpenCV cannot load " + a.cascade)
    cv2.setNumThreads(1)  # the timing column compares one thread with one thread
    report, ok = {}, True
    with tempfile.TemporaryDirectory() as tmp:
        sets = datasets(a.data, a.quick, 1 if a.quick else a.frames_per_video, tmp)
        if a.sets:
            sets = [(n, f) for n, f in sets if any(n.startswith(p) for p in a.sets.split(","))]
        print("%-22s %6s %7s %6s %6s %9s %9s %8s %8s" % ("data set", "images", "opencv", "matched",
              "extra", "identical", "match%", "cv ms", "ours ms"))
        for name, files in sets:
            ours = run_fakescope(a.fakescope, files, a)
            n_ref = n_match = n_extra = n_same = 0
            t_cv = t_ours = 0.0
            for f in files:
                img = cv2.imread(f, cv2.IMREAD_COLOR)
                t0 = time.perf_counter()
                kw = {"minSize": (a.min_size, a.min_size)} if a.min_size else {}
                boxes, neigh = cascade.detectMultiScale2(img, a.scale, a.neighbors, **kw)
                t_cv += (time.perf_counter() - t0) * 1000
                ref = [tuple(int(v) for v in b) + (int(n),) for b, n in zip(boxes, neigh)]
                mine, ms = ours[f]
                t_ours += ms
                m, e, same = match(ref, mine)
                n_ref += len(ref)
                n_match += m
                n_extra += e
                n_same += same
            pct = 100.0 * n_match / n_ref if n_ref else 100.0
            print("%-22s %6d %7d %7d %6d %9d %8.1f%% %8.0f %8.0f" % (name, len(files), n_ref,
                  n_match, n_extra, n_same, pct, t_cv / len(files), t_ours / len(files)))
            good = n_match >= 0.95 * n_ref and n_extra <= 0.05 * n_ref
            ok &= good
            report[name] = {"images": len(files), "opencv_boxes": n_ref, "matched": n_match,
                            "extra": n_extra, "identical": n_same,
                            "opencv_ms_per_image": t_cv / len(files),
                            "fakescope_ms_per_image": t_ours / len(files), "pass": good}
    if a.json:
        with open(a.json, "w") as fp:
            json.dump({"cascade": os.path.basename(a.cascade), "scale": a.scale,
                       "neighbors": a.neighbors, "sets": report}, fp, indent=1)
    if a.check and not ok:
        print("FAIL: a data set is below 95% matched or above 5% extra", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
