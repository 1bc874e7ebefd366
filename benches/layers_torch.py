#!/usr/bin/env python3
"""The cases of examples/bench_layers.rs in PyTorch (same shapes, f32, train mode): the
forward alone (no_grad) and forward + backward, medians in milliseconds, printed as
`RESULT torch <case> <fwd_ms> <fwd+bwd_ms>`.

    ~/torch-venv/bin/python benches/layers_torch.py [--threads N] [--iters N] [CASE ...]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def layer_cases():
    m = (64, 32, 28, 28)
    return [
        ("relu", m, nn.ReLU()),
        ("leaky_relu", m, nn.LeakyReLU()),
        ("gelu", m, nn.GELU()),
        ("silu", m, nn.SiLU()),
        ("hardswish", m, nn.Hardswish()),
        ("batch_norm2d", m, nn.BatchNorm2d(32)),
        ("batch_norm1d", (256, 512), nn.BatchNorm1d(512)),
        ("layer_norm", (32, 128, 256), nn.LayerNorm(256)),
        ("group_norm", (64, 64, 14, 14), nn.GroupNorm(8, 64)),
        ("max_pool2d_k3s2p1", m, nn.MaxPool2d(3, stride=2, padding=1)),
        ("avg_pool2d_k2", m, nn.AvgPool2d(2)),
        ("adaptive_avg_pool2d_1", (64, 64, 7, 7), nn.AdaptiveAvgPool2d(1)),
        ("adaptive_max_pool2d_3", (64, 32, 14, 14), nn.AdaptiveMaxPool2d(3)),
        ("conv1d_32_64_k5", (64, 32, 256), nn.Conv1d(32, 64, 5, padding=2)),
        ("conv_transpose2d_32_16_k4s2", (64, 32, 7, 7), nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1)),
        ("upsample_bilinear_x2", (64, 32, 14, 14), nn.Upsample(scale_factor=2.0, mode="bilinear")),
        ("upsample_nearest_x2", (64, 32, 14, 14), nn.Upsample(scale_factor=2.0)),
    ]


def op_cases():
    g = torch.Generator().manual_seed(9)
    rows = torch.tensor([(i * 7) % 4096 for i in range(1024)])
    picks = torch.tensor([(i * 13) % 1000 for i in range(2560)]).reshape(256, 10)
    classes = torch.tensor([(i * 31) % 1000 for i in range(256)])
    targets = torch.rand(256, 1000, generator=g)
    right = torch.randn(64, 64, 128, generator=g)
    return [
        ("index_select", (4096, 256), lambda x: x.index_select(0, rows)),
        ("gather", (256, 1000), lambda x: x.gather(1, picks)),
        ("logsumexp", (256, 1000), lambda x: x.logsumexp(1)),
        ("cross_entropy_smoothing", (256, 1000), lambda x: F.cross_entropy(x, classes, label_smoothing=0.1)),
        ("bce_with_logits", (256, 1000), lambda x: F.binary_cross_entropy_with_logits(x, targets)),
        ("matmul_batched", (64, 128, 64), lambda x: x.matmul(right)),
    ]


def median_ms(iters, f):
    f()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[iters // 2]


def run(shape, f, iters):
    x = torch.randn(*shape)
    y = f(x)
    g = torch.randn(y.shape)

    def fwd():
        with torch.no_grad():
            f(x)

    def both():
        v = x.clone().requires_grad_(True)
        f(v).backward(g)

    return median_ms(iters, fwd), median_ms(iters, both)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=21)
    p.add_argument("cases", nargs="*")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name, shape, f in layer_cases() + op_cases():
        if not a.cases or name in a.cases:
            fwd, both = run(shape, f, a.iters)
            print(f"RESULT\ttorch\t{name}\t{fwd:.3f}\t{both:.3f}", flush=True)


if __name__ == "__main__":
    main()
