#!/usr/bin/python3
"""Reference for bench/scan_bench.sh: the `fakescope scan` pipeline written the usual Python way.

cv2.VideoCapture decodes the clip (grab() every frame, retrieve() the 32 evenly spaced ones),
cv2.CascadeClassifier finds faces with the same cascade and parameters (grey, shrunk so the
longer side is 640, scale 1.1, 5 neighbours, faces of at least a tenth of the frame's shorter
side, boxes mapped back), each face is cropped as a square
30% larger than its box (clipped to the frame), resized to 256x256, and Meso4 and
MesoInception4 (bench/torch_meso.py, with the weights fakescope imported from the original
Keras files) judge the faces of each frame as one batch.

usage: scan_python.py MODELS_DIR THREADS FRAMES CLIP...
prints one JSON line per clip: {"impl", "clip", "frames", "faces", "decode", "faces_ms",
"inference", "total", "threads"} (milliseconds; model loading is not counted, as in fakescope's
own timing).
"""
import json
import math
import os
import struct
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_meso import Meso4, MesoInception4  # noqa: E402

CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
MAX_SIDE, SCALE, NEIGHBORS, MARGIN, SIDE = 640, 1.1, 5, 0.3, 256
MIN_FACE_SHARE = 0.1  # fakescope's FS_SCAN_MIN_FACE_SHARE


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for name, t in head.items():
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(
            np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"]).copy())
    return out, meta


def head_names(prefix):
    return {"dense1": prefix + "head.2", "dense2": prefix + "head.5"}


def load(models_dir, name):
    w, meta = read_safetensors(os.path.join(models_dir, name + ".safetensors"))
    arch = meta["arch"]
    if arch == "meso4":
        model = Meso4()
        names = {"conv%d" % (i + 1): "features.%d.0" % i for i in range(4)}
        names.update({"bn%d" % (i + 1): "features.%d.2" % i for i in range(4)})
    else:
        model = MesoInception4()
        names = {"bn1": "features.1", "bn2": "features.4", "conv3": "features.6",
                 "bn3": "features.8", "conv4": "features.10", "bn4": "features.12"}
        for k, at in (("inc1", 0), ("inc2", 3)):
            names.update({k + ".b1": "features.%d.b1.0" % at, k + ".b2a": "features.%d.b2.0" % at,
                          k + ".b2b": "features.%d.b2.2" % at, k + ".b3a": "features.%d.b3.0" % at,
                          k + ".b3b": "features.%d.b3.2" % at, k + ".b4a": "features.%d.b4.0" % at,
                          k + ".b4b": "features.%d.b4.2" % at})
    names.update(head_names(""))
    if meta.get("dense_leaky") == "false":
        model.head[3] = nn.ReLU()
    state = {}
    for key, t in w.items():
        layer, field = key.rsplit(".", 1)
        if key == "dense1.weight":  # fakescope flattens NHWC, torch NCHW: reorder the columns
            t = t.reshape(16, 8, 8, 16).permute(0, 3, 1, 2).reshape(16, 1024)
        state[names[layer] + "." + field] = t
    model.load_state_dict(state, strict=False)
    return model.eval(), meta.get("output", "")


def crop_box(x, y, w, h, fw, fh):
    side = max(w, h) * (1 + MARGIN)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    return max(0, x0), max(0, y0), min(fw, x1), min(fh, y1)


def scan(path, frames, cascade, models, threads):
    t0 = time.perf_counter()
    t_dec = t_faces = t_inf = 0.0
    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = sorted({int((i + 0.5) * total / frames) for i in range(frames)})
    n_faces = 0
    k = 0
    for idx in range(total):
        if k == len(wanted):
            break
        a = time.perf_counter()
        if not cap.grab():
            break
        if idx != wanted[k]:
            t_dec += time.perf_counter() - a
            continue
        ok, bgr = cap.retrieve()
        t_dec += time.perf_counter() - a
        k += 1
        if not ok:
            continue
        a = time.perf_counter()
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        fh, fw = gray.shape
        s = min(1.0, MAX_SIDE / max(fw, fh))
        small = cv2.resize(gray, (round(fw * s), round(fh * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
        min_side = round(math.ceil(MIN_FACE_SHARE * min(fw, fh)) * s)
        found = cascade.detectMultiScale(small, SCALE, NEIGHBORS, minSize=(min_side, min_side))
        t_faces += time.perf_counter() - a
        if len(found) == 0:
            continue
        a = time.perf_counter()
        batch = []
        for (x, y, w, h) in found:
            x0, y0, x1, y1 = crop_box(x / s, y / s, w / s, h / s, fw, fh)
            face = cv2.resize(bgr[y0:y1, x0:x1], (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
            batch.append(cv2.cvtColor(face, cv2.COLOR_BGR2RGB))
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            for m in models:
                m(x)
        t_inf += time.perf_counter() - a
        n_faces += len(found)
    cap.release()
    ms = lambda t: round(t * 1000, 1)  # noqa: E731
    return {"impl": "python", "clip": os.path.basename(path), "frames": k, "faces": n_faces,
            "decode": ms(t_dec), "faces_ms": ms(t_faces), "inference": ms(t_inf),
            "total": ms(time.perf_counter() - t0), "threads": threads}


def main():
    models_dir, threads, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    models = [load(models_dir, n)[0] for n in ("meso4-df", "mesoinception4-df")]
    cascade = cv2.CascadeClassifier(CASCADE)
    with torch.inference_mode():  # warm-up of both stacks, not timed
        for m in models:
            m(torch.rand(2, 3, SIDE, SIDE))
    for clip in sys.argv[4:]:
        print(json.dumps(scan(clip, frames, cascade, models, threads)), flush=True)


if __name__ == "__main__":
    main()
