//! `gradgradcheck` for every differentiable op, one row per op and option variant, and a
//! guard that no op can be added without a row: the op names recorded in `src/ops/*.rs` are
//! read from the source and each must be produced by some row below.

use std::collections::BTreeSet;

use ferrite_autograd::{GradcheckOptions, Var, gradgradcheck};
use ferrite_tensor::{
    BatchNormOptions, Conv1dParams, Conv2dParams, ConvTranspose2dParams, CrossEntropyOptions,
    GeluApproximate, Indices, InterpolateMode, InterpolateOptions, KlDivReduction, NllLossOptions,
    PadMode, Padding1d, Pool2dParams, Reduction, Result, Tensor, Unpool2dParams, seeded_rng,
};

type Op = Box<dyn Fn(&[Var<f64>]) -> Result<Var<f64>>>;

/// One gradgradcheck: a label, the op under test and its inputs.
struct Row {
    label: &'static str,
    f: Op,
    inputs: Vec<Tensor<f64>>,
}

fn row(
    label: &'static str,
    inputs: Vec<Tensor<f64>>,
    f: impl Fn(&[Var<f64>]) -> Result<Var<f64>> + 'static,
) -> Row {
    Row {
        label,
        f: Box::new(f),
        inputs,
    }
}

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

/// Values in (0.5, ~3): away from the kinks and poles of log, sqrt, pow.
fn positive(shape: &[usize], seed: u64) -> Tensor<f64> {
    randn(shape, seed).abs().add_scalar(0.5)
}

/// Values in (0.05, 0.95): probabilities for binary_cross_entropy.
fn probabilities(shape: &[usize], seed: u64) -> Tensor<f64> {
    randn(shape, seed)
        .sigmoid()
        .mul_scalar(0.9)
        .add_scalar(0.05)
}

fn pointwise_rows() -> Vec<Row> {
    let x = || randn(&[2, 3], 1);
    let big = || randn(&[2, 3], 2).mul_scalar(3.0);
    vec![
        row("abs", vec![x()], |v| v[0].abs()),
        row("exp", vec![x()], |v| v[0].exp()),
        row("log", vec![positive(&[2, 3], 3)], |v| v[0].log()),
        row("sqrt", vec![positive(&[2, 3], 4)], |v| v[0].sqrt()),
        row("relu", vec![x()], |v| v[0].relu()),
        row("sigmoid", vec![x()], |v| v[0].sigmoid()),
        row("tanh", vec![x()], |v| v[0].tanh()),
        row("neg", vec![x()], |v| v[0].neg()),
        row("leaky_relu", vec![x()], |v| v[0].leaky_relu(0.2)),
        row("elu", vec![x()], |v| v[0].elu(1.3)),
        row("gelu none", vec![x()], |v| v[0].gelu(GeluApproximate::None)),
        row("gelu tanh", vec![x()], |v| v[0].gelu(GeluApproximate::Tanh)),
        row("silu", vec![x()], |v| v[0].silu()),
        row("softplus", vec![big()], |v| v[0].softplus(2.0, 3.0)),
        row("hardtanh", vec![big()], |v| v[0].hardtanh(-1.0, 1.5)),
        row("relu6", vec![big().mul_scalar(2.0)], |v| v[0].relu6()),
        row("hardswish", vec![big()], |v| v[0].hardswish()),
        row("hardsigmoid", vec![big()], |v| v[0].hardsigmoid()),
        row("pow", vec![x()], |v| v[0].pow(3.0)),
        row("pow negative exponent", vec![positive(&[2, 3], 5)], |v| {
            v[0].pow(-1.5)
        }),
        row("powf", vec![positive(&[2, 3], 6)], |v| v[0].powf(0.7)),
        row("clamp", vec![x()], |v| v[0].clamp(Some(-0.5), Some(0.7))),
        row("clamp min only", vec![x()], |v| {
            v[0].clamp(Some(-0.5), None)
        }),
        row("add_scalar", vec![x()], |v| v[0].add_scalar(2.0)),
        row("sub_scalar", vec![x()], |v| v[0].sub_scalar(2.0)),
        row("mul_scalar", vec![x()], |v| v[0].mul_scalar(-3.0)),
        row("div_scalar", vec![x()], |v| v[0].div_scalar(4.0)),
    ]
}

fn binary_rows() -> Vec<Row> {
    let a = || randn(&[3, 4], 10);
    let b = || randn(&[4], 11);
    let cond = randn(&[3, 1], 12).gt_scalar(0.0);
    vec![
        row("add broadcast", vec![a(), b()], |v| v[0].add(&v[1])),
        row("sub broadcast", vec![a(), b()], |v| v[0].sub(&v[1])),
        row("mul broadcast", vec![a(), b()], |v| v[0].mul(&v[1])),
        row("div broadcast", vec![a(), positive(&[4], 13)], |v| {
            v[0].div(&v[1])
        }),
        row("maximum", vec![a(), b()], |v| v[0].maximum(&v[1])),
        row("minimum", vec![a(), b()], |v| v[0].minimum(&v[1])),
        row("where", vec![a(), b()], move |v| {
            Var::where_cond(&cond, &v[0], &v[1])
        }),
        row("mul of an input by itself", vec![a()], |v| v[0].mul(&v[0])),
    ]
}

fn matmul_rows() -> Vec<Row> {
    vec![
        row(
            "matmul 2-D",
            vec![randn(&[2, 3], 20), randn(&[3, 4], 21)],
            |v| v[0].matmul(&v[1]),
        ),
        row(
            "matmul batched broadcast",
            vec![randn(&[2, 1, 2, 3], 22), randn(&[3, 3, 2], 23)],
            |v| v[0].matmul(&v[1]),
        ),
        row(
            "matmul 1-D · 1-D",
            vec![randn(&[3], 24), randn(&[3], 25)],
            |v| v[0].matmul(&v[1]),
        ),
        row(
            "matmul 1-D · 3-D",
            vec![randn(&[3], 26), randn(&[2, 3, 2], 27)],
            |v| v[0].matmul(&v[1]),
        ),
        row(
            "matmul 3-D · 1-D",
            vec![randn(&[2, 2, 3], 28), randn(&[3], 29)],
            |v| v[0].matmul(&v[1]),
        ),
        row(
            "linear",
            vec![randn(&[3, 4], 30), randn(&[2, 4], 31), randn(&[2], 32)],
            |v| v[0].linear(&v[1], Some(&v[2])),
        ),
        row(
            "linear 1-D, no bias",
            vec![randn(&[4], 33), randn(&[2, 4], 34)],
            |v| v[0].linear(&v[1], None),
        ),
        row(
            "linear 3-D",
            vec![randn(&[2, 2, 4], 35), randn(&[3, 4], 36), randn(&[3], 37)],
            |v| v[0].linear(&v[1], Some(&v[2])),
        ),
    ]
}

fn conv_rows() -> Vec<Row> {
    let p2 = Conv2dParams::default().with_stride(2).with_padding(1);
    let grouped = Conv2dParams::default()
        .with_dilation([2, 1])
        .with_padding([2, 1])
        .with_groups(2);
    let p1 = Conv1dParams::default().with_stride(2).with_padding(1);
    let same = Conv1dParams::default()
        .with_padding(Padding1d::Same)
        .with_dilation(2)
        .with_groups(2);
    let pt = ConvTranspose2dParams::default()
        .with_stride(2)
        .with_padding(1)
        .with_output_padding(1);
    let pt_grouped = ConvTranspose2dParams::default()
        .with_groups(2)
        .with_dilation([2, 1]);
    let q = Conv2dParams::default().with_padding(1);
    vec![
        row(
            "conv2d stride 2 pad 1",
            vec![
                randn(&[1, 2, 5, 5], 40),
                randn(&[2, 2, 3, 3], 41),
                randn(&[2], 42),
            ],
            move |v| v[0].conv2d(&v[1], Some(&v[2]), &p2),
        ),
        row(
            "conv2d dilated grouped unbatched",
            vec![randn(&[4, 4, 3], 43), randn(&[2, 2, 3, 2], 44)],
            move |v| v[0].conv2d(&v[1], None, &grouped),
        ),
        row(
            "conv1d stride 2 pad 1",
            vec![
                randn(&[2, 2, 5], 45),
                randn(&[3, 2, 3], 46),
                randn(&[3], 47),
            ],
            move |v| v[0].conv1d(&v[1], Some(&v[2]), &p1),
        ),
        row(
            "conv1d same dilated grouped unbatched",
            vec![randn(&[4, 6], 48), randn(&[2, 2, 2], 49)],
            move |v| v[0].conv1d(&v[1], None, &same),
        ),
        row(
            "conv_transpose2d stride 2 output_padding 1",
            vec![
                randn(&[1, 2, 2, 3], 50),
                randn(&[2, 2, 3, 3], 51),
                randn(&[2], 52),
            ],
            move |v| v[0].conv_transpose2d(&v[1], Some(&v[2]), &pt),
        ),
        row(
            "conv_transpose2d grouped dilated unbatched",
            vec![randn(&[4, 2, 2], 53), randn(&[4, 1, 2, 2], 54)],
            move |v| v[0].conv_transpose2d(&v[1], None, &pt_grouped),
        ),
        row(
            "conv2d_input_grad",
            vec![randn(&[1, 2, 3, 3], 55), randn(&[2, 1, 3, 3], 56)],
            move |v| Var::conv2d_input_grad(&v[0], &v[1], &[1, 1, 3, 3], &q),
        ),
        row(
            "conv2d_weight_grad",
            vec![randn(&[1, 2, 3, 3], 57), randn(&[1, 1, 3, 3], 58)],
            move |v| Var::conv2d_weight_grad(&v[0], &v[1], &[2, 1, 3, 3], &q),
        ),
    ]
}

fn pool_rows() -> Vec<Row> {
    let x = || randn(&[1, 2, 4, 5], 60);
    let nearest = InterpolateOptions::default().with_size([5, 7]);
    let bilinear = InterpolateOptions::default()
        .with_scale_factor([1.5, 2.0])
        .with_mode(InterpolateMode::Bilinear)
        .with_align_corners(false);
    let pooled = Var::new(x())
        .max_pool2d_with_indices(&Pool2dParams::new(2))
        .expect("pool");
    let (pooled, indices) = (pooled.0.value(), pooled.1);
    vec![
        row("max_pool2d", vec![x()], |v| {
            v[0].max_pool2d(&Pool2dParams::new(2).with_stride(2))
        }),
        row(
            "max_pool2d dilated, padded, unbatched",
            vec![randn(&[2, 5, 5], 61)],
            |v| {
                let p = Pool2dParams::new(2).with_dilation(2).with_padding(1);
                Ok(v[0].max_pool2d_with_indices(&p)?.0)
            },
        ),
        row("avg_pool2d", vec![x()], |v| {
            let p = Pool2dParams::new(3).with_stride(2).with_padding(1);
            v[0].avg_pool2d(&p.with_count_include_pad(false))
        }),
        row("avg_pool2d divisor_override ceil_mode", vec![x()], |v| {
            let p = Pool2dParams::new(2).with_ceil_mode(true);
            v[0].avg_pool2d(&p.with_divisor_override(-3))
        }),
        row("adaptive_avg_pool2d", vec![x()], |v| {
            v[0].adaptive_avg_pool2d([3, 2])
        }),
        row("adaptive_max_pool2d", vec![x()], |v| {
            v[0].adaptive_max_pool2d([Some(3), None])
        }),
        row("max_unpool2d", vec![pooled], move |v| {
            v[0].max_unpool2d(&indices, &Unpool2dParams::new(2).with_output_size([4, 5]))
        }),
        row("interpolate nearest", vec![x()], move |v| {
            v[0].interpolate(&nearest)
        }),
        row("interpolate bilinear", vec![x()], move |v| {
            v[0].interpolate(&bilinear)
        }),
        row("pad constant", vec![randn(&[2, 3], 62)], |v| {
            v[0].pad(&[1, 2, -1, 1], PadMode::Constant(0.5))
        }),
        row("pad reflect", vec![x()], |v| {
            v[0].pad(&[1, 2, 2, 1], PadMode::Reflect)
        }),
        row("pad replicate", vec![x()], |v| {
            v[0].pad(&[2, 0, 1, 1], PadMode::Replicate)
        }),
        row("pad circular", vec![x()], |v| {
            v[0].pad(&[1, 1, 2, 1], PadMode::Circular)
        }),
    ]
}

fn norm_rows() -> Vec<Row> {
    let train = BatchNormOptions::default().with_training(true);
    let eval = BatchNormOptions::default();
    let (rm, rv) = (randn(&[2], 70), positive(&[2], 71));
    vec![
        row(
            "batch_norm train [N,C,H,W]",
            vec![randn(&[3, 2, 2, 2], 72), randn(&[2], 73), randn(&[2], 74)],
            move |v| v[0].batch_norm(None, None, Some(&v[1]), Some(&v[2]), &train),
        ),
        row(
            "batch_norm train [N,C], running stats, no affine",
            vec![randn(&[4, 2], 75)],
            move |v| {
                let (m, s) = (Var::new(Tensor::zeros(&[2])), Var::new(Tensor::ones(&[2])));
                v[0].batch_norm(Some(&m), Some(&s), None, None, &train)
            },
        ),
        row(
            "batch_norm eval [N,C,L]",
            vec![randn(&[2, 2, 3], 76), randn(&[2], 77), randn(&[2], 78)],
            move |v| {
                let (m, s) = (Var::new(rm.clone()), Var::new(rv.clone()));
                v[0].batch_norm(Some(&m), Some(&s), Some(&v[1]), Some(&v[2]), &eval)
            },
        ),
        row(
            "layer_norm affine",
            vec![randn(&[3, 4], 79), randn(&[4], 80), randn(&[4], 81)],
            |v| v[0].layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-5),
        ),
        row(
            "layer_norm two dims, bias only",
            vec![randn(&[2, 2, 3], 82), randn(&[2, 3], 83)],
            |v| v[0].layer_norm(&[2, 3], None, Some(&v[1]), 1e-5),
        ),
        row(
            "group_norm",
            vec![randn(&[2, 4, 3], 84), randn(&[4], 85), randn(&[4], 86)],
            |v| v[0].group_norm(2, Some(&v[1]), Some(&v[2]), 1e-5),
        ),
        row(
            "group_norm no affine",
            vec![randn(&[2, 4, 2, 2], 87)],
            |v| v[0].group_norm(4, None, None, 1e-5),
        ),
    ]
}

fn reduce_rows() -> Vec<Row> {
    let x = || randn(&[3, 4], 90);
    vec![
        row("sum", vec![x()], |v| v[0].sum(&[1], false)),
        row("sum_all", vec![x()], |v| v[0].sum_all()),
        row("mean keepdim", vec![x()], |v| v[0].mean(&[], true)),
        row("amax", vec![x()], |v| v[0].amax(&[1], false)),
        row("amin all keepdim", vec![x()], |v| v[0].amin(&[], true)),
        row("max", vec![x()], |v| Ok(v[0].max(0, false)?.0)),
        row("min keepdim", vec![x()], |v| Ok(v[0].min(1, true)?.0)),
        row("logsumexp", vec![x()], |v| v[0].logsumexp(&[1], false)),
        row("logsumexp keepdim", vec![randn(&[2, 3, 2], 91)], |v| {
            v[0].logsumexp(&[0, 2], true)
        }),
        row("var", vec![x()], |v| v[0].var(&[1], 1.0, false)),
        row("var all, correction 0", vec![x()], |v| {
            v[0].var(&[], 0.0, true)
        }),
        row("std", vec![x()], |v| v[0].std(&[0], 1.0, false)),
        row("softmax", vec![x()], |v| v[0].softmax(1)),
        row("log_softmax", vec![x()], |v| v[0].log_softmax(0)),
        row("sum_to", vec![x()], |v| v[0].sum_to(&[1, 4])),
    ]
}

fn shape_rows() -> Vec<Row> {
    let x = || randn(&[2, 3], 100);
    let pick = Indices::from_vec(vec![1, 0, 1, 1, 0, 0], &[2, 3]).expect("indices");
    let select = Indices::from_vec(vec![2, 0, 2], &[3]).expect("indices");
    vec![
        row("reshape", vec![x()], |v| v[0].reshape(&[3, -1])),
        row("flatten", vec![randn(&[2, 2, 3], 101)], |v| {
            v[0].flatten(1, 2)
        }),
        row("permute", vec![randn(&[2, 2, 3], 102)], |v| {
            v[0].permute(&[2, 0, 1])
        }),
        row("transpose", vec![x()], |v| v[0].transpose(0, 1)),
        row("squeeze", vec![randn(&[2, 1, 3], 103)], |v| v[0].squeeze(1)),
        row("unsqueeze", vec![x()], |v| v[0].unsqueeze(0)),
        row("narrow", vec![x()], |v| v[0].narrow(1, 1, 2)),
        row("broadcast_to", vec![randn(&[3], 104)], |v| {
            v[0].broadcast_to(&[2, 3])
        }),
        row("cat", vec![x(), randn(&[1, 3], 105)], |v| {
            Var::cat(&[&v[0], &v[1]], 0)
        }),
        row("stack", vec![x(), randn(&[2, 3], 106)], |v| {
            Var::stack(&[&v[0], &v[1]], 1)
        }),
        row("gather", vec![x()], move |v| v[0].gather(0, &pick)),
        row("index_select repeated", vec![x()], move |v| {
            v[0].index_select(1, &select)
        }),
        row("dropout", vec![x()], |v| {
            v[0].dropout(0.5, &mut seeded_rng(7))
        }),
        row("dropout2d", vec![randn(&[2, 3, 2], 107)], |v| {
            v[0].dropout2d(0.5, &mut seeded_rng(8))
        }),
    ]
}

fn loss_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let classes = Indices::from_classes(&[1, 0, 3]);
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smoothing in [0.0, 0.2] {
            let o = CrossEntropyOptions::default()
                .with_reduction(reduction)
                .with_label_smoothing(smoothing)
                .with_weight(&positive(&[4], 110))
                .with_ignore_index(0);
            let t = classes.clone();
            rows.push(row(
                "cross_entropy classes",
                vec![randn(&[3, 4], 111)],
                move |v| v[0].cross_entropy(&t, &o),
            ));
        }
        let o = NllLossOptions::new()
            .with_reduction(reduction)
            .with_weight(&positive(&[4], 112));
        let t = classes.clone();
        rows.push(row("nll_loss", vec![randn(&[3, 4], 113)], move |v| {
            v[0].nll_loss(&t, o.clone())
        }));
        let pair = || vec![randn(&[2, 3], 114), randn(&[2, 3], 115)];
        rows.push(row("mse_loss", pair(), move |v| {
            v[0].mse_loss(&v[1], reduction)
        }));
        rows.push(row("l1_loss", pair(), move |v| {
            v[0].l1_loss(&v[1], reduction)
        }));
        rows.push(row("smooth_l1_loss", pair(), move |v| {
            v[0].smooth_l1_loss(&v[1], reduction, 0.8)
        }));
        rows.push(row("huber_loss", pair(), move |v| {
            v[0].huber_loss(&v[1], reduction, 0.7)
        }));
        let w = positive(&[3], 116);
        rows.push(row(
            "binary_cross_entropy",
            vec![probabilities(&[2, 3], 117), probabilities(&[2, 3], 118)],
            move |v| v[0].binary_cross_entropy(&v[1], Some(&w), reduction),
        ));
        let pw = positive(&[3], 119);
        rows.push(row(
            "binary_cross_entropy_with_logits",
            vec![randn(&[2, 3], 120), probabilities(&[2, 3], 121)],
            move |v| v[0].binary_cross_entropy_with_logits(&v[1], None, Some(&pw), reduction),
        ));
    }
    let probs = Var::new(randn(&[3, 4], 122))
        .softmax(1)
        .expect("softmax")
        .value();
    let o = CrossEntropyOptions::default().with_label_smoothing(0.1);
    rows.push(row(
        "cross_entropy probabilities",
        vec![randn(&[3, 4], 123)],
        move |v| v[0].cross_entropy(&probs, &o),
    ));
    let o = CrossEntropyOptions::default().with_reduction(Reduction::None);
    rows.push(row(
        "cross_entropy K-dim",
        vec![randn(&[2, 3, 2], 124)],
        move |v| {
            let t = Indices::from_vec(vec![0, 2, 1, 1], &[2, 2])?;
            v[0].cross_entropy(&t, &o)
        },
    ));
    for (reduction, log_target) in [
        (KlDivReduction::BatchMean, false),
        (KlDivReduction::Sum, true),
        (KlDivReduction::None, false),
    ] {
        let target = if log_target {
            randn(&[2, 3], 125)
        } else {
            probabilities(&[2, 3], 125)
        };
        rows.push(row("kl_div", vec![randn(&[2, 3], 126), target], move |v| {
            v[0].kl_div(&v[1], reduction, log_target)
        }));
    }
    rows
}

fn all_rows() -> Vec<Row> {
    [
        pointwise_rows(),
        binary_rows(),
        matmul_rows(),
        conv_rows(),
        pool_rows(),
        norm_rows(),
        reduce_rows(),
        shape_rows(),
        loss_rows(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_op_passes_gradgradcheck() {
    let mut failures = Vec::new();
    for r in all_rows() {
        if let Err(e) = gradgradcheck(&r.f, &r.inputs, &GradcheckOptions::default()) {
            failures.push(format!("{}: {e}", r.label));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The op names `src/ops/*.rs` records (string literals outside tests and comments that
/// name ops), minus the ops that are themselves gradients (`*_backward`, `identity`): those
/// are checked through the op they differentiate.
fn recorded_op_names() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ops");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/ops") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, literal) in line.split('"').enumerate() {
                let is_name = !literal.is_empty()
                    && literal.starts_with(|c: char| c.is_ascii_lowercase())
                    && (literal.chars())
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if i % 2 == 1 && is_name && !literal.ends_with("_backward") && literal != "identity"
                {
                    names.insert(literal.to_string());
                }
            }
        }
    }
    names
}

#[test]
fn every_recorded_op_has_a_gradgradcheck_row() {
    let mut covered = BTreeSet::new();
    for r in all_rows() {
        let params: Vec<Var<f64>> = r.inputs.iter().map(|t| Var::parameter(t.clone())).collect();
        let y = (r.f)(&params).unwrap_or_else(|e| panic!("{}: {e}", r.label));
        covered.insert(y.op().to_string());
    }
    // Ops made of others: `sum_all` records `sum`, `powf` records `pow`.
    let missing: Vec<String> = recorded_op_names()
        .into_iter()
        .filter(|name| !covered.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "ops recorded in src/ops without a gradgradcheck row in tests/gradgradcheck_all.rs: {missing:?}"
    );
}
