#!/usr/bin/python3
"""Independent reference for fakescope's 68-point landmark network (face-api's
FaceLandmark68Net), in numpy, for tests/unit/test_landmarks.c.

It reads the TF.js manifest and .bin itself (not fakescope's safetensors), builds the crop the
way docs/faces.md ("Landmarks") defines it, runs the network with its own convolutions and
prints the 68 points in image pixels.

usage: landmarks68_ref.py MANIFEST.json BOXES.txt
  BOXES.txt: one line per face, "IMAGE X Y W H" (box in image pixels, floats); IMAGE is read
  with OpenCV (python3-opencv) when it is there, else through ffmpeg as raw RGB, so
  fakescope's decoders are not used. (ffmpeg's own JPEG decoder differs from libjpeg-turbo by a
  level or two here and there, which moves points by up to ~1% of the box on crops that show
  half a face.)
  Output: one line per face, 136 numbers "x0 y0 x1 y1 ..." in image pixels.

Definitions it shares with fakescope only through the documentation:
  crop   the square of side S = max(W, H) with the box's centre; the image is taken as black
         outside its borders (face-api pads the box to a square with zeros).
  sample each of the 112 x 112 input pixels is the mean of k x k bilinear samples (k =
         ceil(S / 112), at most 8) spread evenly over its footprint; pixel centres at +0.5.
  input  (rgb - [122.782, 117.001, 104.298]) / 255.
  output the network's 136 values (x, y interleaved) times S, plus the square's corner.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np

SIDE = 112
MAX_K = 8
MEAN = np.array([122.782, 117.001, 104.298], dtype=np.float64)


def load_tfjs(manifest_path):
    """name -> float64 array, dequantized as q * scale + min."""
    with open(manifest_path) as f:
        groups = json.load(f)
    out = {}
    base = os.path.dirname(manifest_path)
    for g in groups:
        blob = b"".join(open(os.path.join(base, p), "rb").read() for p in g["paths"])
        off = 0
        for w in g["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                assert q["dtype"] == "uint8", q
                raw = np.frombuffer(blob, dtype=np.uint8, count=n, offset=off)
                off += n
                val = raw.astype(np.float64) * q["scale"] + q["min"]
            else:
                assert w["dtype"] == "float32", w
                val = np.frombuffer(blob, dtype="<f4", count=n, offset=off).astype(np.float64)
                off += 4 * n
            out[w["name"]] = val.reshape(w["shape"])
    return out


def same_pad(x, k, s):
    """TensorFlow SAME padding of an H x W x C map (extra row/column at the bottom/right)."""
    h, w = x.shape[:2]
    oh, ow = -(-h // s), -(-w // s)
    ph = max((oh - 1) * s + k - h, 0)
    pw = max((ow - 1) * s + k - w, 0)
    return np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))), oh, ow


def conv(x, f, s):
    """Full conv, filter [k, k, cin, cout] (TF layout)."""
    k = f.shape[0]
    xp, oh, ow = same_pad(x, k, s)
    out = np.zeros((oh, ow, f.shape[3]))
    for dy in range(k):
        for dx in range(k):
            patch = xp[dy:dy + s * oh:s, dx:dx + s * ow:s, :]
            out += patch @ f[dy, dx]
    return out


def dwconv(x, f, s):
    """Depthwise conv, filter [k, k, c, 1]."""
    k = f.shape[0]
    xp, oh, ow = same_pad(x, k, s)
    out = np.zeros((oh, ow, x.shape[2]))
    for dy in range(k):
        for dx in range(k):
            out += xp[dy:dy + s * oh:s, dx:dx + s * ow:s, :] * f[dy, dx, :, 0]
    return out


def sep(x, p, name, s):
    y = dwconv(x, p[name + "/depthwise_filter"], s)
    return y @ p[name + "/pointwise_filter"][0, 0] + p[name + "/bias"]


def relu(x):
    return np.maximum(x, 0)


def dense_block(x, p, blk, first):
    if first:
        out1 = relu(conv(x, p[blk + "/conv0/filters"], 2) + p[blk + "/conv0/bias"])
    else:
        out1 = relu(sep(x, p, blk + "/conv0", 2))
    out2 = sep(out1, p, blk + "/conv1", 1)
    out3 = sep(relu(out1 + out2), p, blk + "/conv2", 1)
    out4 = sep(relu(out1 + out2 + out3), p, blk + "/conv3", 1)
    return relu(out1 + out2 + out3 + out4)


def net(p, x):
    for i in range(4):
        x = dense_block(x, p, "dense%d" % i, i == 0)
    assert x.shape[:2] == (7, 7)
    v = x.mean(axis=(0, 1))  # avgPool 7x7 stride 2 'valid' on 7x7: one window, the mean
    return v @ p["fc/weights"] + p["fc/bias"]


def read_rgb(path):
    try:
        import cv2  # Debian's OpenCV decodes JPEG with the same libjpeg-turbo as fakescope
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is not None:
            return img[:, :, ::-1].astype(np.float64)
    except ImportError:
        pass
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", path],
                           check=True, capture_output=True, text=True).stdout.split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8)[:w * h * 3].reshape(h, w, 3).astype(np.float64)


def crop(img, bx, by, bw, bh):
    s = max(bw, bh)
    x0, y0 = bx + bw / 2 - s / 2, by + bh / 2 - s / 2
    k = min(max(1, math.ceil(s / SIDE)), MAX_K)
    # sample positions along one axis: (SIDE * k) of them, k per input pixel
    t = (np.arange(SIDE * k) + 0.5) / k * (s / SIDE)
    h, w = img.shape[:2]
    padded = np.zeros((h + 2, w + 2, 3))
    padded[1:-1, 1:-1] = img

    def axis(pos, n):
        f = pos - 0.5
        i0 = np.floor(f)
        frac = f - i0
        i0 = i0.astype(np.int64)
        # indices into the zero-bordered copy; anything further out reads the border (zero)
        a = np.clip(i0 + 1, 0, n + 1)
        b = np.clip(i0 + 2, 0, n + 1)
        return a, b, frac

    ya, yb, fy = axis(y0 + t, h)
    xa, xb, fx = axis(x0 + t, w)
    rows = padded[ya] * (1 - fy)[:, None, None] + padded[yb] * fy[:, None, None]
    vals = rows[:, xa] * (1 - fx)[None, :, None] + rows[:, xb] * fx[None, :, None]
    vals = vals.reshape(SIDE, k, SIDE, k, 3).mean(axis=(1, 3))
    return vals, x0, y0, s


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    p = load_tfjs(sys.argv[1])
    cache = {}
    for line in open(sys.argv[2]):
        parts = line.split()
        if not parts:
            continue
        path, box = parts[0], [float(v) for v in parts[1:5]]
        if path not in cache:
            cache = {path: read_rgb(path)}
        x, x0, y0, s = crop(cache[path], *box)
        out = net(p, (x - MEAN) / 255.0)
        pts = []
        for i in range(68):
            pts.append("%.4f %.4f" % (x0 + out[2 * i] * s, y0 + out[2 * i + 1] * s))
        print(" ".join(pts))


if __name__ == "__main__":
    main()
