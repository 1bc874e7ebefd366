#!/usr/bin/env python3
"""Records a PyTorch training run as a parity trace that `cargo run --release --example
parity -- TRACE` replays in ferrite (see docs/parity.md, "Whole training runs").

    ~/torch-venv/bin/python examples/parity/record.py OUT_DIR [options]

Trains `--model` (small_cnn or tiny_resnet, PyTorch's definitions with ferrite's module
paths) on the MNIST digits embedded in ferrite (crates/ferrite-nn/data/mnist-subset, read
here directly), in `--dtype`, for `--steps` steps, and writes OUT_DIR/:

  trace.json           the run's settings, every step's batch indices and loss, and a digest
                       of every module's output at every step (the "cheap mode")
  init.safetensors     the state_dict before the first step
  params.safetensors   the state_dict after step s, as "s/NAME", for s = K, 2K, ... and the last
  outputs.safetensors  (with --outputs-at) full module outputs, as "s/PATH"

Python needs only torch and numpy: the safetensors files are written by hand. `--perturb
STEP:MODULE[:output|weight[:EPS]]` adds EPS to that module's output (a forward hook) or
weight (before the forward) at that step, so the replay's diagnosis can itself be tested.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "crates", "ferrite-nn", "data", "mnist-subset")
MEAN, STD = 0.1307, 0.3081


class SmallCnn(nn.Module):
    """ferrite's models::small_cnn (its ReLUs and poolings are functional here: they have no
    parameters, and ferrite's zero-sized modules cannot carry hooks anyway)."""

    def __init__(self, image_size):
        super().__init__()
        h, w = image_size
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * (h // 4) * (w // 4), 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    """The W8 block of /work/shared/bench/WORKLOADS.md, unchanged."""

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
    """The W8 TinyResNet (ferrite's models::tiny_resnet)."""

    def __init__(self, image_size=None):
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


MODELS = {"small_cnn": SmallCnn, "tiny_resnet": TinyResNet}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_train(downsample, dtype):
    """ferrite's normalisation exactly: (pixel / 255 - mean) / std in f64, then the average
    of each downsample x downsample block (summed in row-major order, divided once), then
    rounded to the run's dtype."""
    x = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz")).astype(np.float64)
    y = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x / 255.0 - MEAN) / STD
    if downsample > 1:
        n, h, w = x.shape
        blocks = x.reshape(n, h // downsample, downsample, w // downsample, downsample)
        acc = np.zeros((n, h // downsample, w // downsample))
        for i in range(downsample):
            for j in range(downsample):
                acc = acc + blocks[:, :, i, :, j]
        x = acc / float(downsample * downsample)
    return torch.from_numpy(x).unsqueeze(1).to(dtype), torch.from_numpy(y)


# Fixed pseudo-random weights of the output digest, the same integers in the replay.
_WEIGHTS = {}


def digest_weights(n):
    if n not in _WEIGHTS:
        i = np.arange(n, dtype=np.int64)
        _WEIGHTS[n] = torch.from_numpy(((i * 40503) % 65536).astype(np.float64) / 65536.0 - 0.5)
    return _WEIGHTS[n]


def digest(t):
    """[sum, sum of |x|, sum of w_i x_i] in f64: three numbers per module and step."""
    v = t.detach().reshape(-1).to(torch.float64)
    return [float(v.sum()), float(v.abs().sum()), float((v * digest_weights(v.numel())).sum())]


def save_safetensors(tensors, path):
    """The safetensors format (8-byte header length, JSON header, raw little-endian data)."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()  # little-endian machines
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)


def make_optimizer(args, model):
    if args.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                               nesterov=args.nesterov, weight_decay=args.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(args.beta1, args.beta2),
                             eps=args.eps, weight_decay=args.weight_decay)


def make_batches(args, n):
    """Shuffled epochs (a torch.Generator seeded with --seed), the last partial batch dropped."""
    gen = torch.Generator().manual_seed(args.seed)
    batches, perm = [], []
    while len(batches) < args.steps:
        if len(perm) < args.batch_size:
            perm = torch.randperm(n, generator=gen).tolist()
        batches.append(perm[:args.batch_size])
        perm = perm[args.batch_size:]
    return batches


def parse_perturb(text, modules):
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise SystemExit(f"--perturb: expected STEP:MODULE[:output|weight[:EPS]], found {text!r}")
    step, path = int(parts[0]), parts[1]
    kind = parts[2] if len(parts) > 2 else "output"
    eps = float(parts[3]) if len(parts) > 3 else 1e-6
    if path not in modules or kind not in ("output", "weight"):
        raise SystemExit(f"--perturb: unknown module {path!r} or kind {kind!r} (modules: {sorted(modules)})")
    return {"step": step, "module": path, "kind": kind, "eps": eps}


def install_hooks(model, state, perturb, outputs_at):
    """Per module (PyTorch's named_modules, the root as ""): the perturbation if any, then
    the recorder, which sees outputs in the order modules finish (PyTorch's hook order)."""
    modules = dict(model.named_modules())
    if perturb and perturb["kind"] == "output":
        def add(_m, _i, out, p=perturb):
            return out + p["eps"] if state["step"] == p["step"] else None
        modules[perturb["module"]].register_forward_hook(add)
    for path, module in modules.items():
        def record(_m, _i, out, path=path):
            if state["step"] in outputs_at:
                state["outputs"][f"{state['step']}/{path}"] = out.detach().clone()
            state["digests"].append([path, digest(out)])
        module.register_forward_hook(record)
    return modules


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--model", choices=sorted(MODELS), default="small_cnn")
    p.add_argument("--dtype", choices=["f64", "f32"], default="f64")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--schedule", choices=["none", "onecycle"], default="none",
                   help="onecycle: OneCycleLR(max_lr=--lr, total_steps=--steps), PyTorch's defaults")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--every", type=int, default=0, metavar="K",
                   help="save the parameters every K steps (0: only after the last step)")
    p.add_argument("--outputs-at", default="", metavar="S1,S2",
                   help="save every module's full output at these steps")
    p.add_argument("--downsample", type=int, default=1, choices=[1, 2, 4, 7],
                   help="average-pool the 28x28 digits by this factor (small traces)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--perturb", default=None, metavar="STEP:MODULE[:output|weight[:EPS]]")
    return p.parse_args(argv)


def train(args, model, x, y, state, perturb):
    opt = make_optimizer(args, model)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
             if args.schedule == "onecycle" else None)
    modules = dict(model.named_modules())
    params = {}
    steps = []
    for step, batch in enumerate(make_batches(args, x.shape[0])):
        state["step"], state["digests"] = step, []
        if perturb and perturb["kind"] == "weight" and perturb["step"] == step:
            with torch.no_grad():
                modules[perturb["module"]].weight.add_(perturb["eps"])
        idx = torch.tensor(batch)
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        steps.append({"batch": batch, "loss": loss.item(), "modules": state["digests"]})
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss {loss.item():.6g}", file=sys.stderr, flush=True)
        done = step + 1
        if done == args.steps or (args.every and done % args.every == 0):
            params.update({f"{done}/{k}": v.clone() for k, v in model.state_dict().items()})
    return steps, params


def main(argv):
    args = parse_args(argv)
    dtype = torch.float64 if args.dtype == "f64" else torch.float32
    torch.manual_seed(args.seed)
    x, y = load_train(args.downsample, dtype)
    image_size = [28 // args.downsample, 28 // args.downsample]
    model = MODELS[args.model](image_size).to(dtype)
    model.train()
    os.makedirs(args.out, exist_ok=True)
    save_safetensors(model.state_dict(), os.path.join(args.out, "init.safetensors"))
    perturb = parse_perturb(args.perturb, dict(model.named_modules())) if args.perturb else None
    outputs_at = {int(s) for s in args.outputs_at.split(",") if s}
    state = {"step": -1, "digests": [], "outputs": {}}
    install_hooks(model, state, perturb, outputs_at)
    steps, params = train(args, model, x, y, state, perturb)
    save_safetensors(params, os.path.join(args.out, "params.safetensors"))
    if state["outputs"]:
        save_safetensors(state["outputs"], os.path.join(args.out, "outputs.safetensors"))
    trace = {
        "format": "ferrite-parity-trace 1",
        "generator": f"torch {torch.__version__}",
        # Without the output directory, so the replay can print a re-record command.
        "command": "examples/parity/record.py OUT_DIR " + " ".join(a for a in argv if a != args.out),
        "model": args.model, "dtype": args.dtype, "image_size": image_size,
        "downsample": args.downsample, "normalize": [MEAN, STD], "loss": "cross_entropy",
        "optimizer": {"name": args.optimizer, "lr": args.lr, "momentum": args.momentum,
                      "nesterov": args.nesterov, "weight_decay": args.weight_decay,
                      "betas": [args.beta1, args.beta2], "eps": args.eps},
        "schedule": {"name": args.schedule, "total_steps": args.steps},
        "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
        "param_steps": sorted({int(k.split("/")[0]) for k in params}),
        "outputs_at": sorted(outputs_at), "perturb": perturb,
        "digest": "[sum, sum |x|, sum w_i x_i], w_i = ((i * 40503) mod 65536) / 65536 - 0.5",
        "trace": steps,
    }
    with open(os.path.join(args.out, "trace.json"), "w") as f:
        json.dump(trace, f, separators=(",", ":"))
    print(f"{args.model} {args.dtype}: {args.steps} steps, final loss {steps[-1]['loss']:.6g} -> {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
