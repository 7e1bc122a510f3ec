#!/usr/bin/python3
"""PyTorch reference for `make bench`: forward throughput of Meso4 and MesoInception4 built
from torch.nn with the same graph as fakescope (TensorFlow 'same' padding, batch norm after
ReLU, max pooling, dense head), random weights, eval mode, no autograd.

usage: torch_meso.py ARCH BATCH THREADS SECONDS
prints one JSON line: {"arch", "batch", "threads", "layout", "images_per_s",
"images_per_s_contiguous", "images_per_s_channels_last"}, layout being the faster one.
"""
import json
import sys
import time

import torch
import torch.nn as nn


class Meso4(nn.Module):
    def __init__(self):
        super().__init__()
        def block(cin, cout, k, pool):
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding="same"), nn.ReLU(),
                                 nn.BatchNorm2d(cout, eps=1e-3), nn.MaxPool2d(pool, pool))
        self.features = nn.Sequential(block(3, 8, 3, 2), block(8, 8, 5, 2),
                                      block(8, 16, 5, 2), block(16, 16, 5, 4))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(1024, 16),
                                  nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(16, 1),
                                  nn.Sigmoid())

    def forward(self, x):
        return self.head(self.features(x))


class Inception(nn.Module):
    def __init__(self, cin, a, b, c, d):
        super().__init__()
        relu = nn.ReLU
        self.b1 = nn.Sequential(nn.Conv2d(cin, a, 1), relu())
        self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), relu(), nn.Conv2d(b, b, 3, padding="same"), relu())
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), relu(),
                                nn.Conv2d(c, c, 3, padding="same", dilation=2), relu())
        self.b4 = nn.Sequential(nn.Conv2d(cin, d, 1), relu(),
                                nn.Conv2d(d, d, 3, padding="same", dilation=3), relu())

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class MesoInception4(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            Inception(3, 1, 4, 4, 2), nn.BatchNorm2d(11, eps=1e-3), nn.MaxPool2d(2, 2),
            Inception(11, 2, 4, 4, 2), nn.BatchNorm2d(12, eps=1e-3), nn.MaxPool2d(2, 2),
            nn.Conv2d(12, 16, 5, padding="same"), nn.ReLU(), nn.BatchNorm2d(16, eps=1e-3),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 16, 5, padding="same"), nn.ReLU(), nn.BatchNorm2d(16, eps=1e-3),
            nn.MaxPool2d(4, 4))
        self.head = Meso4().head

    def forward(self, x):
        return self.head(self.features(x))


def measure(model, x, seconds):
    with torch.inference_mode():
        model(x)  # warm-up
        n, t0 = 0, time.perf_counter()
        while True:
            model(x)
            n += x.shape[0]
            el = time.perf_counter() - t0
            if el >= seconds:
                return n / el


def main():
    arch, batch, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = {"meso4": Meso4, "mesoinception4": MesoInception4}[arch]().eval()
    x = torch.rand(batch, 3, 256, 256)
    contiguous = measure(model, x, seconds)
    cl = measure(model.to(memory_format=torch.channels_last),
                 x.to(memory_format=torch.channels_last), seconds)
    best = max(contiguous, cl)
    print(json.dumps({"arch": arch, "batch": batch, "threads": threads,
                      "layout": "contiguous" if contiguous >= cl else "channels_last",
                      "images_per_s": round(best, 2),
                      "images_per_s_contiguous": round(contiguous, 2),
                      "images_per_s_channels_last": round(cl, 2)}))


if __name__ == "__main__":
    main()
