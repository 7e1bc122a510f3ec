#!/usr/bin/env python3
"""Records the subset figures of a shipped model for tests/integration/test_shipped_models.sh.

usage: record_shipped_model.py FAKESCOPE SHARED_DATA MODELS_DIR NAME FRAMES SUBSET [RECORD]

SUBSET is a file of "label relative/path" lines (label real or fake, path relative to
SHARED_DATA; videos are judged on FRAMES sampled frames and their number of judged faces is
recorded too), or a trainer manifest (NAME_manifest.csv), from whose test split 15 files of
each class are taken, evenly spaced in path order. The files are linked into a dataset folder,
`fakescope eval --items` runs on it, and the files, their P(fake) and the figures go into
RECORD (default tests/data/shipped_models.json beside this script's tests/ folder).
"""
import json
import os
import subprocess
import sys
import tempfile

PER_CLASS = 15


def from_manifest(path):
    rows = []
    with open(path) as f:
        next(f)
        header = next(f).strip().split(",")
        assert header == ["path", "label", "kind", "source", "group", "split"], header
        for line in f:
            p, label, kind, source, group, split = line.rstrip("\n").split(",")
            if split == "test":
                rows.append(("fake" if label == "1" else "real", p))
    out = []
    for cls in ("real", "fake"):
        items = sorted(p for c, p in rows if c == cls)
        if not items:
            continue
        k = min(PER_CLASS, len(items))
        out += [(cls, items[i * len(items) // k]) for i in range(k)]
    return out


def main():
    fs, data, models, name, frames, subset = sys.argv[1:7]
    here = os.path.dirname(os.path.abspath(__file__))
    record = sys.argv[7] if len(sys.argv) > 7 else os.path.join(here, "..", "data",
                                                                 "shipped_models.json")
    if subset.endswith(".csv"):
        files = from_manifest(subset)
    else:
        files = [tuple(line.split(None, 1)) for line in open(subset) if line.strip()]
        files = [(c, p.strip()) for c, p in files]
    with tempfile.TemporaryDirectory() as tmp:
        for cls, p in files:
            os.makedirs(os.path.join(tmp, cls), exist_ok=True)
            os.symlink(os.path.join(data, p), os.path.join(tmp, cls, p.replace("/", "__")))
        out = subprocess.run([fs, "eval", "--model", name, "--dir", models, "--frames", frames,
                              "--threads", "2", "--json", "--items", tmp],
                             check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    scores = {os.path.basename(i["file"]): i["p_fake"] for i in d["items"]}
    samples = {os.path.basename(i["file"]): i["samples"] for i in d["items"]
               if i["kind"] == "video"}
    # a picture in which no face was found (a faces model) is not judged: left out of the record
    unjudged = [p for c, p in files if p.replace("/", "__") not in scores]
    for p in unjudged:
        print("left out (not judged: no face): %s" % p)
    files = [(c, p) for c, p in files if p not in unjudged]
    level = "video_" if d["videos"] else ""
    entry = {
        "frames": int(frames),
        "roc_auc": d[level + "roc_auc"],
        "accuracy": d[level + "accuracy"],
        "files": [{"path": p, "label": c, "p_fake": round(scores[p.replace("/", "__")], 6)}
                  for c, p in files],
    }
    for f in entry["files"]:  # a video's judged faces: the face finder and tracker at work
        key = f["path"].replace("/", "__")
        if key in samples:
            f["faces"] = samples[key]
    rec = {"models": {}}
    if os.path.exists(record):
        rec = json.load(open(record))
    rec["models"][name] = entry
    with open(record, "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %d files, %sroc_auc %s, accuracy %s" % (name, len(files), level, entry["roc_auc"],
                                                       entry["accuracy"]))


if __name__ == "__main__":
    main()
