#!/usr/bin/env python3
"""The `resnet` example's recipe in PyTorch, to measure beside ferrite (never needed by tests).

    ~/torch-venv/bin/python examples/resnet/torch_recipe.py                       # embedded digits, 10 epochs
    ~/torch-venv/bin/python examples/resnet/torch_recipe.py --data-dir ../shared/data/mnist-full --epochs 4

Same model (the W8 TinyResNet), same recipe: pixels in [0, 1], RandomAffine(10 degrees,
translate 0.1, scale 0.9-1.1, nearest, fill 0) drawn per sample (written with affine_grid and
grid_sample, as torchvision has no place in this venv), then (x - 0.1307) / 0.3081; batch 64,
shuffled; SGD nesterov momentum 0.9, weight decay 5e-4 on conv and linear weights only;
OneCycleLR to 0.1 (momentum 0.95 -> 0.85 -> 0.95), stepped every batch. Prints the test
accuracy after every epoch, the wall time, and last `test accuracy: NN.NN%`.
"""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
EMBEDDED = os.path.join(HERE, "..", "..", "crates", "ferrite-nn", "data", "mnist-subset")


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def read_idx(data_dir, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            magic, = struct.unpack(">I", data[:4])
            ndim = magic & 0xFF
            dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit(f"no {name}[.gz] in {data_dir}")


def load(data_dir, prefix):
    x = read_idx(data_dir, f"{prefix}-images-idx3-ubyte")
    y = read_idx(data_dir, f"{prefix}-labels-idx1-ubyte")
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def random_affine(x, degrees=10.0, translate=0.1, scale=(0.9, 1.1)):
    """torchvision's RandomAffine per sample: rotation about the centre, a whole-pixel shift,
    a scale; nearest pixel, 0 outside."""
    n, _, h, w = x.shape
    angle = (torch.rand(n) * 2 - 1) * degrees * math.pi / 180
    tx = torch.round((torch.rand(n) * 2 - 1) * translate * w)
    ty = torch.round((torch.rand(n) * 2 - 1) * translate * h)
    s = scale[0] + torch.rand(n) * (scale[1] - scale[0])
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output -> input map in normalised coordinates: inverse rotation and scale, minus shift.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / s
    theta[:, 0, 1] = -sin / s
    theta[:, 1, 0] = sin / s
    theta[:, 1, 1] = cos / s
    theta[:, 0, 2] = -(theta[:, 0, 0] * tx * 2 / w + theta[:, 0, 1] * ty * 2 / h)
    theta[:, 1, 2] = -(theta[:, 1, 0] * tx * 2 / w + theta[:, 1, 1] * ty * 2 / h)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        n = sum(int((model((x[i:i + 500] - 0.1307) / 0.3081).argmax(1) == y[i:i + 500]).sum())
                for i in range(0, len(y), 500))
    model.train()
    return n / len(y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=EMBEDDED)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load(args.data_dir, "train")
    xte, yte = load(args.data_dir, "t10k")
    model = TinyResNet()
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps = math.ceil(len(ytr) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, epochs=args.epochs, steps_per_epoch=steps)
    started = time.time()
    acc = 0.0
    for epoch in range(args.epochs):
        t0 = time.time()
        perm = torch.randperm(len(ytr))
        total = 0.0
        for i in range(0, len(ytr), args.batch_size):
            idx = perm[i:i + args.batch_size]
            x = (random_affine(xtr[idx]) - 0.1307) / 0.3081
            loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte, yte)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(ytr):.4f}, "
              f"test accuracy {100 * acc:.2f}%, {time.time() - t0:.1f}s", flush=True)
    print(f"{time.time() - started:.1f}s of training")
    print(f"test accuracy: {100 * acc:.2f}%")


if __name__ == "__main__":
    main()
