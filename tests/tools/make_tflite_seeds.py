#!/usr/bin/env python3
"""Writes the small TFLite models of tests/fuzz/seeds/tflite/ (the fuzzer's seeds, also read by
tests/unit/test_tflite.c), so that no third-party model file enters the repository.

Usage: python3 tests/tools/make_tflite_seeds.py [OUT_DIR]   (default: tests/fuzz/seeds/tflite)

The FlatBuffer is laid out front to back with the standard library alone: each table is
written after its vtable (so the table's soffset is positive), parents before children, and
every offset is patched once its target is placed; FlatBuffers offsets only point forward, so
this order is the one the format allows. Field ids follow tensorflow/lite/schema/schema.fbs.

tiny.tflite exercises what the reader decodes: per-tensor and per-channel quantization (along
dimensions 0 and 3, zero points given and left out), FLOAT16/FLOAT32/UINT8/INT32 constants, a
buffer stored outside the FlatBuffer (Buffer.offset/size, as files past 2 GiB do), an operator
code only in the old byte field, one only in the new int field (300, unknown to the reader), a
CUSTOM operator, an absent optional input (-1), and the options of CONV_2D, DEPTHWISE_CONV_2D,
ADD, AVERAGE/MAX_POOL_2D, MEAN, RESHAPE, FULLY_CONNECTED, SOFTMAX, CONCATENATION and PAD.
tests/unit/test_tflite.c checks every value written here; change both together.
min.tflite is the smallest model the reader accepts: one tensor, no operator.
"""
import os
import struct
import sys

# Schema numbers used below.
INT8, UINT8, INT32, FLOAT16, FLOAT32 = 9, 3, 2, 1, 0
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3


class Writer:
    def __init__(self):
        self.b = bytearray(b"\0\0\0\0TFL3")  # root offset (patched) + file identifier

    def pad(self, n):
        while len(self.b) % n:
            self.b.append(0)

    def table(self, fields):
        """fields: {id: (struct format or 'ref', value)}; returns {id: absolute position}.
        'ref' fields are left zero for link()."""
        ids = sorted(fields)
        layout, off = {}, 4
        for i in ids:
            size = struct.calcsize("<" + ("I" if fields[i][0] == "ref" else fields[i][0]))
            off += -off % size
            layout[i] = off
            off += size
        tsize = off + (-off % 4)
        nslots = ids[-1] + 1 if ids else 0
        vt_size = 4 + 2 * nslots
        self.pad(2)
        vt = len(self.b)
        tpos = vt + vt_size
        tpos += -tpos % 8
        self.b += bytearray(tpos - vt + tsize)
        struct.pack_into("<HH", self.b, vt, vt_size, tsize)
        for i in ids:
            struct.pack_into("<H", self.b, vt + 4 + 2 * i, layout[i])
        struct.pack_into("<i", self.b, tpos, tpos - vt)
        pos = {}
        for i in ids:
            fmt, val = fields[i]
            pos[i] = tpos + layout[i]
            if fmt != "ref":
                struct.pack_into("<" + fmt, self.b, pos[i], val)
        pos["table"] = tpos
        return pos

    def link(self, at, target):
        assert target > at, "FlatBuffers offsets point forward"
        struct.pack_into("<I", self.b, at, target - at)

    def vector(self, fmt, values, align=4):
        size = struct.calcsize("<" + fmt)
        align = max(align, size, 4)
        self.pad(4)
        while (len(self.b) + 4) % align:
            self.b.append(0)
        pos = len(self.b)
        self.b += struct.pack("<I", len(values))
        for v in values:
            self.b += struct.pack("<" + fmt, v)
        return pos

    def string(self, text):
        self.pad(4)
        pos = len(self.b)
        data = text.encode()
        self.b += struct.pack("<I", len(data)) + data + b"\0"
        return pos

    def tables(self, at, items, write):
        """A vector of tables at field position `at`: write(item) returns the table position."""
        vec = self.vector("I", [0] * len(items))
        self.link(at, vec)
        for k, item in enumerate(items):
            self.link(vec + 4 + 4 * k, write(item))


def quant(w, q):
    f = {2: ("ref", 0), 6: ("i", q.get("dim", 0))}
    if "zp" in q:
        f[3] = ("ref", 0)
    p = w.table(f)
    w.link(p[2], w.vector("f", q["scale"]))
    if "zp" in q:
        w.link(p[3], w.vector("q", q["zp"]))
    return p["table"]


def build(desc, opcodes, tensors, buffers, ops, inputs, outputs, external=None):
    """opcodes: (deprecated_code, builtin_code or None, version, custom or None); tensors: dicts;
    buffers: bytes, or ('external', bytes) for data appended after the FlatBuffer; ops:
    (opcode index, inputs, outputs, options type, options fields or None)."""
    w = Writer()
    model = w.table({0: ("I", 3), 1: ("ref", 0), 2: ("ref", 0), 3: ("ref", 0), 4: ("ref", 0)})
    w.link(0, model["table"])

    def opcode(oc):
        dep, code, version, custom = oc
        f = {0: ("b", dep), 2: ("i", version)}
        if code is not None:
            f[3] = ("i", code)
        if custom:
            f[1] = ("ref", 0)
        p = w.table(f)
        if custom:
            w.link(p[1], w.string(custom))
        return p["table"]

    w.tables(model[1], opcodes, opcode)

    def subgraph(_):
        sg = w.table({0: ("ref", 0), 1: ("ref", 0), 2: ("ref", 0), 3: ("ref", 0), 4: ("ref", 0)})

        def tensor(t):
            f = {0: ("ref", 0), 1: ("b", t["type"]), 2: ("I", t.get("buffer", 0)), 3: ("ref", 0)}
            if "quant" in t:
                f[4] = ("ref", 0)
            p = w.table(f)
            w.link(p[0], w.vector("i", t["shape"]))
            w.link(p[3], w.string(t["name"]))
            if "quant" in t:
                w.link(p[4], quant(w, t["quant"]))
            return p["table"]

        w.tables(sg[0], tensors, tensor)
        w.link(sg[1], w.vector("i", inputs))
        w.link(sg[2], w.vector("i", outputs))

        def operator(op):
            index, ins, outs, otype, ofields = op
            f = {0: ("I", index), 1: ("ref", 0), 2: ("ref", 0)}
            if otype:
                f[3] = ("B", otype)
                f[4] = ("ref", 0)
            p = w.table(f)
            w.link(p[1], w.vector("i", ins))
            w.link(p[2], w.vector("i", outs))
            if otype:
                vecs = {k: v for k, v in ofields.items() if v[0] == "vec"}
                scal = {k: v for k, v in ofields.items() if v[0] != "vec"}
                scal.update({k: ("ref", 0) for k in vecs})
                o = w.table(scal)
                for k, (_, vals) in vecs.items():
                    w.link(o[k], w.vector("i", vals))
                w.link(p[4], o["table"])
            return p["table"]

        w.tables(sg[3], ops, operator)
        w.link(sg[4], w.string("main"))
        return sg["table"]

    w.tables(model[2], [0], subgraph)

    ext = []

    def buffer(data):
        if isinstance(data, tuple):  # stored after the FlatBuffer, found by offset/size
            p = w.table({1: ("Q", 0), 2: ("Q", len(data[1]))})
            ext.append((p[1], data[1]))
            return p["table"]
        if not data:
            return w.table({})["table"]
        p = w.table({0: ("ref", 0)})
        w.link(p[0], w.vector("B", list(data), align=16))
        return p["table"]

    w.tables(model[4], buffers, buffer)
    w.link(model[3], w.string(desc))
    for at, data in ext:
        w.pad(16)
        struct.pack_into("<Q", w.b, at, len(w.b))
        w.b += data
    return bytes(w.b)


def tiny():
    i8 = lambda *v: struct.pack("<%db" % len(v), *v)
    i32 = lambda *v: struct.pack("<%di" % len(v), *v)
    opcodes = [
        (3, None, 1, None),      # 0 CONV_2D, old files: the byte field only
        (4, 4, 2, None),         # 1 DEPTHWISE_CONV_2D, both fields
        (0, 0, 1, None),         # 2 ADD (code 0 in both)
        (1, 1, 1, None),         # 3 AVERAGE_POOL_2D
        (17, 17, 1, None),       # 4 MAX_POOL_2D
        (40, 40, 1, None),       # 5 MEAN
        (22, 22, 1, None),       # 6 RESHAPE
        (9, 9, 1, None),         # 7 FULLY_CONNECTED
        (25, 25, 1, None),       # 8 SOFTMAX
        (2, 2, 1, None),         # 9 CONCATENATION
        (34, 34, 1, None),       # 10 PAD
        (32, 32, 1, "FakescopeOp"),  # 11 CUSTOM
        (127, 300, 1, None),     # 12 a code past the byte field, unknown to the reader
    ]
    buffers = [
        b"",                                                  # 0 sentinel
        i8(1, -1, 2, 3, -4, 127),                             # 1 conv weights [3,1,1,2]
        i32(4, -8, 100),                                      # 2 conv bias [3]
        struct.pack("<4H", 0x3C00, 0xC000, 0x7BFF, 0x0001),   # 3 half [4]
        struct.pack("<2f", 1.5, -0.25),                       # 4 f32 [2]
        bytes([0, 128, 255, 130]),                            # 5 u8 [2,2]
        i32(1, 12),                                           # 6 shape [2]
        i8(*range(-13, 14)),                                  # 7 depthwise weights [1,3,3,3]
        ("external", struct.pack("<2f", 3.0, -4.0)),          # 8 f32ext [2], outside
    ]
    tensors = [
        dict(name="input", type=INT8, shape=[1, 4, 4, 2], quant=dict(scale=[0.5], zp=[-1])),
        dict(name="conv/weights", type=INT8, shape=[3, 1, 1, 2], buffer=1,
             quant=dict(scale=[0.5, 0.25, 2.0], zp=[0, 1, -2], dim=0)),
        dict(name="conv/bias", type=INT32, shape=[3], buffer=2,
             quant=dict(scale=[0.25, 0.125, 1.0], zp=[0, 0, 0], dim=0)),
        dict(name="conv/out", type=INT8, shape=[1, 2, 2, 3], quant=dict(scale=[0.1], zp=[0])),
        dict(name="half", type=FLOAT16, shape=[4], buffer=3),
        dict(name="f32", type=FLOAT32, shape=[2], buffer=4),
        dict(name="u8", type=UINT8, shape=[2, 2], buffer=5, quant=dict(scale=[0.5], zp=[128])),
        dict(name="shape", type=INT32, shape=[2], buffer=6),
        dict(name="flat", type=INT8, shape=[1, 12]),
        dict(name="probs", type=INT8, shape=[1, 12]),
        dict(name="dw/weights", type=INT8, shape=[1, 3, 3, 3], buffer=7,
             quant=dict(scale=[0.1, 0.2, 0.3], dim=3)),
        dict(name="dw/out", type=INT8, shape=[1, 2, 2, 3]),
        dict(name="pooled", type=INT8, shape=[1, 1, 1, 3]),
        dict(name="custom/out", type=FLOAT32, shape=[1]),
        dict(name="sum", type=INT8, shape=[1, 2, 2, 3]),
        dict(name="softmax", type=INT8, shape=[1, 12]),
        dict(name="concat", type=INT8, shape=[1, 24]),
        dict(name="f32ext", type=FLOAT32, shape=[2], buffer=8),
    ]
    ops = [
        (0, [0, 1, 2], [3], 1, {0: ("b", SAME), 1: ("i", 2), 2: ("i", 2), 3: ("b", RELU6)}),
        (1, [3, 10, -1], [11], 2, {0: ("b", SAME), 1: ("i", 1), 2: ("i", 1), 3: ("i", 1),
                                   4: ("b", RELU), 5: ("i", 2), 6: ("i", 2)}),
        (2, [3, 11], [14], 11, {0: ("b", RELU)}),
        (3, [14], [12], 5, {0: ("b", VALID), 1: ("i", 1), 2: ("i", 1), 3: ("i", 2), 4: ("i", 2),
                            5: ("b", NONE)}),
        (4, [14], [12], 5, {0: ("b", SAME), 1: ("i", 2), 2: ("i", 2), 3: ("i", 3), 4: ("i", 3)}),
        (5, [14, 7], [12], 27, {0: ("b", 1)}),
        (6, [3, 7], [8], 17, {0: ("vec", [1, 12])}),
        (7, [8, 1, -1], [9], 8, {0: ("b", RELU_N1_TO_1), 2: ("b", 1)}),
        (8, [9], [15], 9, {0: ("f", 1.0)}),
        (9, [9, 15], [16], 10, {0: ("i", -1), 1: ("b", NONE)}),
        (10, [0, 7], [3], 0, None),
        (11, [-1, 16], [13], 0, None),
        (12, [13], [13], 0, None),
    ]
    return build("fakescope tflite seed", opcodes, tensors, buffers, ops, [0], [16, 13])


def minimal():
    return build("", [], [dict(name="x", type=FLOAT32, shape=[1])], [b""], [], [0], [0])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds", "tflite")
    os.makedirs(out, exist_ok=True)
    for name, data in (("tiny.tflite", tiny()), ("min.tflite", minimal())):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
