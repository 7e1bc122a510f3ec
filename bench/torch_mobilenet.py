#!/usr/bin/python3
"""PyTorch reference for bench/mobilenet_bench.sh: MobileNetV2 (torchvision, width 1.0, 1000
classes) on 224x224 input with random weights, in the same run as fakescope.

  torch_mobilenet.py infer BATCH THREADS SECONDS
      forward throughput in eval mode under torch.inference_mode, with batch norm folded into
      the convolutions as fakescope's inference graph has it (torch.jit.freeze folds it),
      measured in every layout PyTorch offers here: eager contiguous (NCHW), eager
      channels_last, and the frozen TorchScript graph in both layouts (oneDNN fuses conv +
      bias + ReLU6 there when this build has it). Prints one JSON line with each figure and
      the best ("images_per_s", "layout").
  torch_mobilenet.py train BATCH THREADS STEPS LAYOUT
      training throughput: steps of forward in train mode, BCE with logits on one output,
      backward, Adam (as fakescope train-bench), after one warm-up step, in LAYOUT
      (contiguous or channels_last; one per process, so that the peak resident memory of the
      process, ru_maxrss, is that of this layout's step).
"""
import json
import resource
import sys
import time

import torch
import torchvision


def measure(fn, x, seconds):
    fn(x)  # warm-up: oneDNN primitives, caches
    fn(x)
    n, t0 = 0, time.perf_counter()
    while True:
        fn(x)
        n += x.shape[0]
        el = time.perf_counter() - t0
        if el >= seconds:
            return n / el


def infer(batch, threads, seconds):
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=1000).eval()
    x = torch.rand(batch, 3, 224, 224)
    res = {}
    with torch.inference_mode():
        res["eager_contiguous"] = measure(model, x, seconds)
        cl = model.to(memory_format=torch.channels_last)
        xc = x.to(memory_format=torch.channels_last)
        res["eager_channels_last"] = measure(cl, xc, seconds)
    for name, m, xi in (("frozen_contiguous", model.to(memory_format=torch.contiguous_format), x),
                        ("frozen_channels_last", model.to(memory_format=torch.channels_last), xc)):
        try:
            with torch.no_grad():
                fm = torch.jit.freeze(torch.jit.trace(m, xi))
                try:  # oneDNN-fused graph where the build has it
                    fm = torch.jit.optimize_for_inference(fm)
                except Exception:
                    pass
            with torch.inference_mode():
                res[name] = measure(fm, xi, seconds)
        except Exception as e:  # a build without TorchScript freezing: report the eager ones
            print(f"torch_mobilenet: {name} unavailable: {e}", file=sys.stderr)
    best = max(res, key=res.get)
    out = {"arch": "mobilenetv2", "batch": batch, "threads": threads, "layout": best,
           "images_per_s": round(res[best], 2), "torch": torch.__version__}
    out.update({"images_per_s_" + k: round(v, 2) for k, v in res.items()})
    print(json.dumps(out))


def train_once(batch, steps, channels_last):
    torch.manual_seed(1)
    net = torchvision.models.mobilenet_v2(num_classes=1).train()
    x = torch.rand(batch, 3, 224, 224)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y = (torch.arange(batch) % 2).float().unsqueeze(1)
    t0 = 0.0
    for step in range(steps + 1):
        if step == 1:
            t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def train(batch, threads, steps, layout):
    ips = train_once(batch, steps, layout == "channels_last")
    print(json.dumps({"arch": "mobilenetv2", "batch": batch, "threads": threads, "steps": steps,
                      "layout": layout, "images_per_s": round(ips, 2),
                      "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "torch": torch.__version__}))


def main():
    mode, batch, threads, amount = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    if mode == "infer":
        infer(batch, threads, amount)
    elif mode == "train" and len(sys.argv) == 6 and sys.argv[5] in ("contiguous", "channels_last"):
        train(batch, threads, int(amount), sys.argv[5])
    else:
        sys.exit("usage: torch_mobilenet.py infer BATCH THREADS SECONDS | "
                 "train BATCH THREADS STEPS contiguous|channels_last")


if __name__ == "__main__":
    main()
