#!/usr/bin/python3
"""Independent reference for fakescope's BlazeFace: reads MediaPipe's .tflite file itself (a
small FlatBuffers reader, no fakescope code), runs its ops with numpy in float64, then decodes the
anchors and applies MediaPipe's weighted non-maximum suppression. Prints one JSON line per image
in the shape of `fakescope faces --json` (x, y, w, h, score, keypoints), for
tests/integration/test_blazeface_ref.sh to compare.

usage: blazeface_ref.py MODEL.tflite IMAGE...   (Debian's python3-numpy and python3-opencv)
"""
import json
import struct
import sys

import cv2
import numpy as np

# ---- FlatBuffers: just enough to walk a TFLite model (schema v3) ----


class Table:
    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtlen = struct.unpack_from("<H", buf, vt)[0]
        self.vt = vt

    def _off(self, field):
        o = 4 + 2 * field
        if o >= self.vtlen:
            return 0
        return struct.unpack_from("<H", self.buf, self.vt + o)[0]

    def scalar(self, field, fmt, default=0):
        o = self._off(field)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0] if o else default

    def _ref(self, field):
        o = self._off(field)
        if not o:
            return None
        p = self.pos + o
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, field):
        p = self._ref(field)
        return Table(self.buf, p) if p is not None else None

    def vector(self, field):
        p = self._ref(field)
        if p is None:
            return 0, 0
        return struct.unpack_from("<I", self.buf, p)[0], p + 4

    def tables(self, field):
        n, p = self.vector(field)
        return [Table(self.buf, p + 4 * i + struct.unpack_from("<I", self.buf, p + 4 * i)[0])
                for i in range(n)]

    def ints(self, field):
        n, p = self.vector(field)
        return list(struct.unpack_from("<%di" % n, self.buf, p)) if n else []

    def bytes(self, field):
        n, p = self.vector(field)
        return self.buf[p:p + n]

    def string(self, field):
        return self.bytes(field).decode()


ADD, CONCAT, CONV, DWCONV, DEQUANT, MAXPOOL, RELU, RELU6, RESHAPE, RESIZE, PAD = \
    0, 2, 3, 4, 6, 17, 19, 21, 22, 23, 34
DTYPES = {0: "<f4", 1: "<f2", 2: "<i4"}


def act(x, a):
    if a == 1:
        return np.maximum(x, 0)
    if a == 3:
        return np.clip(x, 0, 6)
    assert a == 0, "activation %d" % a
    return x


def same_pad(size, k, s, d=1):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


def conv(x, w, b, stride, padding, depthwise):
    h, wd, c = x.shape
    k = w.shape[1]
    if padding == 0:  # SAME
        oh, t, bo = same_pad(h, k, stride)
        ow, l, r = same_pad(wd, k, stride)
    else:
        oh, ow, t, bo, l, r = (h - k) // stride + 1, (wd - k) // stride + 1, 0, 0, 0, 0
    xp = np.pad(x, ((t, bo), (l, r), (0, 0)))
    cout = w.shape[3] if depthwise else w.shape[0]
    y = np.zeros((oh, ow, cout)) + (b if b is not None else 0)
    for ky in range(k):
        for kx in range(k):
            win = xp[ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride, :]
            if depthwise:
                y += win * w[0, ky, kx, :]
            else:
                y += win @ w[:, ky, kx, :].T
    return y


def maxpool(x, k, stride, padding):
    h, wd, c = x.shape
    if padding == 0:
        oh, t, bo = same_pad(h, k, stride)
        ow, l, r = same_pad(wd, k, stride)
    else:
        oh, ow, t, bo, l, r = (h - k) // stride + 1, (wd - k) // stride + 1, 0, 0, 0, 0
    xp = np.pad(x, ((t, bo), (l, r), (0, 0)), constant_values=-np.inf)
    y = np.full((oh, ow, c), -np.inf)
    for ky in range(k):
        for kx in range(k):
            y = np.maximum(y, xp[ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride, :])
    return y


def resize_bilinear(x, oh, ow, align, half):
    h, w, _ = x.shape

    def coords(o, n):
        s = (n - 1) / (o - 1) if align and o > 1 else n / o
        v = (np.arange(o) + 0.5) * s - 0.5 if half else np.arange(o) * s
        lo = np.clip(np.floor(v).astype(int), 0, n - 1)
        hi = np.clip(np.ceil(v).astype(int), 0, n - 1)
        return lo, hi, v - lo

    y0, y1, ty = coords(oh, h)
    x0, x1, tx = coords(ow, w)
    ty, tx = ty[:, None, None], tx[None, :, None]
    top = x[y0][:, x0] * (1 - tx) + x[y0][:, x1] * tx
    bot = x[y1][:, x0] * (1 - tx) + x[y1][:, x1] * tx
    return top * (1 - ty) + bot * ty


class Model:
    def __init__(self, path):
        buf = open(path, "rb").read()
        root = Table(buf, struct.unpack_from("<I", buf, 0)[0])
        codes = [max(t.scalar(0, "b"), t.scalar(3, "i")) for t in root.tables(1)]
        buffers = [t.bytes(0) for t in root.tables(4)]
        sg = root.tables(2)[0]
        self.tensors = []
        for t in sg.tables(0):
            shape, dtype, data = t.ints(0), t.scalar(1, "b"), buffers[t.scalar(2, "I")]
            value = None
            if len(data):
                value = np.frombuffer(data, DTYPES[dtype]).astype(np.float64).reshape(shape)
            self.tensors.append({"shape": shape, "value": value})
        self.ops = []
        for o in sg.tables(3):
            self.ops.append((codes[o.scalar(0, "I")], o.ints(1), o.ints(2), o.table(4)))
        self.inputs, self.outputs = sg.ints(1), sg.ints(2)

    def run(self, x):
        v = {self.inputs[0]: x}

        def get(i):
            return v[i] if i in v else self.tensors[i]["value"]

        for code, ins, outs, opt in self.ops:
            a = get(ins[0])
            if code == DEQUANT:
                y = a
            elif code in (CONV, DWCONV):
                dw = code == DWCONV
                b = get(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
                y = conv(a, get(ins[1]), b, opt.scalar(2, "i"), opt.scalar(0, "b"), dw)
                y = act(y, opt.scalar(4 if dw else 3, "b"))
            elif code == ADD:
                y = act(a + get(ins[1]), opt.scalar(0, "b") if opt else 0)
            elif code == RELU:
                y = np.maximum(a, 0)
            elif code == RELU6:
                y = np.clip(a, 0, 6)
            elif code == MAXPOOL:
                y = act(maxpool(a, opt.scalar(4, "i"), opt.scalar(2, "i"), opt.scalar(0, "b")),
                        opt.scalar(5, "b"))
            elif code == PAD:
                p = get(ins[1]).astype(int)
                assert p[0].tolist() == [0, 0]
                y = np.pad(a, [tuple(r) for r in p[1:]])
            elif code == RESHAPE:
                y = a.reshape([d for d in self.tensors[outs[0]]["shape"][1:]])
            elif code == CONCAT:
                axis = opt.scalar(0, "i")
                nd = len(self.tensors[outs[0]]["shape"])
                axis = (axis + nd if axis < 0 else axis) - 1  # the batch is not stored
                y = np.concatenate([get(i) for i in ins], axis=axis)
            elif code == RESIZE:
                shape = self.tensors[outs[0]]["shape"]
                y = resize_bilinear(a, shape[1], shape[2], opt.scalar(2, "b"), opt.scalar(3, "b"))
            else:
                raise SystemExit("op %d is not in the reference" % code)
            v[outs[0]] = y
        return [v[i] for i in self.outputs]


# ---- MediaPipe's face-detection post-processing ----
VARIANTS = {128: ([8, 16], [2, 6]), 192: ([4], [1])}


def anchors(side):
    strides, per = VARIANTS[side]
    out = []
    for s, n in zip(strides, per):
        fm = side // s
        for y in range(fm):
            for x in range(fm):
                out += [((x + 0.5) / fm, (y + 0.5) / fm)] * n
    return np.array(out)


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detect(model, img, min_score=0.5, nms=0.3, pad=0.0):
    side = model.tensors[model.inputs[0]]["shape"][1]
    h, w = img.shape[:2]
    scale = min(side / w, side / h) / (1 + 2 * pad)
    rw, rh = max(1, min(side, round(w * scale))), max(1, min(side, round(h * scale)))
    interp = cv2.INTER_AREA if rw * 2 <= w else cv2.INTER_LINEAR
    small = cv2.resize(img, (rw, rh), interpolation=interp)
    ox, oy = (side - rw) // 2, (side - rh) // 2
    x = np.full((side, side, 3), -1.0)
    x[oy:oy + rh, ox:ox + rw] = small.astype(np.float64) / 127.5 - 1
    outs = model.run(x)
    reg = next(o for o in outs if o.shape[-1] == 16).reshape(-1, 16)
    logit = next(o for o in outs if o.shape[-1] == 1).reshape(-1)
    score = 1 / (1 + np.exp(-np.clip(logit, -100, 100)))
    anc = anchors(side)
    cand = []
    for i in np.argsort(-score, kind="stable"):
        if score[i] < min_score:
            break
        r = reg[i] / side
        cx, cy = r[0] + anc[i, 0], r[1] + anc[i, 1]
        box = [cx - r[2] / 2, cy - r[3] / 2, cx + r[2] / 2, cy + r[3] / 2]
        kp = [(r[4 + 2 * k] + anc[i, 0], r[5 + 2 * k] + anc[i, 1]) for k in range(6)]
        cand.append((score[i], box, kp))
    faces = []
    while cand:
        best = cand[0]
        group = [c for c in cand if iou(c[1], best[1]) > nms]
        cand = [c for c in cand if iou(c[1], best[1]) <= nms]
        if not group:
            group = [best]
            cand = cand[1:] if cand and cand[0] is best else cand
        tot = sum(c[0] for c in group)
        box = [sum(c[0] * c[1][j] for c in group) / tot for j in range(4)]
        kp = [[sum(c[0] * c[2][k][j] for c in group) / tot for j in range(2)] for k in range(6)]

        def px(v, o):
            return (v * side - o) / scale

        faces.append({"x": px(box[0], ox), "y": px(box[1], oy),
                      "w": (box[2] - box[0]) * side / scale, "h": (box[3] - box[1]) * side / scale,
                      "score": float(best[0]),
                      "keypoints": [[px(k[0], ox), px(k[1], oy)] for k in kp]})
    return faces


def main():
    model = Model(sys.argv[1])
    for path in sys.argv[2:]:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            print(json.dumps({"file": path, "error": "unreadable"}))
            continue
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        # a picture without a face is looked at again, shrunk inside a black border (close-ups),
        # as fakescope does (FS_BLAZEFACE_CLOSEUP_PAD, fs_blazeface_detect_picture)
        faces = detect(model, img) or detect(model, img, pad=0.5)
        print(json.dumps({"file": path, "width": img.shape[1], "height": img.shape[0],
                          "faces": faces}))


if __name__ == "__main__":
    main()
