#!/usr/bin/env python3
"""Generate ferrite's reference cases ("golden" files) from PyTorch.

Every case runs one op in float64 on the CPU and records what FORMAT.md describes: the
inputs, the output, a random `grad_output` and the gradients of sum(output * grad_output)
with respect to every differentiable input (optimizer and scheduler cases record the values
after each step instead; error cases only record that PyTorch refuses the inputs). It needs
PyTorch; README.md says how to install it and which version made the files.

    python3 tests/golden/gen_golden.py --out /tmp/golden                   # every family
    python3 tests/golden/gen_golden.py --out /tmp/golden --only pointwise   # DIR/pointwise.json
    python3 tests/golden/gen_golden.py --check --only conv2d pooling        # and run ferrite on them
    python3 tests/golden/gen_golden.py --replay tests/golden                # recompute existing files
    python3 tests/golden/gen_golden.py --list                               # the family names

The file reads top to bottom: the ops (one forward per op name of FORMAT.md), the recording
of a case, the JSON layout, the families (one function per file, in the order of the
reference set: round 1, then round 2), and the command line (generate, replay, check).

To add a case, add a line to its family function below (or a family: a function with the
`@family` decorator), regenerate into a scratch directory and check it with ferrite's golden
test (`--check` does both). See README.md beside this file.

The shipped files (tests/golden/*.json) are copies of the project's reference files; this
script writes files in the same format and with the same cases, not the same numbers: the
random draws differ. `--replay` recomputes the shipped cases from their stored inputs with
the forwards below and finds the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit("gen_golden.py needs PyTorch; tests/golden/README.md says how to install it")

torch.set_default_dtype(torch.float64)

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------
# Ops: one forward per op name of FORMAT.md, taking the case's params and inputs by name.
# A forward returns the output, or (output, extra) when the case records more (running stats
# of batch norm, max-pool indices).
# --------------------------------------------------------------------------------------------

OPS = {}
NO_GRAD = {}  # op -> float inputs without grads (FORMAT.md's "no grad" column)


def op(*names, no_grad=()):
    """Register a forward under one or more op names."""

    def register(forward):
        for name in names:
            OPS[name] = forward
            NO_GRAD[name] = frozenset(no_grad)
        return forward

    return register


UNARY = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "abs": torch.abs,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
}
for _name, _fn in UNARY.items():
    op(_name)(lambda p, input, fn=_fn: fn(input))

BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "matmul": torch.matmul,
}
for _name, _fn in BINARY.items():
    op(_name)(lambda p, a, b, fn=_fn: fn(a, b))


@op("leaky_relu")
def leaky_relu(p, input):
    return F.leaky_relu(input, p["negative_slope"])


@op("elu")
def elu(p, input):
    return F.elu(input, p["alpha"])


@op("gelu")
def gelu(p, input):
    return F.gelu(input, approximate=p["approximate"])


@op("softplus")
def softplus(p, input):
    return F.softplus(input, p["beta"], p["threshold"])


@op("hardtanh")
def hardtanh(p, input):
    return F.hardtanh(input, p["min_val"], p["max_val"])


@op("pow")
def pow_(p, input):
    return torch.pow(input, p["exponent"])


@op("clamp")
def clamp(p, input):
    return torch.clamp(input, p["min"], p["max"])


@op("where")
def where(p, condition, a, b):
    return torch.where(condition != 0, a, b)


@op("dropout_eval")
def dropout_eval(p, input):
    return F.dropout(input, p["p"], training=False)


# Reductions and shapes. `dims: []` means every dim; PyTorch spells that `dim=None`.


@op("sum")
def sum_(p, input):
    return torch.sum(input, dim=p["dims"] or None, keepdim=p["keepdim"])


@op("mean")
def mean(p, input):
    return torch.mean(input, dim=p["dims"] or None, keepdim=p["keepdim"])


@op("amax")
def amax(p, input):
    return torch.amax(input, dim=p["dims"], keepdim=p["keepdim"])


@op("logsumexp")
def logsumexp(p, input):
    return torch.logsumexp(input, dim=p["dims"], keepdim=p["keepdim"])


@op("var")
def var(p, input):
    return torch.var(input, dim=p["dims"] or None, correction=p["correction"], keepdim=p["keepdim"])


@op("softmax")
def softmax(p, input):
    return F.softmax(input, p["dim"])


@op("log_softmax")
def log_softmax(p, input):
    return F.log_softmax(input, p["dim"])


@op("reshape")
def reshape(p, input):
    return input.reshape(p["shape"])


@op("flatten")
def flatten(p, input):
    return torch.flatten(input, p["start_dim"], p["end_dim"])


@op("permute")
def permute(p, input):
    return input.permute(p["dims"])


@op("gather")
def gather(p, input, index):
    return torch.gather(input, p["dim"], index)


@op("index_select")
def index_select(p, input, index):
    return torch.index_select(input, p["dim"], index)


# Layers. Going through the nn layer (not torch.nn.functional) keeps the layer's own checks
# and its handling of padding_mode and "same" padding; the case's tensors replace the
# layer's parameters and buffers.


def call_layer(layer, input, **tensors):
    given = {name: t for name, t in tensors.items() if t is not None}
    return torch.func.functional_call(layer, given, (input,))


@op("linear")
def linear(p, input, weight, bias):
    return F.linear(input, weight, bias)


def conv(layer_class):
    """The forward of nn.Conv1d/nn.Conv2d, the layer built from the weight's shape."""

    def forward(p, input, weight, bias):
        layer = layer_class(
            in_channels=weight.shape[1] * p["groups"],
            out_channels=weight.shape[0],
            kernel_size=tuple(weight.shape[2:]),
            stride=p["stride"],
            padding=p["padding"],
            dilation=p["dilation"],
            groups=p["groups"],
            bias=bias is not None,
            padding_mode=p.get("padding_mode", "zeros"),
        )
        return call_layer(layer, input, weight=weight, bias=bias)

    return forward


op("conv1d")(conv(nn.Conv1d))
op("conv2d")(conv(nn.Conv2d))


@op("conv_transpose2d")
def conv_transpose2d(p, input, weight, bias):
    layer = nn.ConvTranspose2d(
        in_channels=weight.shape[0],
        out_channels=weight.shape[1] * p["groups"],
        kernel_size=tuple(weight.shape[2:]),
        stride=p["stride"],
        padding=p["padding"],
        output_padding=p["output_padding"],
        groups=p["groups"],
        bias=bias is not None,
        dilation=p["dilation"],
    )
    return call_layer(layer, input, weight=weight, bias=bias)


def batch_norm(layer_class):
    """The forward of BatchNorm1d/2d; in training mode `extra` holds the updated running stats."""

    def forward(p, input, weight, bias, running_mean, running_var):
        layer = layer_class(weight.shape[0], eps=p["eps"], momentum=p["momentum"])
        layer.train(p["training"])
        stats = {"running_mean": running_mean.clone(), "running_var": running_var.clone()}
        output = call_layer(layer, input, weight=weight, bias=bias, **stats)
        if not p["training"]:
            return output
        return output, {
            "running_mean_after": stats["running_mean"],
            "running_var_after": stats["running_var"],
        }

    return forward


BN_STATS = ("running_mean", "running_var")
op("batch_norm1d", no_grad=BN_STATS)(batch_norm(nn.BatchNorm1d))
op("batch_norm2d", no_grad=BN_STATS)(batch_norm(nn.BatchNorm2d))


@op("layer_norm")
def layer_norm(p, input, weight, bias):
    return F.layer_norm(input, p["normalized_shape"], weight, bias, p["eps"])


@op("group_norm")
def group_norm(p, input, weight, bias):
    return F.group_norm(input, p["num_groups"], weight, bias, p["eps"])


# Pooling and resizing. Round-1 cases omit the optional params; read them as the defaults.


@op("max_pool2d")
def max_pool2d(p, input):
    return_indices = p.get("return_indices", False)
    result = F.max_pool2d(
        input,
        p["kernel_size"],
        p["stride"],
        p["padding"],
        dilation=p.get("dilation", [1, 1]),
        ceil_mode=p["ceil_mode"],
        return_indices=return_indices,
    )
    if not return_indices:
        return result
    output, indices = result
    return output, {"indices": indices}


@op("avg_pool2d")
def avg_pool2d(p, input):
    return F.avg_pool2d(
        input,
        p["kernel_size"],
        p["stride"],
        p["padding"],
        ceil_mode=p["ceil_mode"],
        count_include_pad=p["count_include_pad"],
        divisor_override=p.get("divisor_override"),
    )


@op("adaptive_avg_pool2d")
def adaptive_avg_pool2d(p, input):
    return F.adaptive_avg_pool2d(input, tuple(p["output_size"]))


@op("adaptive_max_pool2d")
def adaptive_max_pool2d(p, input):
    return F.adaptive_max_pool2d(input, tuple(p["output_size"]))


@op("interpolate")
def interpolate(p, input):
    size, scale = p["size"], p["scale_factor"]
    return F.interpolate(
        input,
        size=tuple(size) if size else None,
        scale_factor=tuple(scale) if scale else None,
        mode=p["mode"],
        align_corners=p["align_corners"],
    )


@op("pad")
def pad(p, input):
    return F.pad(input, p["pad"], mode=p["mode"], value=p["value"])


# Losses. Round-1 cross_entropy cases have no weight input and no ignore_index param.


@op("cross_entropy", no_grad=("target", "weight"))
def cross_entropy(p, input, target, weight=None):
    return F.cross_entropy(
        input,
        target,
        weight=weight,
        reduction=p["reduction"],
        label_smoothing=p["label_smoothing"],
        ignore_index=p.get("ignore_index", -100),
    )


@op("nll_loss", no_grad=("weight",))
def nll_loss(p, input, target, weight):
    return F.nll_loss(
        input, target, weight=weight, ignore_index=p["ignore_index"], reduction=p["reduction"]
    )


@op("mse_loss")
def mse_loss(p, input, target):
    return F.mse_loss(input, target, reduction=p["reduction"])


@op("l1_loss")
def l1_loss(p, input, target):
    return F.l1_loss(input, target, reduction=p["reduction"])


@op("smooth_l1_loss")
def smooth_l1_loss(p, input, target):
    return F.smooth_l1_loss(input, target, reduction=p["reduction"], beta=p["beta"])


@op("huber_loss")
def huber_loss(p, input, target):
    return F.huber_loss(input, target, reduction=p["reduction"], delta=p["delta"])


@op("kl_div")
def kl_div(p, input, target):
    return F.kl_div(input, target, reduction=p["reduction"], log_target=p["log_target"])


@op("binary_cross_entropy", no_grad=("weight",))
def binary_cross_entropy(p, input, target, weight):
    return F.binary_cross_entropy(input, target, weight=weight, reduction=p["reduction"])


@op("binary_cross_entropy_with_logits", no_grad=("weight", "pos_weight"))
def binary_cross_entropy_with_logits(p, input, target, weight, pos_weight):
    return F.binary_cross_entropy_with_logits(
        input, target, weight=weight, reduction=p["reduction"], pos_weight=pos_weight
    )


# Optimizers and schedulers have no gradient to check: `output` is what they produce step by
# step.

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def run_optimizer(name, p, param, grads):
    """The parameter after each step: grads[t] is the gradient fed at step t."""
    param = param.clone().requires_grad_()
    kwargs = {key: tuple(v) if key == "betas" else v for key, v in p.items()}
    optimizer = OPTIMIZERS[name]([param], **kwargs)
    after = []
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
        after.append(param.detach().clone())
    return torch.stack(after)


def make_scheduler(optimizer, name, kwargs):
    kwargs = dict(kwargs)
    if name == "SequentialLR":
        kwargs["schedulers"] = [
            make_scheduler(optimizer, inner["name"], inner["kwargs"])
            for inner in kwargs["schedulers"]
        ]
    return getattr(torch.optim.lr_scheduler, name)(optimizer, **kwargs)


def run_scheduler(p, metrics=None):
    """The learning rate after construction and after each step (and OneCycleLR's momentum)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=p["base_lr"])
    scheduler = make_scheduler(optimizer, p["name"], p["kwargs"])
    group = optimizer.param_groups[0]
    lrs, momenta = [group["lr"]], [group["momentum"]]
    for t in range(p["steps"]):
        optimizer.step()  # PyTorch warns when a scheduler steps before its optimizer
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[t].item())
        lrs.append(group["lr"])
        momenta.append(group["momentum"])
    extra = {}
    if p["name"] == "OneCycleLR" and p["kwargs"]["cycle_momentum"]:
        extra["momentum"] = torch.tensor(momenta)
    return torch.tensor(lrs), extra


def run(op_name, params, inputs):
    """What a case records of its op: (output, extra)."""
    if op_name in OPTIMIZERS:
        return run_optimizer(op_name, params, **inputs), {}
    if op_name == "lr_scheduler":
        return run_scheduler(params, **inputs)
    result = OPS[op_name](params, **inputs)
    return result if isinstance(result, tuple) else (result, {})


# --------------------------------------------------------------------------------------------
# Cases: what a case records beyond its inputs, computed by the functions below; a Family
# collects the cases of one file and draws their random inputs from one seeded generator, so
# that regenerating a file gives the same numbers.
# --------------------------------------------------------------------------------------------


def gradients(total, tensors, create_graph=False):
    """d total / d tensors, with zeros where `total` does not depend on a tensor."""
    grads = torch.autograd.grad(total, tensors, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]


def leaf(op_name, key, value):
    """A fresh copy of an input that requires grad if FORMAT.md gives it a grad."""
    if value is None:
        return None
    wants_grad = value.is_floating_point() and key not in NO_GRAD.get(op_name, ())
    return value.detach().clone().requires_grad_(wants_grad)


def forward_backward(op_name, params, inputs, pick_grad_output, pick_direction=None):
    """output, grad_output, the grads of sum(output * grad_output), extra and, given
    pick_direction, the second-order fields. pick_grad_output(output) and
    pick_direction(grad, key) supply grad_output and grads_direction: random ones when
    generating, the stored ones when replaying a file."""
    leaves = {key: leaf(op_name, key, value) for key, value in inputs.items()}
    output, extra = run(op_name, params, leaves)
    second_order = pick_direction is not None
    grad_output = pick_grad_output(output).requires_grad_(second_order)
    wrt = [key for key, t in leaves.items() if t is not None and t.requires_grad]
    total = (output * grad_output).sum()  # its gradient is the vector-Jacobian product backward computes
    grads = gradients(total, [leaves[k] for k in wrt], create_graph=second_order)
    fields = {"output": output, "grad_output": grad_output, "grads": dict(zip(wrt, grads))}
    if extra:
        fields["extra"] = extra
    if second_order:
        direction = [pick_direction(g, key) for key, g in zip(wrt, grads)]
        s = sum((g * v).sum() for g, v in zip(grads, direction))
        grad_grads = gradients(s, [leaves[k] for k in wrt] + [grad_output])
        fields["grads_direction"] = dict(zip(wrt, direction))
        fields["grad_grads"] = dict(zip(wrt + ["grad_output"], grad_grads))
    return fields


def steps_only(op_name, params, inputs):
    """An optimizer's or a scheduler's values step by step: output (and extra), no grads."""
    output, extra = run(op_name, params, inputs)
    return {"output": output, "extra": extra} if extra else {"output": output}


def refusal(op_name, params, inputs):
    """Why PyTorch refuses the inputs (in a constructor, the forward or a step), or None."""
    try:
        run(op_name, params, inputs)
    except Exception as error:  # RuntimeError, ValueError, IndexError, ZeroDivisionError...
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


def away_from(x, *points, margin=2e-3):
    """Move entries within `margin` of a kink (relu's 0, hardtanh's bounds, ...) to `margin`
    past it on their side, so both f64 and f32 runs take the same branch. PyTorch's choice
    at a kink is pinned by the cases named *kink* instead."""
    for point in points:
        side = torch.where(x >= point, 1.0, -1.0)
        x = torch.where((x - point).abs() < margin, point + side * margin, x)
    return x


class Family:
    """The cases of one file, their random inputs drawn from one seeded generator."""

    def __init__(self, seed, verbose=False):
        self.verbose = verbose
        self.rng = torch.Generator().manual_seed(seed)
        self.cases = []

    # Random inputs.

    def randn(self, *shape, scale=1.0, shift=0.0):
        return torch.randn(shape, generator=self.rng) * scale + shift

    def uniform(self, *shape, low=0.0, high=1.0):
        return torch.rand(shape, generator=self.rng) * (high - low) + low

    def randint(self, high, *shape):
        return torch.randint(0, high, shape, generator=self.rng)

    def random_like(self, tensor, key=None):
        """A grad_output or a grads_direction: standard normal, shaped like `tensor`."""
        return self.randn(*tensor.shape)

    def maybe(self, shape):
        """A random tensor of this shape, or None for None (an optional input left out)."""
        return None if shape is None else self.randn(*shape)

    def probabilities(self, *shape, dim=-1):
        return torch.softmax(self.randn(*shape), dim)

    def nonzero(self, *shape, low=0.5, high=2.0):
        """Values with magnitude in [low, high) and a random sign (divisors, negative powers)."""
        sign = torch.where(self.uniform(*shape) < 0.5, -1.0, 1.0)
        return sign * self.uniform(*shape, low=low, high=high)

    # Recording.

    def case(self, name, op_name, params, inputs, second_order=False):
        """A forward/backward case with a random grad_output (and grads_direction)."""
        direction = self.random_like if second_order else None
        fields = forward_backward(op_name, params, inputs, self.random_like, direction)
        self.cases.append({**header(name, op_name, params, inputs), **fields})

    def steps(self, name, op_name, params, inputs):
        """An optimizer or scheduler case."""
        fields = steps_only(op_name, params, inputs)
        self.cases.append({**header(name, op_name, params, inputs), **fields})

    def error(self, name, op_name, params, inputs):
        """A case PyTorch refuses: "expect_error" instead of values."""
        why = refusal(op_name, params, inputs)
        if why is None:
            raise AssertionError(f"{name}: PyTorch accepts these inputs, so it is no error case")
        if self.verbose:
            print(f"  {name}: {why}")
        self.cases.append({**header(name, op_name, params, inputs), "expect_error": True})


def header(name, op_name, params, inputs):
    return {"name": name, "op": op_name, "params": params, "inputs": dict(inputs)}


# --------------------------------------------------------------------------------------------
# JSON: a tensor is {"shape": [...], "data": [...]} in row-major order; integer tensors keep
# integral numbers. One case per line, as in the shipped files.
# --------------------------------------------------------------------------------------------


def jsonable(value):
    if isinstance(value, torch.Tensor):
        t = value.detach().clone()  # autograd may hand back a zero tensor without storage
        return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}
    if isinstance(value, dict):
        return {key: jsonable(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_family(path, seed, cases):
    generator = f"torch {torch.__version__} float64 CPU (gen_golden.py, seed {seed})"
    lines = ",\n".join("    " + json.dumps(jsonable(c), allow_nan=False) for c in cases)
    path.write_text(f'{{\n  "generator": {json.dumps(generator)},\n  "cases": [\n{lines}\n  ]\n}}\n')


# --------------------------------------------------------------------------------------------
# Families: one function per file. The names, shapes and params mirror the shipped files.
# --------------------------------------------------------------------------------------------

FAMILIES = {}  # name -> (seed, function filling a Family)


def family(name, seed):
    def register(build):
        FAMILIES[name] = (seed, build)
        return build

    return register


def unary_case(f, op_name, name, params, input):
    f.case(f"{op_name}/{name}", op_name, params, {"input": input})


def binary_case(f, op_name, a, b):
    """Random a and b of these shapes, the case named after them."""
    f.case(f"{op_name}/{shape_name(a)}_{shape_name(b)}", op_name, {}, {"a": f.randn(*a), "b": f.randn(*b)})


def shape_name(shape):
    return "x".join(map(str, shape)) if shape else "scalar"


def per_dim(value, ndim):
    return list(value) if isinstance(value, (list, tuple)) else [value] * ndim


def conv_params(ndim, stride=1, padding=0, dilation=1, groups=1, padding_mode=None):
    """nn.ConvNd's arguments as the files write them: every size a list of `ndim` entries."""
    params = {
        "stride": per_dim(stride, ndim),
        "padding": padding if isinstance(padding, str) else per_dim(padding, ndim),
        "dilation": per_dim(dilation, ndim),
        "groups": groups,
    }
    if padding_mode is not None:  # round-1 conv2d cases leave it out
        params["padding_mode"] = padding_mode
    return params


def conv_inputs(f, input, weight, bias):
    return {"input": f.randn(*input), "weight": f.randn(*weight), "bias": f.maybe(bias)}


@family("conv2d", seed=2024060100)
def conv2d_family(f):
    # name, input, weight, bias, params; round-2 additions write padding_mode
    cases = [
        ("seed_9x9_k3_stride2", [1, 1, 9, 9], [1, 1, 3, 3], [1], dict(stride=2)),
        ("basic_s1_p0_batch3", [3, 2, 6, 7], [4, 2, 3, 3], [4], {}),
        ("stride2_pad1", [1, 3, 8, 8], [2, 3, 3, 3], [2], dict(stride=2, padding=1)),
        ("pad2_nobias", [2, 2, 5, 6], [3, 2, 3, 3], None, dict(padding=2)),
        ("dilation2_pad1", [1, 2, 9, 8], [2, 2, 3, 3], [2], dict(padding=1, dilation=2)),
        ("groups2_pad1_batch3", [3, 4, 6, 5], [6, 2, 3, 3], [6], dict(padding=1, groups=2)),
        ("nonsquare_input_stride2_pad1_nobias", [3, 3, 7, 10], [5, 3, 3, 3], None,
         dict(stride=2, padding=1)),
        ("kernel2x3_stride2x1_pad1x0", [2, 2, 6, 7], [3, 2, 2, 3], [3],
         dict(stride=[2, 1], padding=[1, 0])),
        ("stride2_pad2_dil2_groups2_nobias", [2, 4, 9, 9], [4, 2, 3, 3], None,
         dict(stride=2, padding=2, dilation=2, groups=2)),
        ("error_channel_mismatch", [1, 3, 5, 5], [2, 2, 3, 3], [2], {}),
        ("padding_same_k3", [2, 2, 6, 7], [3, 2, 3, 3], [3], dict(padding="same", padding_mode="zeros")),
        ("padding_valid_k3", [1, 2, 6, 7], [3, 2, 3, 3], [3], dict(padding="valid", padding_mode="zeros")),
        ("reflect_pad1", [2, 2, 6, 6], [3, 2, 3, 3], [3], dict(padding=1, padding_mode="reflect")),
        ("replicate_pad2x1_stride2", [1, 3, 7, 8], [2, 3, 3, 3], None,
         dict(stride=2, padding=[2, 1], padding_mode="replicate")),
        ("circular_pad1", [1, 2, 5, 6], [2, 2, 3, 3], [2], dict(padding=1, padding_mode="circular")),
        ("error_same_with_stride2", [1, 1, 6, 6], [1, 1, 3, 3], None,
         dict(stride=2, padding="same", padding_mode="zeros")),
    ]
    for name, input, weight, bias, params in cases:
        record = f.error if name.startswith("error_") else f.case
        record(f"conv2d/{name}", "conv2d", conv_params(2, **params), conv_inputs(f, input, weight, bias))


@family("linear", seed=2024060101)
def linear_family(f):
    cases = [
        ("2d_bias", [4, 5], [3, 5], [3]),
        ("2d_nobias", [2, 6], [4, 6], None),
        ("batch1_bias", [1, 8], [2, 8], [2]),
        ("in_features1", [5, 1], [3, 1], [3]),
        ("wide_nobias", [3, 16], [10, 16], None),
    ]
    for name, input, weight, bias in cases:
        f.case(f"linear/{name}", "linear", {}, conv_inputs(f, input, weight, bias))
    f.error("linear/error_in_features_mismatch", "linear", {}, conv_inputs(f, [2, 4], [3, 5], [3]))


@family("activations", seed=2024060102)
def activations_family(f):
    for op_name in ["relu", "sigmoid", "tanh"]:
        for shape, scale in [([7], 1), ([2, 3, 4], 2), ([1, 2, 3, 3], 1), ([5, 4], 3)]:
            input = away_from(f.randn(*shape, scale=scale), 0.0)
            f.case(f"{op_name}/shape{shape_name(shape)}_scale{scale}", op_name, {}, {"input": input})


def pool_params(kernel, stride, padding, ceil_mode, **more):
    return {
        "kernel_size": per_dim(kernel, 2),
        "stride": per_dim(stride, 2),
        "padding": per_dim(padding, 2),
        "ceil_mode": ceil_mode,
        **more,
    }


@family("pooling", seed=2024060103)
def pooling_family(f):
    max_cases = [
        ("k2_s2", [2, 3, 6, 6], pool_params(2, 2, 0, False)),
        ("overlap_k3_s1", [1, 2, 5, 6], pool_params(3, 1, 0, False)),
        ("k3_s2_pad1", [2, 2, 7, 7], pool_params(3, 2, 1, False)),
        ("ceil_k3_s2", [1, 2, 8, 8], pool_params(3, 2, 0, True)),
        ("ceil_k2_s2_pad1_lastwindow_dropped", [1, 1, 5, 5], pool_params(2, 2, 1, True)),
        ("k3x2_s2x1_pad1x0", [2, 1, 7, 6], pool_params([3, 2], [2, 1], [1, 0], False)),
    ]
    for name, shape, params in max_cases:
        f.case(f"max_pool2d/{name}", "max_pool2d", params, {"input": f.randn(*shape)})
    avg_cases = [
        ("k2_s2", [2, 3, 6, 6], 2, 2, 0, False, True),
        ("k3_s1_pad1_include_pad", [1, 2, 5, 6], 3, 1, 1, False, True),
        ("k3_s1_pad1_exclude_pad", [1, 2, 5, 6], 3, 1, 1, False, False),
        ("ceil_k3_s2", [1, 2, 8, 8], 3, 2, 0, True, True),
        ("ceil_k3_s2_pad1_include_pad", [1, 1, 6, 6], 3, 2, 1, True, True),
        ("ceil_k3_s2_pad1_exclude_pad", [2, 1, 6, 7], 3, 2, 1, True, False),
    ]
    for name, shape, kernel, stride, padding, ceil_mode, include_pad in avg_cases:
        params = pool_params(kernel, stride, padding, ceil_mode, count_include_pad=include_pad)
        f.case(f"avg_pool2d/{name}", "avg_pool2d", params, {"input": f.randn(*shape)})


@family("softmax", seed=2024060104)
def softmax_family(f):
    # shape, dim, scale, shift (a large shift checks the max subtraction)
    cases = [([4, 5], 1, 1, 0), ([2, 3, 4], 0, 1, 0), ([3, 7], -1, 2, 0), ([2, 3, 4], 2, 10, 50),
             ([1, 6], 1, 1, 0)]
    for op_name in ["log_softmax", "softmax"]:
        for shape, dim, scale, shift in cases:
            name = f"{op_name}/shape{shape_name(shape)}_dim{dim}"
            if scale != 1:
                name += f"_scale{scale}_shift{shift}"
            input = f.randn(*shape, scale=scale, shift=shift)
            f.case(name, op_name, {"dim": dim}, {"input": input})


@family("losses", seed=2024060105)
def losses_family(f):
    for n, c, reduction, smoothing in [(4, 5, "mean", 0.0), (4, 5, "sum", 0.0), (3, 6, "mean", 0.1),
                                       (5, 3, "sum", 0.1), (2, 10, "mean", 0.1)]:
        params = {"reduction": reduction, "label_smoothing": smoothing}
        inputs = {"input": f.randn(n, c), "target": f.randint(c, n)}
        f.case(f"cross_entropy/N{n}_C{c}_{reduction}_ls{smoothing:g}", "cross_entropy", params, inputs)
    f.error("cross_entropy/error_target_out_of_range", "cross_entropy",
            {"reduction": "mean", "label_smoothing": 0.0},
            {"input": f.randn(3, 4), "target": torch.tensor([1, 4, 0])})
    for shape, reduction in [([4, 3], "mean"), ([4, 3], "sum"), ([2, 3, 4], "mean"), ([7], "sum")]:
        inputs = {"input": f.randn(*shape), "target": f.randn(*shape)}
        f.case(f"mse_loss/shape{shape_name(shape)}_{reduction}", "mse_loss", {"reduction": reduction}, inputs)


@family("elementwise", seed=2024060106)
def elementwise_family(f):
    shapes = [([3, 4], [3, 4]), ([3, 4], [4]), ([2, 1, 4], [3, 1]), ([4, 1], [1, 5]), ([2, 3], [])]
    for op_name in ["add", "sub", "mul", "div"]:
        for a, b in shapes:
            divisor = f.nonzero(*b) if op_name == "div" else f.randn(*b)
            name = f"{op_name}/{shape_name(a)}_{shape_name(b)}"
            f.case(name, op_name, {}, {"a": f.randn(*a), "b": divisor})
    f.error("add/error_not_broadcastable", "add", {}, {"a": f.randn(2, 3), "b": f.randn(4)})


def reduction_params(dims, keepdim):
    return {"dims": dims, "keepdim": keepdim}


def dims_name(dims):
    return "_".join(map(str, dims)) if dims else "all"


def dims_label(dims):
    """dims_name as round-2 case names write it: -1 as m1."""
    return dims_name(dims).replace("-", "m")


@family("reductions", seed=2024060107)
def reductions_family(f):
    cases = [([3, 4], [], False), ([2, 3, 4], [1], False), ([2, 3, 4], [0, 2], True),
             ([3, 5], [-1], False), ([2, 3], [], True)]
    for op_name in ["sum", "mean"]:
        for shape, dims, keepdim in cases:
            name = f"{op_name}/shape{shape_name(shape)}_dims{dims_name(dims)}_keepdim{int(keepdim)}"
            f.case(name, op_name, reduction_params(dims, keepdim), {"input": f.randn(*shape)})


@family("shape", seed=2024060108)
def shape_family(f):
    for shape, new_shape in [([2, 3, 4], [6, 4]), ([2, 3, 4], [4, -1]), ([12], [3, 2, 2]), ([2, 6], [12])]:
        name = f"reshape/{shape_name(shape)}_to_{shape_name(new_shape)}"
        f.case(name, "reshape", {"shape": new_shape}, {"input": f.randn(*shape)})
    f.error("reshape/error_size_mismatch", "reshape", {"shape": [4, 2]}, {"input": f.randn(2, 3)})
    flattens = [([2, 3, 4, 5], 1, -1), ([2, 3, 4], 0, 1), ([2, 3, 4, 5], 1, 2), ([3, 4], 0, -1)]
    for shape, start, end in flattens:
        name = f"flatten/{shape_name(shape)}_start{start}_end{end}"
        f.case(name, "flatten", {"start_dim": start, "end_dim": end}, {"input": f.randn(*shape)})
    permutes = [([3, 4], [1, 0]), ([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [0, 2, 1]), ([2, 3, 4], [0, 1, 2])]
    for shape, dims in permutes:
        name = f"permute/{shape_name(shape)}_dims{''.join(map(str, dims))}"
        f.case(name, "permute", {"dims": dims}, {"input": f.randn(*shape)})


@family("matmul", seed=2024060109)
def matmul_family(f):
    for a, b in [([3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]), ([2, 3, 4], [4, 2]), ([1, 6], [6, 1]),
                 ([5, 1], [1, 3])]:
        binary_case(f, "matmul", a, b)
    f.error("matmul/error_inner_dim_mismatch", "matmul", {}, {"a": f.randn(3, 4), "b": f.randn(5, 2)})


def batch_norm_inputs(f, shape, channels=None):
    """Input, affine parameters and running stats (a positive variance) for `shape`'s channels;
    `channels` overrides the size of the running stats (error cases)."""
    c = shape[1] if len(shape) > 1 else shape[0]
    stats = channels or c
    return {
        "input": f.randn(*shape, scale=2.0, shift=0.5),
        "weight": f.randn(c),
        "bias": f.randn(c),
        "running_mean": f.randn(stats),
        "running_var": f.uniform(stats, low=0.5, high=2.0),
    }


def batch_norm_params(training, momentum, eps):
    return {"training": training, "momentum": momentum, "eps": eps}


@family("batchnorm", seed=2024060110)
def batchnorm_family(f):
    cases = [(True, [4, 3, 5, 5], 0.1, 1e-5), (True, [2, 2, 3, 4], 0.3, 1e-3),
             (False, [3, 3, 4, 4], 0.1, 1e-5), (False, [1, 2, 3, 3], 0.1, 1e-2),
             (True, [2, 4, 2, 3], 0.1, 1e-5)]
    for training, shape, momentum, eps in cases:
        mode = "train" if training else "eval"
        name = f"batch_norm2d/{mode}_{shape_name(shape)}_mom{momentum}_eps{eps}"
        f.case(name, "batch_norm2d", batch_norm_params(training, momentum, eps), batch_norm_inputs(f, shape))


@family("dropout", seed=2024060111)
def dropout_family(f):
    for shape, p in [([3, 4], 0.5), ([2, 3, 4], 0.0), ([5], 0.9), ([1, 2, 3, 3], 0.2)]:
        unary_case(f, "dropout_eval", f"{shape_name(shape)}_p{p:g}", {"p": p}, f.randn(*shape))


def optimizer_inputs(f, shape, steps):
    return {"param": f.randn(*shape), "grads": f.randn(steps, *shape)}


def sgd_params(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)


def adam_params(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    return dict(lr=lr, betas=list(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


@family("optim", seed=2024060112)
def optim_family(f):
    sgd_cases = [
        ("plain", sgd_params(0.1)),
        ("momentum0.9", sgd_params(0.1, momentum=0.9)),
        ("nesterov", sgd_params(0.05, momentum=0.9, nesterov=True)),
        ("momentum_wd", sgd_params(0.1, momentum=0.9, weight_decay=0.01)),
        ("momentum_dampening0.5", sgd_params(0.1, momentum=0.9, dampening=0.5)),
        ("plain_wd", sgd_params(0.2, weight_decay=0.1)),
    ]
    for name, params in sgd_cases:
        f.steps(f"sgd/{name}", "sgd", params, optimizer_inputs(f, [3, 4], 4))
    adam_cases = [
        ("adam", "defaults_lr0.01", adam_params(0.01)),
        ("adam", "amsgrad", adam_params(0.05, amsgrad=True)),
        ("adam", "weight_decay0.1", adam_params(0.05, weight_decay=0.1)),
        ("adam", "betas0.8_0.99", adam_params(0.02, betas=(0.8, 0.99), eps=1e-6)),
        ("adamw", "wd0.01", adam_params(0.05, weight_decay=0.01)),
        ("adamw", "amsgrad_wd0.1", adam_params(0.05, weight_decay=0.1, amsgrad=True)),
    ]
    for op_name, name, params in adam_cases:
        f.steps(f"{op_name}/{name}", op_name, params, optimizer_inputs(f, [2, 5], 4))


# Round 2 ------------------------------------------------------------------------------------


@family("pointwise", seed=2025080100)
def pointwise_family(f):
    activations_with_params(f)
    piecewise_functions(f)
    exp_log_pow(f)
    clamp_cases(f)
    binary_pointwise(f)
    where_cases(f)


def activations_with_params(f):
    for shape, slope in [([7], 0.01), ([2, 3, 4], 0.2), ([3, 5], 0.0), ([4, 3], -0.5), ([6], 1.5)]:
        input = away_from(f.randn(*shape), 0.0)
        name = f"{shape_name(shape)}_slope{slope:g}"
        unary_case(f, "leaky_relu", name, {"negative_slope": slope}, input)
    unary_case(f, "leaky_relu", "kink_zero_input_grad_is_slope", {"negative_slope": 0.1},
                    torch.tensor([[0.9, 0.0, -0.4, -0.9], [-1.1, 0.4, 0.3, 0.0]]))
    for shape, alpha in [([7], 1.0), ([2, 3, 4], 0.5), ([3, 5], 2.0)]:
        input = away_from(f.randn(*shape), 0.0)
        unary_case(f, "elu", f"{shape_name(shape)}_alpha{alpha:g}", {"alpha": alpha}, input)
    unary_case(f, "elu", "kink_zero_input_grad_is_alpha", {"alpha": 1.5},
                    torch.tensor([0.5, 1.6, 0.0, 1.7, -0.1]))
    for approximate in ["none", "tanh"]:
        for shape, scale in [([8], 1), ([2, 3, 4], 3), ([], 1.5)]:
            name = f"{approximate}_{shape_name(shape)}_scale{scale}"
            unary_case(f, "gelu", name, {"approximate": approximate}, f.randn(*shape, scale=scale))
    f.error("gelu/error_bad_approximate", "gelu", {"approximate": "erf"}, {"input": f.randn(3)})
    for shape, scale in [([7], 1), ([2, 3, 4], 4), ([], 2)]:
        unary_case(f, "silu", f"{shape_name(shape)}_scale{scale}", {}, f.randn(*shape, scale=scale))
    for shape, beta, threshold in [([8], 1.0, 20.0), ([3, 4], 2.0, 1.0), ([2, 5], 0.5, 3.0)]:
        # softplus switches to the identity where beta * x > threshold
        input = away_from(f.randn(*shape, scale=3.0), threshold / beta)
        name = f"{shape_name(shape)}_beta{beta:g}_threshold{threshold:g}"
        unary_case(f, "softplus", name, {"beta": beta, "threshold": threshold}, input)


def piecewise_functions(f):
    for shape, low, high in [([8], -1.0, 1.0), ([3, 4], -0.5, 2.0), ([2, 6], 0.0, 6.0)]:
        input = away_from(f.randn(*shape, scale=max(abs(low), high)), low, high)
        name = f"{shape_name(shape)}_min{low:g}_max{high:g}"
        unary_case(f, "hardtanh", name, {"min_val": low, "max_val": high}, input)
    unary_case(f, "hardtanh", "kink_at_bounds_grad0", {"min_val": -1.0, "max_val": 1.0},
                    torch.tensor([-1.0, -0.5, 1.0, 0.25, -1.5, 1.0]))
    f.error("hardtanh/error_min_gt_max", "hardtanh", {"min_val": 1.0, "max_val": -1.0}, {"input": f.randn(4)})
    for op_name in ["hardswish", "hardsigmoid"]:
        for shape, scale in [([9], 3), ([2, 3, 4], 2.5)]:
            input = away_from(f.randn(*shape, scale=scale), -3.0, 3.0)
            unary_case(f, op_name, f"{shape_name(shape)}_scale{scale}", {}, input)
        kinks = torch.tensor([-3.0, -1.25, 3.0, 0.5, -4.0, 4.0])
        unary_case(f, op_name, "kink_at_minus3_and_3", {}, kinks)
    for shape, scale in [([7], 1), ([2, 3, 4], 2)]:
        input = away_from(f.randn(*shape, scale=scale), 0.0)
        unary_case(f, "abs", f"{shape_name(shape)}_scale{scale}", {}, input)
    unary_case(f, "abs", "kink_zero_grad0", {}, torch.tensor([0.0, -1.5, 0.0, 2.0]))


def exp_log_pow(f):
    for shape, scale in [([7], 1), ([2, 3, 4], 2), ([], 1)]:
        unary_case(f, "exp", f"{shape_name(shape)}_scale{scale}", {}, f.randn(*shape, scale=scale))
    for shape, spread in [([7], 0.5), ([2, 3, 4], 2), ([], 1)]:
        for op_name in ["log", "sqrt"]:
            positive = torch.exp(f.randn(*shape, scale=spread))  # log-normal: spans decades
            unary_case(f, op_name, f"{shape_name(shape)}_spread{spread:g}", {}, positive)
    bases = {
        "any_base": lambda: f.randn(3, 4),
        "pos_base": lambda: f.uniform(3, 4, low=0.4, high=2.6),
        "nonsmall_base": lambda: f.nonzero(3, 4),
    }
    for exponent, base in [(2.0, "any_base"), (3.0, "any_base"), (0.5, "pos_base"), (-1.0, "nonsmall_base"),
                           (-2.5, "pos_base"), (1.0, "any_base"), (0.0, "any_base")]:
        unary_case(f, "pow", f"exponent{exponent:g}_{base}", {"exponent": exponent}, bases[base]())


def clamp_cases(f):
    for shape, low, high in [([8], -0.5, 0.8), ([3, 4], 0.0, None), ([2, 5], None, 0.3)]:
        bounds = [b for b in (low, high) if b is not None]
        input = away_from(f.randn(*shape), *bounds)
        name = f"{shape_name(shape)}_min{low}_max{high}"
        unary_case(f, "clamp", name, {"min": low, "max": high}, input)
    unary_case(f, "clamp", "min_gt_max_all_max_grad0", {"min": 0.5, "max": -0.5},
                    away_from(f.randn(6, scale=1.5), 0.5, -0.5))
    unary_case(f, "clamp", "kink_at_bounds_grad0", {"min": -1.0, "max": 0.5},
                    torch.tensor([-1.0, 0.5, 0.0, -2.0, 0.5, 1.25]))
    f.error("clamp/error_both_bounds_null", "clamp", {"min": None, "max": None}, {"input": f.randn(3)})


def binary_pointwise(f):
    for op_name in ["maximum", "minimum"]:
        for a, b in [([3, 4], [3, 4]), ([3, 1], [4]), ([], [2, 3])]:
            binary_case(f, op_name, a, b)
        ties = {"a": torch.tensor([[0.5], [-1.0], [2.0]]), "b": torch.tensor([0.5, -1.0, 1.0, 2.0])}
        f.case(f"{op_name}/ties_broadcast_grad_split_half", op_name, {}, ties)
        f.error(f"{op_name}/error_not_broadcastable", op_name, {}, {"a": f.randn(2, 3), "b": f.randn(4)})


def where_cases(f):
    def inputs(condition, a, b):
        return {"condition": condition, "a": f.randn(*a), "b": f.randn(*b)}

    f.case("where/same_shape", "where", {}, inputs(f.randint(2, 3, 4), [3, 4], [3, 4]))
    f.case("where/broadcast_cond3_a2x3_b2x1", "where", {}, inputs(torch.tensor([1, 0, 1]), [2, 3], [2, 1]))
    f.case("where/scalar_cond_true", "where", {}, inputs(torch.tensor(1), [2, 2], [2, 2]))
    f.case("where/cond2x1_a_scalar_b1x4", "where", {}, inputs(torch.tensor([[0], [1]]), [], [1, 4]))
    f.error("where/error_not_broadcastable", "where", {}, inputs(torch.tensor([1, 0, 1]), [2, 3], [4]))


@family("indexing", seed=2025080101)
def indexing_family(f):
    gather_cases(f)
    index_select_cases(f)
    amax_cases(f)
    logsumexp_cases(f)
    var_cases(f)


def gather_cases(f):
    # name, input, dim, index (random in [0, size along dim) when given as a shape)
    cases = [
        ("2d_dim1", [3, 4], 1, [3, 2]),
        ("2d_dim0_repeated_indices", [3, 4], 0, [2, 4]),
        ("3d_dimm1_index_longer_than_input", [2, 3, 4], -1, [2, 3, 6]),
        ("3d_dim1_index_smaller_other_dims", [2, 3, 4], 1, [1, 5, 2]),
    ]
    for name, shape, dim, index in cases:
        inputs = {"input": f.randn(*shape), "index": f.randint(shape[dim], *index)}
        f.case(f"gather/{name}", "gather", {"dim": dim}, inputs)
    f.case("gather/scalar", "gather", {"dim": 0}, {"input": f.randn(), "index": torch.tensor(0)})
    errors = [
        ("index_out_of_range", [2, 3], 1, [[0], [3]]),
        ("negative_index", [3, 2], 0, [[-1, 0]]),
        ("rank_mismatch", [3, 2], 0, [0, 1]),
        ("index_larger_in_other_dim", [2, 3], 1, [[0, 0], [0, 0], [0, 0]]),
    ]
    for name, shape, dim, index in errors:
        inputs = {"input": f.randn(*shape), "index": torch.tensor(index)}
        f.error(f"gather/error_{name}", "gather", {"dim": dim}, inputs)


def index_select_cases(f):
    cases = [
        ("dim0_repeats", [4, 3], 0, [2, 0, 2]),
        ("3d_dim1", [2, 5, 3], 1, [4, 4, 1, 0]),
        ("dimm1", [3, 4], -1, [3, 1]),
        ("scalar_index", [3, 4], 1, 2),
        ("empty_index", [3, 4], 1, []),
    ]
    for name, shape, dim, index in cases:
        inputs = {"input": f.randn(*shape), "index": torch.tensor(index, dtype=torch.int64)}
        f.case(f"index_select/{name}", "index_select", {"dim": dim}, inputs)
    for name, index in [("index_out_of_range", [0, 3]), ("2d_index", [[0, 1]])]:
        inputs = {"input": f.randn(3, 2), "index": torch.tensor(index)}
        f.error(f"index_select/error_{name}", "index_select", {"dim": 0}, inputs)


def amax_cases(f):
    cases = [
        ("3x4_dims1", [3, 4], [1], False),
        ("2x3x4_dims0_2_keepdim", [2, 3, 4], [0, 2], True),
        ("2x3x4_all", [2, 3, 4], [], False),
        ("2x3x4_dimsm1_keepdim", [2, 3, 4], [-1], True),
        ("scalar_all", [], [], False),
    ]
    for name, shape, dims, keepdim in cases:
        f.case(f"amax/{name}", "amax", reduction_params(dims, keepdim), {"input": f.randn(*shape)})
    ties = torch.tensor([[-0.1, 3.7, 0.0, 3.7, 3.2], [2.1, 1.8, 2.1, -0.9, 2.1]])
    f.case("amax/ties_grad_split_evenly", "amax", reduction_params([1], False), {"input": ties})
    f.error("amax/error_reduce_empty_dim", "amax", reduction_params([1], False), {"input": f.randn(2, 0)})
    f.error("amax/error_repeated_dim", "amax", reduction_params([0, -2], False), {"input": f.randn(2, 3)})


def logsumexp_cases(f):
    # shape, dims, keepdim, scale, shift (large shifts check the max subtraction)
    cases = [([3, 4], [1], False, 1, 0), ([2, 3, 4], [0, 2], True, 1, 0), ([3, 5], [-1], False, 10, 500),
             ([2, 3], [0, 1], False, 2, -300), ([], [0], True, 1, 0)]
    for shape, dims, keepdim, scale, shift in cases:
        name = f"logsumexp/{shape_name(shape)}_dims{dims_label(dims)}_keepdim{int(keepdim)}"
        if shift:
            name += f"_shift{shift}"
        input = f.randn(*shape, scale=scale, shift=shift)
        f.case(name, "logsumexp", reduction_params(dims, keepdim), {"input": input})
    params = reduction_params([2], False)
    f.error("logsumexp/error_dim_out_of_range", "logsumexp", params, {"input": f.randn(3, 4)})


def var_cases(f):
    cases = [([3, 5], [1], 1, False), ([3, 5], [], 0, False), ([2, 3, 4], [0, 2], 1, True),
             ([4, 6], [0], 2, False), ([2, 3, 4], [-1], 0, True)]
    for shape, dims, correction, keepdim in cases:
        name = f"var/{shape_name(shape)}_dims{dims_label(dims)}_correction{correction}_keepdim{int(keepdim)}"
        params = {"dims": dims, "correction": correction, "keepdim": keepdim}
        f.case(name, "var", params, {"input": f.randn(*shape)})
    params = {"dims": [3], "correction": 1, "keepdim": False}
    f.error("var/error_dim_out_of_range", "var", params, {"input": f.randn(2, 3)})


@family("norms", seed=2025080102)
def norms_family(f):
    batch_norm1d_cases(f)
    layer_norm_cases(f)
    group_norm_cases(f)


def batch_norm1d_cases(f):
    cases = [(True, [4, 3], 0.1, 1e-5), (True, [2, 3, 5], 0.1, 1e-5), (False, [3, 4], 0.1, 1e-5),
             (False, [2, 2, 6], 0.2, 1e-3), (True, [1, 3, 4], 0.3, 1e-5), (True, [5, 2, 1], 0.1, 1e-3)]
    for training, shape, momentum, eps in cases:
        mode = "train" if training else "eval"
        name = f"batch_norm1d/{mode}_{shape_name(shape)}_mom{momentum}_eps{eps}"
        f.case(name, "batch_norm1d", batch_norm_params(training, momentum, eps), batch_norm_inputs(f, shape))
    errors = [("train_one_value_per_channel", True, [1, 3], None), ("4d_input", True, [2, 3, 2, 2], None),
              ("running_stats_size", False, [3, 4], 3)]
    for name, training, shape, channels in errors:
        inputs = batch_norm_inputs(f, shape, channels)
        f.error(f"batch_norm1d/error_{name}", "batch_norm1d", batch_norm_params(training, 0.1, 1e-5), inputs)


def norm_inputs(f, shape, weight, bias):
    return {"input": f.randn(*shape, scale=1.5, shift=0.3), "weight": f.maybe(weight), "bias": f.maybe(bias)}


def layer_norm_cases(f):
    # name, input, normalized_shape, eps, weight, bias
    cases = [
        ("2x3x4_last_affine", [2, 3, 4], [4], 1e-5, [4], [4]),
        ("2x3x4_last2_no_affine", [2, 3, 4], [3, 4], 1e-5, None, None),
        ("3x5_weight_only", [3, 5], [5], 1e-3, [5], None),
        ("3x5_bias_only", [3, 5], [5], 1e-5, None, [5]),
        ("1d_input", [6], [6], 1e-5, [6], [6]),
        ("2x2x3_all_dims_eps0.1", [2, 2, 3], [2, 2, 3], 0.1, [2, 2, 3], [2, 2, 3]),
        ("error_shape_mismatch", [2, 3, 4], [3], 1e-5, None, None),
        ("error_weight_shape", [2, 3, 4], [4], 1e-5, [3], None),
    ]
    for name, shape, normalized_shape, eps, weight, bias in cases:
        record = f.error if name.startswith("error_") else f.case
        params = {"normalized_shape": normalized_shape, "eps": eps}
        record(f"layer_norm/{name}", "layer_norm", params, norm_inputs(f, shape, weight, bias))


def group_norm_cases(f):
    # name, input, num_groups, eps, weight, bias
    cases = [
        ("2x6x4_g3_affine", [2, 6, 4], 3, 1e-5, [6], [6]),
        ("2x4x3x3_g2_affine", [2, 4, 3, 3], 2, 1e-5, [4], [4]),
        ("3x4x5_g1_no_affine", [3, 4, 5], 1, 1e-5, None, None),
        ("2x4x5_g4_instance", [2, 4, 5], 4, 1e-3, [4], [4]),
        ("3x6_2d_g2_weight_only", [3, 6], 2, 1e-5, [6], None),
        ("1x4x2x3_g2_bias_only_eps0.1", [1, 4, 2, 3], 2, 0.1, None, [4]),
        ("error_groups_not_dividing", [2, 6, 3], 4, 1e-5, None, None),
        ("error_weight_size", [2, 4, 3], 2, 1e-5, [2], None),
    ]
    for name, shape, groups, eps, weight, bias in cases:
        record = f.error if name.startswith("error_") else f.case
        params = {"num_groups": groups, "eps": eps}
        record(f"group_norm/{name}", "group_norm", params, norm_inputs(f, shape, weight, bias))


@family("adaptive_pool", seed=2025080103)
def adaptive_pool_family(f):
    cases = [([1, 2, 6, 6], [3, 3]), ([2, 3, 7, 5], [3, 2]), ([1, 2, 5, 7], [1, 1]),
             ([1, 1, 4, 5], [None, 3]), ([2, 5, 4], [3, 3]), ([1, 1, 3, 4], [5, 6])]
    for op_name in ["adaptive_avg_pool2d", "adaptive_max_pool2d"]:
        for shape, size in cases:
            size_text = "x".join("none" if s is None else str(s) for s in size)
            name = f"{op_name}/{shape_name(shape)}_to_{size_text}"
            f.case(name, op_name, {"output_size": size}, {"input": f.randn(*shape)})
    for op_name in ["adaptive_avg_pool2d", "adaptive_max_pool2d"]:
        negative = {"output_size": [-1, 2]}
        f.error(f"{op_name}/error_negative_output_size", op_name, negative, {"input": f.randn(1, 1, 4, 4)})
        f.error(f"{op_name}/error_2d_input", op_name, {"output_size": [2, 2]}, {"input": f.randn(4, 4)})


@family("conv1d", seed=2025080104)
def conv1d_family(f):
    # name, input, weight, bias, params (every conv1d case writes padding_mode)
    cases = [
        ("basic_k3", [2, 3, 9], [4, 3, 3], [4], {}),
        ("stride2_pad1", [1, 2, 10], [3, 2, 3], [3], dict(stride=2, padding=1)),
        ("dilation2_pad2_nobias", [2, 2, 9], [2, 2, 3], None, dict(padding=2, dilation=2)),
        ("groups2_k4", [2, 4, 8], [6, 2, 4], [6], dict(padding=1, groups=2)),
        ("same_even_k4", [1, 3, 7], [2, 3, 4], [2], dict(padding="same")),
        ("valid_stride3", [2, 2, 11], [3, 2, 2], None, dict(stride=3, padding="valid")),
        ("unbatched_k3_pad1", [3, 8], [2, 3, 3], [2], dict(padding=1)),
        ("reflect_pad2", [2, 2, 7], [3, 2, 3], [3], dict(padding=2, padding_mode="reflect")),
        ("replicate_pad3_stride2", [1, 3, 6], [2, 3, 3], None,
         dict(stride=2, padding=3, padding_mode="replicate")),
        ("circular_pad1_groups2", [1, 4, 6], [4, 2, 3], [4],
         dict(padding=1, groups=2, padding_mode="circular")),
        ("error_channel_mismatch", [1, 3, 6], [2, 2, 3], None, {}),
        ("error_same_with_stride2", [1, 2, 6], [2, 2, 3], None, dict(stride=2, padding="same")),
        ("error_kernel_larger_than_padded_input", [1, 1, 4], [1, 1, 7], None, dict(padding=1)),
        ("error_reflect_pad_ge_length", [1, 1, 4], [1, 1, 3], None, dict(padding=4, padding_mode="reflect")),
    ]
    for name, input, weight, bias, options in cases:
        record = f.error if name.startswith("error_") else f.case
        params = conv_params(1, **{"padding_mode": "zeros", **options})
        record(f"conv1d/{name}", "conv1d", params, conv_inputs(f, input, weight, bias))


def conv_transpose_params(stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return {
        "stride": per_dim(stride, 2),
        "padding": per_dim(padding, 2),
        "output_padding": per_dim(output_padding, 2),
        "groups": groups,
        "dilation": per_dim(dilation, 2),
    }


@family("conv_transpose2d", seed=2025080105)
def conv_transpose2d_family(f):
    # name, input, weight [Cin, Cout/groups, kh, kw], bias, params
    cases = [
        ("basic_k3", [1, 2, 4, 4], [2, 3, 3, 3], [3], {}),
        ("stride2_pad1_outpad1", [2, 3, 3, 4], [3, 2, 3, 3], [2],
         dict(stride=2, padding=1, output_padding=1)),
        ("stride2x3_pad1x0_outpad1x2_nobias", [1, 2, 3, 3], [2, 2, 3, 2], None,
         dict(stride=[2, 3], padding=[1, 0], output_padding=[1, 2])),
        ("groups2", [2, 4, 3, 3], [4, 3, 3, 3], [6], dict(padding=1, groups=2)),
        ("dilation2_stride2", [1, 2, 3, 3], [2, 2, 3, 3], [2], dict(stride=2, output_padding=1, dilation=2)),
        ("k2_stride2_upsample", [2, 3, 3, 3], [3, 2, 2, 2], [2], dict(stride=2)),
        ("unbatched", [2, 3, 4], [2, 3, 3, 3], [3], dict(stride=[1, 2], padding=1, output_padding=[0, 1])),
        ("error_output_padding_ge_stride_and_dilation", [1, 2, 3, 3], [2, 2, 3, 3], None,
         dict(stride=2, output_padding=2)),
        ("error_channel_mismatch", [1, 3, 3, 3], [2, 2, 3, 3], None, {}),
        ("error_groups_not_dividing", [1, 4, 3, 3], [4, 1, 3, 3], None, dict(groups=3)),
        ("error_bias_size", [1, 2, 3, 3], [2, 3, 3, 3], [2], {}),
    ]
    for name, input, weight, bias, params in cases:
        record = f.error if name.startswith("error_") else f.case
        inputs = conv_inputs(f, input, weight, bias)
        record(f"conv_transpose2d/{name}", "conv_transpose2d", conv_transpose_params(**params), inputs)


def interpolate_params(size=None, scale_factor=None, mode="nearest", align_corners=None):
    return {"size": size, "scale_factor": scale_factor, "mode": mode, "align_corners": align_corners}


@family("resize", seed=2025080106)
def resize_family(f):
    interpolate_cases(f)
    pad_cases(f)


def interpolate_cases(f):
    P = interpolate_params
    cases = [
        ("nearest_size_up_5x7", [1, 2, 3, 4], P(size=[5, 7])),
        ("nearest_size_down_4x3", [1, 1, 6, 7], P(size=[4, 3])),
        ("nearest_scale2", [2, 1, 3, 3], P(scale_factor=[2.0, 2.0])),
        ("nearest_scale1.5x0.7_uses_1_over_scale", [1, 2, 4, 6], P(scale_factor=[1.5, 0.7])),
        ("nearest_scale2.2x1.3_out_eq_2in_halves", [1, 1, 3, 4], P(scale_factor=[2.2, 1.3])),
        ("bilinear_size_up_ac_false", [1, 2, 3, 4], P(size=[5, 7], mode="bilinear", align_corners=False)),
        ("bilinear_size_down_ac_false", [1, 1, 7, 6], P(size=[3, 4], mode="bilinear", align_corners=False)),
        ("bilinear_scale1.7x2.3_ac_false", [1, 1, 3, 4],
         P(scale_factor=[1.7, 2.3], mode="bilinear", align_corners=False)),
        ("bilinear_size_up_ac_true", [2, 1, 3, 4], P(size=[6, 5], mode="bilinear", align_corners=True)),
        ("bilinear_scale2_ac_true", [1, 2, 3, 3],
         P(scale_factor=[2.0, 2.0], mode="bilinear", align_corners=True)),
        ("bilinear_size1x1_ac_true", [1, 1, 3, 4], P(size=[1, 1], mode="bilinear", align_corners=True)),
        ("bilinear_ac_null_is_false", [1, 1, 4, 3], P(size=[6, 5], mode="bilinear")),
        ("error_size_and_scale", [1, 1, 2, 2], P(size=[4, 4], scale_factor=[2.0, 2.0])),
        ("error_no_size_no_scale", [1, 1, 2, 2], P()),
        ("error_nearest_with_align_corners", [1, 1, 2, 2], P(size=[4, 4], align_corners=True)),
        ("error_output_size_zero", [1, 1, 4, 4], P(scale_factor=[0.2, 0.2])),
        ("error_3d_input", [1, 4, 4], P(size=[4, 4], mode="bilinear", align_corners=False)),
    ]
    for name, shape, params in cases:
        record = f.error if name.startswith("error_") else f.case
        record(f"interpolate/{name}", "interpolate", params, {"input": f.randn(*shape)})


def pad_cases(f):
    # name, input, pad, mode, value (null for the non-constant modes)
    cases = [
        ("constant_1_2_0_1_value0", [1, 2, 3, 4], [1, 2, 0, 1], "constant", 0.0),
        ("constant_negative_crop_value1.5", [1, 1, 4, 5], [-1, 2, 1, -2], "constant", 1.5),
        ("constant_2_entries_2d_input", [2, 3], [2, 1], "constant", -0.5),
        ("reflect_1_2_2_1", [1, 2, 4, 5], [1, 2, 2, 1], "reflect", None),
        ("reflect_2_entries_3d", [1, 2, 5], [3, 1], "reflect", None),
        ("replicate_2_0_1_3", [2, 1, 3, 3], [2, 0, 1, 3], "replicate", None),
        ("circular_1_2_2_1", [1, 2, 3, 4], [1, 2, 2, 1], "circular", None),
        ("circular_pad_equals_size_unbatched", [2, 3, 3], [3, 0, 0, 3], "circular", None),
        ("error_reflect_pad_ge_size", [1, 1, 4, 4], [4, 0, 0, 0], "reflect", None),
        ("error_circular_pad_gt_size", [1, 1, 4, 4], [0, 0, 5, 0], "circular", None),
        ("error_odd_length", [1, 1, 3, 3], [1, 2, 1], "constant", 0.0),
        ("error_reflect_with_value", [1, 1, 3, 3], [1, 1, 1, 1], "reflect", 1.0),
        ("error_reflect_4_entries_2d_input", [3, 3], [1, 1, 1, 1], "reflect", None),
    ]
    for name, shape, widths, mode, value in cases:
        record = f.error if name.startswith("error_") else f.case
        params = {"pad": widths, "mode": mode, "value": value}
        record(f"pad/{name}", "pad", params, {"input": f.randn(*shape)})


@family("losses_more", seed=2025080107)
def losses_more_family(f):
    binary_cross_entropy_cases(f)
    regression_losses(f)
    kl_div_cases(f)
    nll_loss_cases(f)
    cross_entropy_cases(f)
    inputs = {"input": f.randn(3, 4), "target": f.randn(3, 4)}
    f.case("mse_loss/3x4_none", "mse_loss", {"reduction": "none"}, inputs)
    inputs = {"input": f.randn(), "target": f.randn()}
    f.case("mse_loss/scalar_none", "mse_loss", {"reduction": "none"}, inputs)


def binary_cross_entropy_cases(f):
    def probabilities(*shape):
        return f.uniform(*shape, low=0.05, high=0.95)

    def bce(name, shape, reduction, weight=None, target=None, error=False):
        inputs = {
            "input": probabilities(*shape),
            "target": probabilities(*shape) if target is None else target,
            "weight": None if weight is None else f.uniform(*weight, low=0.5, high=2.0),
        }
        record = f.error if error else f.case
        record(f"binary_cross_entropy/{name}", "binary_cross_entropy", {"reduction": reduction}, inputs)

    bce("4x3_mean_weightnull", [4, 3], "mean")
    bce("4x3_sum_weightnull", [4, 3], "sum")
    bce("2x3x2_none_weightnull", [2, 3, 2], "none")
    bce("4x3_mean_weightfull", [4, 3], "mean", weight=[4, 3])
    bce("4x3_sum_weightbcast", [4, 3], "sum", weight=[3])
    bce("hard_targets_0_1", [3, 4], "mean", target=f.randint(2, 3, 4).double())
    bce("error_target_shape", [3, 4], "mean", target=probabilities(3, 1), error=True)
    f.error("binary_cross_entropy/error_input_outside_0_1", "binary_cross_entropy", {"reduction": "mean"},
            {"input": torch.tensor([0.5, 1.5]), "target": probabilities(2), "weight": None})
    with_logits_cases(f, probabilities)


def with_logits_cases(f, probabilities):
    # shape, reduction, weight?, pos_weight?, scale of the logits
    cases = [([4, 3], "mean", False, False, 2), ([4, 3], "sum", True, False, 2),
             ([2, 3, 2], "none", False, True, 2), ([4, 3], "mean", True, True, 2),
             ([3, 4], "sum", False, False, 30)]
    for shape, reduction, weight, pos_weight, scale in cases:
        name = f"{shape_name(shape)}_{reduction}_w{int(weight)}_pw{int(pos_weight)}_scale{scale}"
        inputs = {
            "input": f.randn(*shape, scale=scale),
            "target": probabilities(*shape),
            "weight": f.uniform(*shape, low=0.5, high=2.0) if weight else None,
            "pos_weight": f.uniform(shape[-1], low=0.5, high=3.0) if pos_weight else None,
        }
        f.case(f"binary_cross_entropy_with_logits/{name}", "binary_cross_entropy_with_logits",
               {"reduction": reduction}, inputs)
    inputs = {"input": f.randn(3, 4), "target": probabilities(3, 1), "weight": None, "pos_weight": None}
    f.error("binary_cross_entropy_with_logits/error_target_shape", "binary_cross_entropy_with_logits",
            {"reduction": "mean"}, inputs)


def regression_losses(f):
    def pair(*shape, kinks=()):
        """input and target whose difference stays away from the loss's kinks."""
        target = f.randn(*shape)
        difference = away_from(f.randn(*shape, scale=1.5), *kinks, *(-k for k in kinks))
        return {"input": target + difference, "target": target}

    for shape, reduction in [([4, 3], "mean"), ([2, 3, 2], "sum"), ([5], "none")]:
        inputs = pair(*shape, kinks=[0.0])
        f.case(f"l1_loss/{shape_name(shape)}_{reduction}", "l1_loss", {"reduction": reduction}, inputs)
    f.case("l1_loss/kink_equal_input_target_grad0", "l1_loss", {"reduction": "sum"},
           {"input": torch.tensor([0.5, -1.0, 2.0]), "target": torch.tensor([0.5, 1.0, 2.0])})
    f.error("l1_loss/error_bad_reduction", "l1_loss", {"reduction": "batchmean"}, pair(3))
    f.error("l1_loss/error_shape_mismatch", "l1_loss", {"reduction": "mean"},
            {"input": f.randn(5), "target": f.randn(4)})
    for shape, reduction, beta in [([4, 3], "mean", 1.0), ([2, 3, 2], "sum", 0.5), ([6], "none", 2.0),
                                   ([4, 3], "mean", 0.0)]:
        f.case(f"smooth_l1_loss/{shape_name(shape)}_{reduction}_beta{beta:g}", "smooth_l1_loss",
               {"reduction": reduction, "beta": beta}, pair(*shape, kinks=[0.0, beta]))
    params = {"reduction": "mean", "beta": -1.0}
    f.error("smooth_l1_loss/error_negative_beta", "smooth_l1_loss", params, pair(3))
    for shape, reduction, delta in [([4, 3], "mean", 1.0), ([2, 3, 2], "sum", 0.5), ([6], "none", 2.5)]:
        f.case(f"huber_loss/{shape_name(shape)}_{reduction}_delta{delta:g}", "huber_loss",
               {"reduction": reduction, "delta": delta}, pair(*shape, kinks=[delta]))
    f.error("huber_loss/error_delta_zero", "huber_loss", {"reduction": "mean", "delta": 0.0}, pair(3))


def kl_div_cases(f):
    cases = [([4, 5], "batchmean", False), ([4, 5], "sum", False), ([3, 4], "mean", True),
             ([2, 3, 4], "none", False), ([3, 4], "batchmean", True)]
    for shape, reduction, log_target in cases:
        target = f.probabilities(*shape)
        inputs = {"input": torch.log(f.probabilities(*shape)),
                  "target": torch.log(target) if log_target else target}
        params = {"reduction": reduction, "log_target": log_target}
        name = f"kl_div/{shape_name(shape)}_{reduction}_log_target{int(log_target)}"
        f.case(name, "kl_div", params, inputs)
    inputs = {"input": torch.log(f.probabilities(2, 3)), "target": f.probabilities(2, 3)}
    f.error("kl_div/error_bad_reduction", "kl_div", {"reduction": "avg", "log_target": False}, inputs)


def class_targets(f, classes, shape, ignore=None):
    """Random class indices; with `ignore`, the first one is replaced by that index (ignored)."""
    target = f.randint(classes, *shape)
    if ignore is not None:
        target.view(-1)[0] = ignore
    return target


def nll_loss_cases(f):
    # name, input, target shape, reduction, ignore_index, weight?
    cases = [
        ("4x5_mean", [4, 5], [4], "mean", -100, False),
        ("4x5_mean_weight", [4, 5], [4], "mean", -100, True),
        ("4x5_sum_ignore_index2", [4, 5], [4], "sum", 2, False),
        ("kdim_2x3x2x2_mean_weight_ignore1", [2, 3, 2, 2], [2, 2, 2], "mean", 1, True),
        ("unbatched_5_scalar_target", [5], [], "sum", -100, True),
        ("3x4_none_ignore_index0", [3, 4], [3], "none", 0, True),
    ]
    for name, shape, target_shape, reduction, ignore_index, weight in cases:
        classes = shape[1] if len(shape) > 1 else shape[0]
        inputs = {
            "input": torch.log_softmax(f.randn(*shape), dim=1 if len(shape) > 1 else 0),
            "target": class_targets(f, classes, target_shape, None if ignore_index < 0 else ignore_index),
            "weight": f.uniform(classes, low=0.3, high=3.0) if weight else None,
        }
        f.case(f"nll_loss/{name}", "nll_loss", {"reduction": reduction, "ignore_index": ignore_index}, inputs)
    errors = [("target_out_of_range", [0, 3], None), ("weight_size", [0, 2], [2]),
              ("batch_mismatch", [0, 2, 1], None)]
    for name, target, weight in errors:
        inputs = {"input": torch.log_softmax(f.randn(2, 3), 1), "target": torch.tensor(target),
                  "weight": f.maybe(weight)}
        f.error(f"nll_loss/error_{name}", "nll_loss", {"reduction": "mean", "ignore_index": -100}, inputs)


def cross_entropy_params(reduction="mean", label_smoothing=0.0, ignore_index=-100):
    return {"reduction": reduction, "label_smoothing": label_smoothing, "ignore_index": ignore_index}


def cross_entropy_cases(f):
    P = cross_entropy_params
    # name, logits, target: class-index shape or "probs", weight?, params
    cases = [
        ("weight_mean", [4, 5], [4], True, P()),
        ("weight_ls0.1_ignore_index_mean", [5, 4], [5], True, P(label_smoothing=0.1)),
        ("ignore_index_is_class1_sum", [5, 3], [5], False, P("sum", ignore_index=1)),
        ("reduction_none_weight_ls0.2", [4, 3], [4], True, P("none", 0.2)),
        ("kdim_2x4x3_mean", [2, 4, 3], [2, 3], False, P()),
        ("kdim_2x3x2x2_weight_ignore0_ls0.1_mean", [2, 3, 2, 2], [2, 2, 2], True,
         P(label_smoothing=0.1, ignore_index=0)),
        ("unbatched_4_scalar_target", [4], [], True, P()),
        ("probs_mean", [4, 5], "probs", False, P()),
        ("probs_sum_weight", [3, 4], "probs", True, P("sum")),
        ("probs_none_ls0.2", [3, 4], "probs", False, P("none", 0.2)),
        ("probs_weight_ls0.1_mean_divides_by_N", [4, 3], "probs", True, P(label_smoothing=0.1)),
        ("probs_kdim_2x3x2x2_mean", [2, 3, 2, 2], "probs", False, P()),
    ]
    for name, shape, target, weight, params in cases:
        inputs = cross_entropy_inputs(f, shape, target, weight, params["ignore_index"])
        if name == "weight_ls0.1_ignore_index_mean":  # the default ignore_index, -100, in the targets
            inputs["target"][2] = -100
        f.case(f"cross_entropy/{name}", "cross_entropy", params, inputs)
    # name, logits, target, weight, params
    errors = [
        ("probs_with_ignore_index", f.randn(2, 3), f.probabilities(2, 3), None, P(ignore_index=1)),
        ("weight_size", f.randn(2, 3), torch.tensor([0, 2]), f.uniform(4), P()),
        ("kdim_target_shape", f.randn(2, 3, 4), f.randint(3, 2, 5), None, P()),
        ("target_out_of_range_not_ignored", f.randn(2, 3), torch.tensor([0, 3]), None,
         P("sum", ignore_index=5)),
    ]
    for name, input, target, weight, params in errors:
        inputs = {"input": input, "target": target, "weight": weight}
        f.error(f"cross_entropy/error_{name}", "cross_entropy", params, inputs)


def cross_entropy_inputs(f, shape, target, weight, ignore_index):
    class_dim = 1 if len(shape) > 1 else 0
    classes = shape[class_dim]
    if target == "probs":
        target = f.probabilities(*shape, dim=class_dim)
    else:
        target = class_targets(f, classes, target, None if ignore_index < 0 else ignore_index)
    weight = f.uniform(classes, low=0.3, high=3.0) if weight else None
    return {"input": f.randn(*shape), "target": target, "weight": weight}


@family("more_shapes", seed=2025080108)
def more_shapes_family(f):
    matmul_shapes(f)
    unbatched_layers(f)
    pooling_options(f)
    scalar_reductions(f)
    softmax_edges(f)
    batch_norm_momentum(f)


def matmul_shapes(f):
    for a, b in [([3], [3, 4]), ([3, 4], [4]), ([5], [5]), ([3], [2, 3, 4]), ([2, 3, 4], [4]),
                 ([2, 1, 3, 4], [5, 4, 2]), ([1, 3, 4], [2, 4, 5])]:
        f.case(f"matmul/{shape_name(a)}_{shape_name(b)}", "matmul", {}, {"a": f.randn(*a), "b": f.randn(*b)})
    errors = [("1d_1d_length", [3], [4]), ("batch_not_broadcastable", [2, 3, 4], [3, 4, 5]),
              ("0d_operand", [], [3])]
    for name, a, b in errors:
        f.error(f"matmul/error_{name}", "matmul", {}, {"a": f.randn(*a), "b": f.randn(*b)})


def unbatched_layers(f):
    f.case("linear/1d_input", "linear", {}, conv_inputs(f, [5], [3, 5], [3]))
    f.case("conv2d/unbatched_k3_pad1", "conv2d", conv_params(2, padding=1, padding_mode="zeros"),
           conv_inputs(f, [2, 5, 6], [3, 2, 3, 3], [3]))
    reflect = conv_params(2, stride=2, padding=[1, 2], padding_mode="reflect")
    f.case("conv2d/unbatched_reflect_stride2", "conv2d", reflect,
           conv_inputs(f, [2, 5, 6], [2, 2, 3, 3], None))


def max_pool_params(kernel, stride, padding=0, ceil_mode=False, dilation=1, return_indices=False):
    dilation = per_dim(dilation, 2)
    return pool_params(kernel, stride, padding, ceil_mode, dilation=dilation, return_indices=return_indices)


def avg_pool_params(kernel, stride, padding=0, ceil_mode=False, count_include_pad=True,
                    divisor_override=None):
    return pool_params(kernel, stride, padding, ceil_mode, count_include_pad=count_include_pad,
                       divisor_override=divisor_override)


def pooling_options(f):
    M, A = max_pool_params, avg_pool_params
    cases = [
        ("max_pool2d", "unbatched_k2_s2", [2, 5, 6], M(2, 2)),
        ("max_pool2d", "dilation2_k3_s1_pad1", [1, 2, 7, 7], M(3, 1, 1, dilation=2)),
        ("max_pool2d", "dilation1x2_k2_s2_ceil", [2, 1, 6, 7], M(2, 2, ceil_mode=True, dilation=[1, 2])),
        ("max_pool2d", "return_indices_k3_s2_pad1", [2, 2, 5, 6], M(3, 2, 1, return_indices=True)),
        ("max_pool2d", "return_indices_unbatched_dilation2", [2, 6, 6],
         M(2, 1, dilation=2, return_indices=True)),
        ("avg_pool2d", "unbatched_k2_s2", [3, 4, 5], A(2, 2)),
        ("avg_pool2d", "divisor_override2", [1, 2, 5, 5], A(3, 2, 1, divisor_override=2)),
        ("avg_pool2d", "divisor_override5_ceil_pad", [2, 1, 6, 5],
         A([3, 2], 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=5)),
    ]
    for op_name, name, shape, params in cases:
        f.case(f"{op_name}/{name}", op_name, params, {"input": f.randn(*shape)})
    f.error("avg_pool2d/error_divisor_override_zero", "avg_pool2d", A(2, 2, divisor_override=0),
            {"input": f.randn(1, 1, 4, 4)})
    f.error("max_pool2d/error_2d_input", "max_pool2d", M(2, 2), {"input": f.randn(4, 4)})


def scalar_reductions(f):
    for op_name in ["sum", "mean"]:
        for dims, keepdim in [([-1], False), ([0], True), ([], False)]:
            name = f"{op_name}/scalar_dims{dims_label(dims)}_keepdim{int(keepdim)}"
            f.case(name, op_name, reduction_params(dims, keepdim), {"input": f.randn()})
    f.error("sum/error_scalar_dim1", "sum", reduction_params([1], False), {"input": f.randn()})
    for start, end in [(0, -1), (-1, -1)]:
        name = f"flatten/scalar_{start}_{end}_gives_1d".replace("-", "m")
        f.case(name, "flatten", {"start_dim": start, "end_dim": end}, {"input": f.randn()})


def softmax_edges(f):
    for op_name in ["softmax", "log_softmax"]:
        for dim in [-1, 0]:
            name = f"{op_name}/scalar_dim{dims_label([dim])}"
            f.case(name, op_name, {"dim": dim}, {"input": f.randn()})
        f.case(f"{op_name}/empty_dim_3x0_dim1", op_name, {"dim": 1}, {"input": f.randn(3, 0)})
        f.case(f"{op_name}/empty_other_dim_0x4_dim1", op_name, {"dim": 1}, {"input": f.randn(0, 4)})


def batch_norm_momentum(f):
    """Any momentum is accepted: running = (1 - momentum) * running + momentum * batch."""
    for momentum in [1.5, -0.5, 0.0, 1.0]:
        params = batch_norm_params(True, momentum, 1e-5)
        inputs = batch_norm_inputs(f, [2, 3, 2, 3])
        f.case(f"batch_norm2d/train_momentum{momentum:g}", "batch_norm2d", params, inputs)


def rmsprop_params(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    return dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)


def adagrad_params(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    return dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value, eps=eps)


@family("optim_more", seed=2025080109)
def optim_more_family(f):
    R, A = rmsprop_params, adagrad_params
    cases = [
        ("rmsprop", "defaults_lr0.01", R(0.01), [3, 4]),
        ("rmsprop", "momentum0.9", R(0.01, momentum=0.9), [3, 4]),
        ("rmsprop", "centered", R(0.01, alpha=0.9, centered=True), [3, 4]),
        ("rmsprop", "centered_momentum0.5_wd0.1",
         R(0.02, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True), [3, 4]),
        ("rmsprop", "alpha0.5_eps1e-3", R(0.05, alpha=0.5, eps=1e-3), [3, 4]),
        ("rmsprop", "error_negative_lr", R(-0.01), [2]),
        ("rmsprop", "error_negative_alpha", R(0.01, alpha=-0.5), [2]),
        ("adagrad", "defaults_lr0.01", A(0.01), [2, 5]),
        ("adagrad", "lr_decay0.1", A(0.1, lr_decay=0.1), [2, 5]),
        ("adagrad", "wd0.05", A(0.05, weight_decay=0.05), [2, 5]),
        ("adagrad", "initial_accumulator0.5", A(0.1, initial_accumulator_value=0.5), [2, 5]),
        ("adagrad", "eps1e-3_lr_decay0.5_wd0.1",
         A(0.2, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-3), [2, 5]),
        ("adagrad", "error_negative_lr_decay", A(0.01, lr_decay=-0.1), [2]),
        ("adagrad", "error_negative_initial_accumulator", A(0.01, initial_accumulator_value=-1.0), [2]),
    ]
    for op_name, name, params, shape in cases:
        if name.startswith("error_"):
            f.error(f"{op_name}/{name}", op_name, params, optimizer_inputs(f, shape, 1))
        else:
            f.steps(f"{op_name}/{name}", op_name, params, optimizer_inputs(f, shape, 4))


def one_cycle(**kwargs):
    """OneCycleLR's kwargs: PyTorch's defaults, overridden."""
    defaults = dict(max_lr=0.1, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                    anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                    div_factor=25.0, final_div_factor=10000.0, three_phase=False)
    return {**defaults, **kwargs}


def plateau(**kwargs):
    """ReduceLROnPlateau's kwargs: PyTorch's defaults, overridden."""
    defaults = dict(mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                    cooldown=0, min_lr=0.0, eps=1e-8)
    return {**defaults, **kwargs}


def inner(name, **kwargs):
    """A scheduler inside SequentialLR."""
    return {"name": name, "kwargs": kwargs}


@family("schedulers", seed=2025080110)
def schedulers_family(f):
    def schedule(name, scheduler, kwargs, base_lr, steps, metrics=None):
        params = {"name": scheduler, "kwargs": kwargs, "base_lr": base_lr, "steps": steps}
        inputs = {} if metrics is None else {"metrics": torch.tensor(metrics)}
        record = f.error if name.startswith("error_") else f.steps
        record(f"lr_scheduler/{name}", "lr_scheduler", params, inputs)

    closed_form_schedules(schedule)
    one_cycle_schedules(schedule)
    plateau_schedules(schedule)
    sequential_schedules(schedule)
    schedule_errors(schedule)


def closed_form_schedules(schedule):
    schedule("StepLR_step3_gamma0.5", "StepLR", dict(step_size=3, gamma=0.5), 0.1, 10)
    schedule("MultiStepLR_repeated_milestone", "MultiStepLR",
             dict(milestones=[2, 5, 5, 8], gamma=0.3), 0.1, 10)
    schedule("ExponentialLR_gamma0.9", "ExponentialLR", dict(gamma=0.9), 0.05, 8)
    schedule("StepLR_step1_gamma0.9", "StepLR", dict(step_size=1, gamma=0.9), 0.2, 5)
    schedule("MultiStepLR_single_milestone", "MultiStepLR", dict(milestones=[3], gamma=0.5), 0.4, 6)
    schedule("ExponentialLR_gamma0.5", "ExponentialLR", dict(gamma=0.5), 1.0, 4)
    schedule("CosineAnnealingLR_Tmax5_eta_min_past_Tmax", "CosineAnnealingLR",
             dict(T_max=5, eta_min=0.001), 0.1, 14)
    schedule("CosineAnnealingLR_Tmax10", "CosineAnnealingLR", dict(T_max=10, eta_min=0.0), 0.5, 10)
    schedule("CosineAnnealingWarmRestarts_T0_3", "CosineAnnealingWarmRestarts",
             dict(T_0=3, T_mult=1, eta_min=0.0), 0.1, 10)
    schedule("CosineAnnealingWarmRestarts_T0_2_Tmult2", "CosineAnnealingWarmRestarts",
             dict(T_0=2, T_mult=2, eta_min=0.01), 0.2, 14)
    schedule("LinearLR_warmup", "LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=4), 0.1, 8)
    schedule("LinearLR_decay", "LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=5), 0.3, 7)


def one_cycle_schedules(schedule):
    schedule("OneCycleLR_cos", "OneCycleLR", one_cycle(total_steps=10), 0.01, 10)
    schedule("OneCycleLR_linear", "OneCycleLR",
             one_cycle(max_lr=0.5, total_steps=12, pct_start=0.25, anneal_strategy="linear"), 0.01, 11)
    schedule("OneCycleLR_three_phase_cos", "OneCycleLR",
             one_cycle(max_lr=0.2, total_steps=12, three_phase=True), 0.01, 12)
    schedule("OneCycleLR_three_phase_linear_no_momentum", "OneCycleLR",
             one_cycle(max_lr=1.0, total_steps=10, pct_start=0.4, anneal_strategy="linear",
                       cycle_momentum=False, div_factor=10.0, final_div_factor=100.0, three_phase=True),
             0.01, 9)
    schedule("OneCycleLR_epochs_steps_per_epoch", "OneCycleLR",
             one_cycle(max_lr=0.3, epochs=3, steps_per_epoch=4, base_momentum=0.8, max_momentum=0.9),
             0.01, 12)


def plateau_schedules(schedule):
    # the metrics decide every step; 0.8499 is better than 0.85 by more than the threshold
    schedule("ReduceLROnPlateau_min_rel", "ReduceLROnPlateau", plateau(factor=0.5, patience=2), 0.1, 12,
             [1.0, 0.9, 0.95, 0.9, 0.91, 0.85, 0.8499, 0.86, 0.87, 0.88, 0.7, 0.71])
    schedule("ReduceLROnPlateau_max_abs_cooldown_min_lr", "ReduceLROnPlateau",
             plateau(mode="max", factor=0.3, patience=1, threshold=0.1, threshold_mode="abs", cooldown=2,
                     min_lr=0.005), 0.1, 12,
             [0.5, 0.55, 0.65, 0.66, 0.7, 0.74, 0.7, 0.9, 0.91, 0.92, 0.93, 0.94])
    schedule("ReduceLROnPlateau_eps_blocks_small_update", "ReduceLROnPlateau",
             plateau(factor=0.5, patience=0, threshold=0.0, threshold_mode="abs", eps=0.02), 0.1, 6,
             [1.0, 1.5, 1.5, 1.5, 1.5, 1.5])


def sequential_schedules(schedule):
    warmup_then_cosine = [inner("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=3),
                          inner("CosineAnnealingLR", T_max=6, eta_min=0.0)]
    schedule("SequentialLR_linear_warmup_then_cosine", "SequentialLR",
             dict(schedulers=warmup_then_cosine, milestones=[3]), 0.1, 10)
    three = [inner("LinearLR", start_factor=0.5, end_factor=1.0, total_iters=2),
             inner("ExponentialLR", gamma=0.8),
             inner("StepLR", step_size=2, gamma=0.5)]
    schedule("SequentialLR_three_schedulers", "SequentialLR",
             dict(schedulers=three, milestones=[2, 5]), 0.2, 10)


def schedule_errors(schedule):
    schedule("error_LinearLR_start_factor0", "LinearLR",
             dict(start_factor=0.0, end_factor=1.0, total_iters=4), 0.1, 3)
    schedule("error_WarmRestarts_T0_0", "CosineAnnealingWarmRestarts",
             dict(T_0=0, T_mult=1, eta_min=0.0), 0.1, 3)
    schedule("error_OneCycleLR_steps_past_total", "OneCycleLR", one_cycle(total_steps=5), 0.01, 6)
    schedule("error_OneCycleLR_first_phase_zero_length", "OneCycleLR",
             one_cycle(total_steps=10, pct_start=0.1), 0.01, 3)
    schedule("error_ReduceLROnPlateau_factor1", "ReduceLROnPlateau", plateau(factor=1.0), 0.1, 2, [1.0, 2.0])
    two = [inner("ExponentialLR", gamma=0.9), inner("StepLR", step_size=2, gamma=0.5)]
    schedule("error_SequentialLR_milestones_count", "SequentialLR",
             dict(schedulers=two, milestones=[2, 4]), 0.1, 5)


@family("second_order", seed=2025080111)
def second_order_family(f):
    def case(name, op_name, params, **inputs):
        f.case(f"second_order/{name}", op_name, params, inputs, second_order=True)

    for op_name in ["tanh", "sigmoid", "exp", "silu"]:
        case(f"{op_name}_3x4", op_name, {}, input=f.randn(3, 4))
    case("softplus_beta2_threshold3", "softplus", {"beta": 2.0, "threshold": 3.0},
         input=away_from(f.randn(3, 4), 1.5))
    for approximate in ["none", "tanh"]:
        case(f"gelu_{approximate}", "gelu", {"approximate": approximate}, input=f.randn(2, 5, scale=1.5))
    case("elu_alpha1.3", "elu", {"alpha": 1.3}, input=away_from(f.randn(3, 4), 0.0))
    case("log", "log", {}, input=f.uniform(3, 4, low=0.3, high=3.0))
    case("pow_exponent3", "pow", {"exponent": 3.0}, input=f.randn(3, 4))
    case("pow_exponent_m1.5_positive_base", "pow", {"exponent": -1.5},
         input=f.uniform(2, 3, low=0.5, high=2.0))
    case("mul_broadcast", "mul", {}, a=f.randn(3, 4), b=f.randn(4))
    case("div_broadcast", "div", {}, a=f.randn(2, 3), b=f.nonzero(2, 1))
    case("matmul_batched", "matmul", {}, a=f.randn(2, 3, 4), b=f.randn(4, 2))
    case("linear_bias", "linear", {}, **conv_inputs(f, [3, 4], [2, 4], [2]))
    second_order_layers(case, f)
    second_order_piecewise(case, f)


def second_order_layers(case, f):
    case("conv2d_stride2_pad1", "conv2d", conv_params(2, stride=2, padding=1, padding_mode="zeros"),
         **conv_inputs(f, [1, 2, 5, 5], [3, 2, 3, 3], [3]))
    case("conv2d_dilation2_groups2_nobias", "conv2d",
         conv_params(2, padding=[2, 1], dilation=[2, 1], groups=2, padding_mode="zeros"),
         **conv_inputs(f, [2, 4, 5, 4], [2, 2, 3, 2], None))
    case("conv1d_stride2_pad1", "conv1d", conv_params(1, stride=2, padding=1, padding_mode="zeros"),
         **conv_inputs(f, [2, 2, 7], [3, 2, 3], [3]))
    case("avg_pool2d_k3_s2_pad1", "avg_pool2d", avg_pool_params(3, 2, 1, count_include_pad=False),
         input=f.randn(1, 2, 5, 5))
    case("layer_norm_affine", "layer_norm", {"normalized_shape": [4], "eps": 1e-5},
         **norm_inputs(f, [3, 4], [4], [4]))
    case("batch_norm2d_train", "batch_norm2d", batch_norm_params(True, 0.1, 1e-5),
         **batch_norm_inputs(f, [3, 2, 2, 2]))
    case("log_softmax_dim1", "log_softmax", {"dim": 1}, input=f.randn(3, 4))
    case("softmax_dim1", "softmax", {"dim": 1}, input=f.randn(3, 4))
    case("cross_entropy_mean_ls0.1", "cross_entropy", cross_entropy_params(label_smoothing=0.1),
         input=f.randn(4, 3), target=f.randint(3, 4), weight=None)
    case("mse_loss_mean", "mse_loss", {"reduction": "mean"}, input=f.randn(3, 4), target=f.randn(3, 4))
    case("sum_dims1", "sum", reduction_params([1], False), input=f.randn(3, 4))
    case("mean_all", "mean", reduction_params([], True), input=f.randn(2, 3))


def second_order_piecewise(case, f):
    """Piecewise ops: the second derivative is 0 almost everywhere; inputs avoid the kinks."""
    case("relu", "relu", {}, input=away_from(f.randn(3, 4), 0.0))
    case("leaky_relu_slope0.2", "leaky_relu", {"negative_slope": 0.2}, input=away_from(f.randn(3, 4), 0.0))
    case("max_pool2d_k2_s2", "max_pool2d", max_pool_params(2, 2), input=f.randn(1, 2, 4, 4))
    case("clamp_min_max", "clamp", {"min": -0.5, "max": 0.7}, input=away_from(f.randn(3, 4), -0.5, 0.7))
    case("abs", "abs", {}, input=away_from(f.randn(3, 4), 0.0))


# --------------------------------------------------------------------------------------------
# Generating and checking.
# --------------------------------------------------------------------------------------------


def generate(names, out_dir, verbose=False):
    """Write out_dir/NAME.json for each family; returns the number of cases of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in names:
        seed, build = FAMILIES[name]
        f = Family(seed, verbose)
        if verbose:
            print(f"{name}:")
        build(f)
        write_family(out_dir / f"{name}.json", seed, f.cases)
        counts[name] = len(f.cases)
        print(f"wrote {out_dir / name}.json ({len(f.cases)} cases)")
    return counts


# Replaying: recompute the cases of existing files (the shipped ones, say) from their inputs,
# stored grad_output and grads_direction, to show that the forwards above are the ones that
# made them.

REPLAY_TOLERANCE = 1e-12  # relative; the same torch on another CPU differs in the last bits
INTEGER_INPUTS = {"index", "condition"}  # what an empty tensor's data cannot tell


def from_json(value, key=""):
    if value is None:
        return None
    data = value["data"]
    integral = all(isinstance(x, int) for x in data) if data else key in INTEGER_INPUTS
    return torch.tensor(data, dtype=torch.int64 if integral else torch.float64).reshape(value["shape"])


def replay_case(case):
    """What differs between a stored case and the same case computed here."""
    op_name, params = case["op"], case["params"]
    if op_name not in OPS and op_name not in OPTIMIZERS and op_name != "lr_scheduler":
        return [f"op {op_name!r} is not in gen_golden.py"]
    inputs = {key: from_json(value, key) for key, value in case["inputs"].items()}
    if case.get("expect_error"):
        return [] if refusal(op_name, params, inputs) else ["PyTorch accepts the inputs"]

    def stored_grad_output(output):
        return from_json(case["grad_output"])

    def stored_direction(grad, key):
        return from_json(case["grads_direction"][key])

    if "grad_output" not in case:
        fields = steps_only(op_name, params, inputs)
    else:
        second_order = "grads_direction" in case
        direction = stored_direction if second_order else None
        fields = forward_backward(op_name, params, inputs, stored_grad_output, direction)
    stored = {key: value for key, value in case.items() if key not in ("name", "op", "params", "inputs")}
    return differences(jsonable(fields), stored)


def differences(mine, stored, where="case"):
    if isinstance(stored, dict) and set(stored) == {"shape", "data"}:
        if not isinstance(mine, dict) or mine.get("shape") != stored["shape"]:
            return [f"{where}: shape {mine and mine.get('shape')} instead of {stored['shape']}"]
        pairs = zip(mine["data"], stored["data"])
        worst = max((abs(a - b) / max(1.0, abs(b)) for a, b in pairs), default=0.0)
        return [f"{where}: off by {worst:.2g} (relative)"] if worst > REPLAY_TOLERANCE else []
    if isinstance(stored, dict):
        if not isinstance(mine, dict) or set(mine) != set(stored):
            return [f"{where}: fields {sorted(mine or {})} instead of {sorted(stored)}"]
        return [d for key in stored for d in differences(mine[key], stored[key], f"{where}.{key}")]
    return [] if mine == stored else [f"{where}: {mine!r} instead of {stored!r}"]


def replay(directory):
    """Recompute every case of every *.json in `directory`; True if all are reproduced."""
    reproduced = True
    for path in sorted(directory.glob("*.json")):
        cases = json.loads(path.read_text())["cases"]
        wrong = [(case["name"], diffs) for case in cases if (diffs := replay_case(case))]
        print(f"{path.name}: {len(cases) - len(wrong)} of {len(cases)} cases reproduced")
        for name, diffs in wrong:
            print(f"  {name}: {'; '.join(diffs)}")
        reproduced = reproduced and not wrong
    return reproduced


# Checking: ferrite's golden test on freshly generated files.

# the lines tests/golden.rs prints: "FILE CASE (OP, DTYPE): MESSAGE" and the pending counts
FAILURE = re.compile(
    r"^(?P<file>[\w.-]+\.json) (?P<case>\S+) \((?P<op>\S+), (?P<dtype>f32|f64)\): (?P<msg>.*)$"
)
PENDING = re.compile(r"^golden: pending \((?P<runs>\d+) runs\): (?P<file>[\w.-]+\.json): (?P<op>\S+)$")


def golden_test(extra_dir=None):
    """Run ferrite's golden test (tests/golden.rs); with extra_dir as FERRITE_GOLDEN_DIR."""
    env = dict(os.environ)
    env.pop("FERRITE_GOLDEN_DIR", None)
    if extra_dir is not None:
        env["FERRITE_GOLDEN_DIR"] = str(extra_dir)
    command = ["cargo", "test", "--release", "--test", "golden", "--"]
    command += ["golden_cases_match_pytorch", "--nocapture"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if "test result" not in result.stdout:  # it did not build
        sys.exit(f"cargo test did not run:\n{result.stderr[-3000:]}")
    return result


def check(names, out_dir=None, verbose=False):
    """Regenerate (into out_dir, or a temporary directory) and report, per family, how
    ferrite does on the files. The shipped cases must pass first, so that every failure
    belongs to a regenerated file."""
    if golden_test().returncode != 0:
        sys.exit("the shipped cases (tests/golden) fail already; fix those first")
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        directory = out_dir or Path(tmp)
        counts = generate(names, directory)
        result = golden_test(directory)
    failures, pending = {}, Counter()
    for line in (result.stdout + result.stderr).splitlines():
        if m := FAILURE.match(line.strip()):
            failures.setdefault(m["file"][: -len(".json")], []).append(m)
        elif m := PENDING.match(line.strip()):
            pending[m["file"][: -len(".json")]] += int(m["runs"])
    if result.returncode != 0 and not failures:
        sys.exit(f"the golden test failed without a case to blame:\n{result.stderr[-3000:]}")
    print(f"\n{'family':<18}{'cases':>6}{'runs passed':>13}{'failed':>8}{'unknown op':>12}{'pending':>9}")
    for name in names:
        print_family_result(name, counts[name], failures.get(name, []), pending[name], verbose)
    return all(not failures.get(name) for name in names)


def print_family_result(name, cases, failures, pending, verbose):
    runs = 2 * cases  # every case runs in f64 and f32
    unknown = [m for m in failures if m["msg"].startswith("unknown op")]
    passed = runs - len(failures) - pending
    print(f"{name:<18}{cases:>6}{passed:>8} / {runs:<3}{len(failures):>8}{len(unknown):>12}{pending:>9}")
    missing_ops = sorted({m["op"] for m in unknown})
    if missing_ops:
        print(f"{'':<18}ops ferrite does not know: {', '.join(missing_ops)}")
    wrong = [m for m in failures if m not in unknown]
    for m in wrong if verbose else wrong[:5]:
        print(f"{'':<18}{m['case']} ({m['dtype']}): {m['msg'][:150]}")
    if not verbose and len(wrong) > 5:
        print(f"{'':<18}... {len(wrong) - 5} more (--verbose lists all)")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="directory to write FAMILY.json files into")
    parser.add_argument("--only", nargs="+", metavar="FAMILY", choices=list(FAMILIES),
                        help="the families to write (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="write (into --out or a temporary directory) and run the golden test")
    parser.add_argument("--replay", type=Path, metavar="DIR",
                        help="recompute the cases of DIR/*.json here and report what differs")
    parser.add_argument("--list", action="store_true", help="list the families")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print why PyTorch refuses each error case; list every failure with --check")
    args = parser.parse_args()
    names = args.only or list(FAMILIES)
    warnings.simplefilter("ignore", UserWarning)  # e.g. kl_div's advice about reduction="mean"
    if args.list:
        print("\n".join(FAMILIES))
    elif args.replay:
        sys.exit(0 if replay(args.replay) else 1)
    elif args.check:
        sys.exit(0 if check(names, args.out, args.verbose) else 1)
    elif args.out:
        generate(names, args.out, args.verbose)
    else:
        parser.error("give --out DIR, --check, --replay DIR or --list")


if __name__ == "__main__":
    main()
