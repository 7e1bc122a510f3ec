#!/usr/bin/python3
"""An independent MobileNetV2 forward pass for tests/unit/test_mobilenet_torch.c: torchvision's
own MobileNetV2 (Debian's python3-torchvision) loaded with the weights of a fakescope backbone
safetensors file (`fakescope models import --arch mobilenetv2`).

usage: torch_mobilenetv2.py WEIGHTS.safetensors INPUTS.f32 N SIDE OUT.f32

INPUTS.f32 holds N pictures as float32 NHWC (SIDE x SIDE x 3), already scaled as the network
wants them; OUT.f32 receives N x classes float32 logits.

fakescope's weights have batch norm folded into each convolution (a weight and a bias per
conv). torchvision keeps a BatchNorm2d after each conv, so each one is made the identity plus
the folded bias: weight 1, running mean 0, running variance 1, eps 0. When the metadata says
padding=tf_same, every stride-2 convolution pads as TensorFlow does (the extra row and column at
the bottom and right) instead of torchvision's symmetric padding=1.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit("%s: dtype %s, expected F32" % (name, t["dtype"]))
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(raw[base + a:base + b], dtype="<f4").reshape(t["shape"]).copy()
    return tensors, meta


def tf_same_pad(module, inputs):
    return (F.pad(inputs[0], (0, 1, 0, 1)),)


def main():
    wpath, ipath, n, side, opath = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    tensors, meta = read_safetensors(wpath)
    classes = tensors["classifier.1.weight"].shape[0]
    net = torchvision.models.mobilenet_v2(num_classes=classes)
    modules = dict(net.named_modules())
    used = set()
    for name, mod in modules.items():
        if not isinstance(mod, torch.nn.Conv2d):
            continue
        w, b = tensors[name + ".weight"], tensors[name + ".bias"]
        used.update({name + ".weight", name + ".bias"})
        if tuple(mod.weight.shape) != w.shape:
            raise SystemExit("%s: shape %s, file %s" % (name, tuple(mod.weight.shape), w.shape))
        mod.weight.data = torch.from_numpy(w)
        # the batch norm that follows: the next module of the same Sequential
        parent, _, idx = name.rpartition(".")
        bn = modules["%s.%d" % (parent, int(idx) + 1)]
        assert isinstance(bn, torch.nn.BatchNorm2d), name
        bn.weight.data.fill_(1.0)
        bn.bias.data = torch.from_numpy(b)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.eps = 0.0
        if meta.get("padding") == "tf_same" and mod.stride == (2, 2):
            mod.padding = (0, 0)
            mod.register_forward_pre_hook(tf_same_pad)
    fc = modules["classifier.1"]
    fc.weight.data = torch.from_numpy(tensors["classifier.1.weight"])
    fc.bias.data = torch.from_numpy(tensors["classifier.1.bias"])
    used.update({"classifier.1.weight", "classifier.1.bias"})
    left = set(tensors) - used
    if left:
        raise SystemExit("tensors not used by torchvision's MobileNetV2: %s" % sorted(left)[:5])
    net.eval()
    x = np.fromfile(ipath, dtype="<f4")
    if x.size != n * side * side * 3:
        raise SystemExit("%s: %d floats, expected %d" % (ipath, x.size, n * side * side * 3))
    x = torch.from_numpy(x.reshape(n, side, side, 3)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        y = net(x)
    y.numpy().astype("<f4").tofile(opath)


if __name__ == "__main__":
    main()
