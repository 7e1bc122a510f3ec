#!/usr/bin/python3
"""Training throughput of the MesoNet architectures in PyTorch (the reference for
bench/train_bench.sh): the same graphs as fakescope's training layers (conv + ReLU, batch norm
with Keras's momentum and epsilon, 'same' padding, max pooling, dropout 0.5, dense 16 with
LeakyReLU 0.1, one logit), the same batch, thread count and step (forward, BCE from the logit,
backward, Adam) on random 256x256 inputs. Prints one JSON object."""
import argparse
import json
import time

import torch
import torch.nn as nn


def conv(cin, cout, k, dil=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding="same", dilation=dil), nn.ReLU())


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Inception(nn.Module):
    def __init__(self, cin, a, b, c, d):
        super().__init__()
        self.b1 = conv(cin, a, 1)
        self.b2 = nn.Sequential(conv(cin, b, 1), conv(b, b, 3))
        self.b3 = nn.Sequential(conv(cin, c, 1), conv(c, c, 3, 2))
        self.b4 = nn.Sequential(conv(cin, d, 1), conv(d, d, 3, 3))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def head():
    return [nn.Flatten(), nn.Dropout(0.5), nn.Linear(1024, 16), nn.LeakyReLU(0.1),
            nn.Dropout(0.5), nn.Linear(16, 1)]


def model(arch):
    if arch == "meso4":
        layers = [conv(3, 8, 3), bn(8), nn.MaxPool2d(2), conv(8, 8, 5), bn(8), nn.MaxPool2d(2)]
    else:
        layers = [Inception(3, 1, 4, 4, 2), bn(11), nn.MaxPool2d(2),
                  Inception(11, 2, 4, 4, 2), bn(12), nn.MaxPool2d(2)]
    layers += [conv(layers[-2].num_features, 16, 5), bn(16), nn.MaxPool2d(2),
               conv(16, 16, 5), bn(16), nn.MaxPool2d(4)] + head()
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="meso4", choices=["meso4", "mesoinception4"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = model(a.arch).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(a.batch, 3, 256, 256)
    y = (torch.arange(a.batch) % 2).float().unsqueeze(1)
    t0 = 0.0
    for step in range(a.steps + 1):
        if step == 1:
            t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    ips = a.steps * a.batch / (time.perf_counter() - t0)
    print(json.dumps({"arch": a.arch, "batch": a.batch, "threads": a.threads,
                      "steps": a.steps, "images_per_s": round(ips, 2),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
